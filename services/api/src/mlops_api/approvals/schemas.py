from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, computed_field, model_validator

from mlops_api.approvals.models import ApprovalStatus, AuditAction, Via
from mlops_api.schemas import ErrorResponse, Text, documented, error_responses

DEFAULT_TIMEOUT_SECONDS = 72 * 3600
MAX_TIMEOUT_SECONDS = 365 * 24 * 3600  # Step Functions' own limit for a task


def _scores_are_numbers(value: dict[str, float | None]) -> dict[str, float | None]:
    for name, score in value.items():
        if score is not None and not math.isfinite(score):
            raise ValueError(f"score '{name}' must be a finite number or null")
    return value


ScoreName = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z_][\w.-]*$")]
Scores = Annotated[dict[ScoreName, float | None], AfterValidator(_scores_are_numbers)]


_DOCS = documented(
    {
        "id": ("The record's id", 7),
        "run_id": ("The run the decision is about", 42),
        "approval_id": ("The approval the entry belongs to", 7),
        "task_token": ("The workflow's task token", "AQCEAAAAKgAAAAMAAAAA...wait-for-human-approval"),
        "execution_arn": (
            "The release workflow's execution waiting for the decision",
            "arn:aws:states:eu-west-1:123456789012:execution:mlops-release:run-42",
        ),
        "model_package_arn": (
            "The model package the decision approves or rejects",
            "arn:aws:sagemaker:eu-west-1:123456789012:model-package/mistral-7b-rag-qa/3",
        ),
        "ml_score": ("The candidate's MLScore (0 to 1)", 0.82),
        "scores": (
            "The evaluation's score per metric (null where the judge gave none)",
            {"faithfulness": 0.86, "answer_relevancy": 0.79},
        ),
        "ml_score_threshold": ("The MLScore a candidate needs (0 to 1)", 0.7),
        "timeout_seconds": ("How long the workflow waits before the request expires (a rejection)", 259200),
        "requested_at": ("When the approval was requested (RFC 3339)", "2026-12-07T04:00:00Z"),
        "expires_at": ("When the request expires unanswered (RFC 3339)", "2026-12-10T04:00:00Z"),
        "requested_by": ("Who asked: the approval worker's key", "approval-worker"),
        "decided_at": ("When it was decided (RFC 3339); null while pending", "2026-12-07T05:12:00Z"),
        "decided_by": ("Who decided: a key's name or a signed-in person's e-mail", "jane@example.com"),
        "decision_via": ("How the decision arrived: link, api, dashboard or timeout", "link"),
        "comment": ("The approver's comment", "Faithfulness up 4 points, ship it"),
        "status": ("pending, approved, rejected, expired or closed", "pending"),
        "approval": ("The registered approval", {"id": 7, "run_id": 42, "status": "pending"}),
        "created": ("False when this task token was already registered", True),
        "approve_url": (
            "The signed approval link (for the notification only)",
            "https://mlops.example.com/runs/42/approval-links/eyJkZWNpc2lvbiI6ImFwcHJvdmUi...",
        ),
        "reject_url": (
            "The signed rejection link (for the notification only)",
            "https://mlops.example.com/runs/42/approval-links/eyJkZWNpc2lvbiI6InJlamVjdCIs...",
        ),
        "action": ("What happened: requested, approved, rejected, timed_out or closed", "approved"),
        "actor": ("Who: a key's name, a signed-in person's e-mail, or 'timeout'", "jane@example.com"),
        "via": ("How it arrived: link, api, dashboard, timeout or workflow", "api"),
        "details": ("Anything else recorded with the entry", {"model_package_arn": "arn:aws:sagemaker:..."}),
        "occurred_at": ("When it happened (RFC 3339)", "2026-12-07T05:12:00Z"),
    }
)


class ApprovalRequestIn(BaseModel):
    """What the approval worker registers: the workflow's WaitForHumanApproval message (service role)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=_DOCS)

    task_token: Text = Field(min_length=1, max_length=2048, description="Stored server-side, never returned")
    execution_arn: Text | None = Field(default=None, max_length=2048)
    model_package_arn: Text | None = Field(default=None, max_length=2048)
    ml_score: float = Field(ge=0, le=1, allow_inf_nan=False)
    scores: Scores = Field(default_factory=dict, max_length=64)
    ml_score_threshold: float | None = Field(
        default=None, ge=0, le=1, allow_inf_nan=False, description="Defaults to the run's threshold"
    )
    timeout_seconds: int = Field(default=DEFAULT_TIMEOUT_SECONDS, ge=1, le=MAX_TIMEOUT_SECONDS)


class ApprovalOut(BaseModel):
    model_config = ConfigDict(from_attributes=True, json_schema_extra=_DOCS)

    id: int
    run_id: int
    stored_status: ApprovalStatus = Field(exclude=True, validation_alias="status")
    execution_arn: str | None
    model_package_arn: str | None
    ml_score: float
    scores: dict[str, Any]
    ml_score_threshold: float
    timeout_seconds: int
    requested_at: datetime
    expires_at: datetime
    requested_by: str
    decided_at: datetime | None
    decided_by: str | None
    decision_via: Via | None
    comment: str | None

    @computed_field  # type: ignore[prop-decorator]
    @property
    def status(self) -> ApprovalStatus:
        """`expired` as soon as the timeout passed, even before the workflow reports it."""
        if self.stored_status is ApprovalStatus.PENDING and datetime.now(UTC) >= self.expires_at:
            return ApprovalStatus.EXPIRED
        return self.stored_status


class ApprovalRegistered(BaseModel):
    """The registration's answer, for the notification only: the links are capabilities and no
    other response carries them."""

    model_config = ConfigDict(json_schema_extra=_DOCS)

    approval: ApprovalOut
    created: bool = Field(description="False when this task token was already registered")
    approve_url: str
    reject_url: str
    expires_at: datetime


VIA_IS_THE_SERVERS = (
    "`via` is not accepted: the server records how a decision arrived from the route used "
    "('api' for POST /runs/{id}/approve|reject, 'link' for an approval link)"
)


class DecisionIn(BaseModel):
    """A decision through the API. How it arrived (`via`) is the server's to record, never the
    caller's: a body naming it is refused with a clear message (not taken, not ignored)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=_DOCS)

    @model_validator(mode="before")
    @classmethod
    def _no_via(cls, data: Any) -> Any:
        if isinstance(data, dict) and "via" in data:
            raise ValueError(VIA_IS_THE_SERVERS)
        return data


class ApproveIn(DecisionIn):
    comment: Text | None = Field(default=None, max_length=4000)


def _not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("a rejection needs a comment saying why")
    return value


class RejectIn(DecisionIn):
    comment: Annotated[Text, AfterValidator(_not_blank)] = Field(
        min_length=1, max_length=4000, description="Why the model is rejected (required)"
    )


class AuditEntryOut(BaseModel):
    model_config = ConfigDict(from_attributes=True, json_schema_extra=_DOCS)

    id: int
    run_id: int
    approval_id: int
    action: AuditAction
    actor: str = Field(
        description="Who: the API key's name, the signed-in person's e-mail (else subject), or 'timeout'"
    )
    via: Via
    comment: str | None
    ml_score: float = Field(description="The MLScore the decision was taken on")
    ml_score_threshold: float
    details: dict[str, Any]
    occurred_at: datetime


GONE: dict[int | str, dict[str, Any]] = {
    410: {"model": ErrorResponse, "description": "The approval timed out or the link was used"}
}


def api_errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    responses = error_responses(*(c for c in codes if c != 410))
    if 410 in codes:
        responses.update(GONE)
    return responses


HTML = {"text/html": {"schema": {"type": "string"}}}


def html_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """The link pages answer people in a browser: errors are HTML pages too (except FastAPI's
    own validation errors)."""
    descriptions = {
        400: "The form is incomplete (the page again, with the problem)",
        401: "No valid signed-in identity (sign in at the load balancer; nothing was decided)",
        403: "The link is not one this platform signed (forged or altered), or the person is not an approver",
        410: "The link expired or was already used, or the approval is over",
        503: "Links cannot be checked now (signing key or Step Functions unavailable)",
    }
    responses: dict[int | str, dict[str, Any]] = {
        code: {"description": descriptions[code], "content": HTML} for code in codes
    }
    # FastAPI's own validation errors stay JSON (the route's HTML class would relabel a model's)
    responses[422] = {
        "description": "Validation error",
        "content": {
            "application/json": {
                "schema": {"type": "object", "properties": {"detail": {}}, "required": ["detail"]}
            }
        },
    }
    return responses
