"""The messages the approval worker reads and writes.

- ApprovalRequest: the body WaitForHumanApproval puts on the approval queue (the ASL's contract).
- Notification: a message of the SNS topic `mlops-notifications`, published by the workflow
  (auto_rejected, approved, rejected, failed) and by this worker (approval_requested). The kind is
  also the message attribute `kind` (subscriptions filter on it). Fields the workflow may leave out
  are optional: a card is still posted.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class Kind(StrEnum):
    APPROVAL_REQUESTED = "approval_requested"
    AUTO_REJECTED = "auto_rejected"
    APPROVED = "approved"
    REJECTED = "rejected"
    FAILED = "failed"


class ApprovalRequest(BaseModel):
    model_config = ConfigDict(extra="ignore", protected_namespaces=())

    task_token: str = Field(min_length=1)
    run_id: int = Field(ge=1)
    model_name: str
    model_id: str | None = None
    ml_score: float
    scores: dict[str, float | None] = Field(default_factory=dict)
    ml_score_threshold: float | None = None
    model_package_arn: str | None = None
    timeout_seconds: int = Field(default=72 * 3600, ge=1)
    execution_arn: str | None = None

    def registration(self) -> dict[str, Any]:
        """The body of POST /runs/{id}/approvals."""
        return self.model_dump(
            include={
                "task_token",
                "execution_arn",
                "model_package_arn",
                "ml_score",
                "scores",
                "ml_score_threshold",
                "timeout_seconds",
            }
        )


class Notification(BaseModel):
    model_config = ConfigDict(extra="allow", protected_namespaces=())

    kind: str = "unknown"
    run_id: int | str | None = None
    model_name: str | None = None
    model_id: str | None = None
    model_package_arn: str | None = None
    execution_arn: str | None = None
    ml_score: float | None = None
    scores: dict[str, float | None] = Field(default_factory=dict)
    ml_score_threshold: float | None = None
    approver: str | None = None
    comment: str | None = None
    approval: dict[str, Any] | None = Field(
        default=None, description="The workflow's decision {approved, approver, comment}, when it has one"
    )
    reason: str | None = None
    error: str | None = None
    cause: str | None = None
    approve_url: str | None = None
    reject_url: str | None = None
    expires_at: datetime | None = None

    def decided_by(self) -> str | None:
        value = self.approver or (self.approval or {}).get("approver")
        return str(value) if value else None

    def decision_comment(self) -> str | None:
        value = self.comment or (self.approval or {}).get("comment")
        return str(value) if value else None
