from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from mlops_api.deployments.models import DeploymentStatus
from mlops_api.runs.schemas import MODEL_NAME_PATTERN
from mlops_api.schemas import documented

PACKAGE_ARN_PATTERN = r"^arn:aws[a-z\-]*:sagemaker:[a-z0-9\-]*:[0-9]{12}:model-package/[\S]{1,2048}$"

_DOCS = documented(
    {
        "id": ("The deployment's id", 5),
        "deployment_id": ("The deployment that answered", 5),
        "model_name": ("The model package group (the runs' model_name)", "mistral-7b-rag-qa"),
        "model_package_arn": (
            "The model package (version) deployed",
            "arn:aws:sagemaker:eu-west-1:123456789012:model-package/mistral-7b-rag-qa/3",
        ),
        "version": ("The package version", 3),
        "run_id": ("The run that made the version; null when unknown", 42),
        "endpoint_name": (
            "The endpoint serving the model: one per model, updated in place",
            "mistral-7b-rag-qa",
        ),
        "endpoint_url": (
            "Where the local backend serves it; null for a SageMaker endpoint (called by name)",
            "http://127.0.0.1:8089",
        ),
        "variant": ("The endpoint's production variant", "AllTraffic"),
        "status": ("deploying, in_service, failed, rolled_back or retired", "in_service"),
        "reason": (
            "Why it was asked for, or why it failed or was rolled back",
            "roll back: v4 answers off-topic",
        ),
        "requested_by": (
            "Who asked: a key's name, a signed-in person or the release workflow",
            "release workflow",
        ),
        "origin": ("release (the release workflow after an approval) or api (POST /deployments)", "release"),
        "created_at": ("When it was requested (RFC 3339)", "2026-12-07T04:00:00Z"),
        "updated_at": ("When its status last changed (RFC 3339)", "2026-12-07T04:09:30Z"),
        "finished_at": ("When it stopped serving or failed (RFC 3339); null while it serves", None),
        "serving": ("The deployment in service, if any", None),
        "items": ("Newest first", []),
        "question": ("A question for the model", "How do I rotate the database password?"),
        "contexts": ("Retrieved passages the answer should rest on", ["Rotate it with make rotate-db..."]),
        "max_new_tokens": ("The longest answer, in tokens", 64),
        "answer": ("The model's answer", "Run make rotate-db; the API picks the new password up."),
        "latency_ms": ("Measured by the API around the call to the endpoint", 412.5),
        "deployment": ("The deployment's record", {"id": 5, "model_name": "mistral-7b-rag-qa", "version": 3}),
        "smoke_questions": (
            "The smoke test's questions: the first of the run's evaluation samples",
            [{"question": "How do I rotate the database password?", "contexts": []}],
        ),
    }
)


class DeploymentIn(BaseModel):
    """Deploy a version of a model's package group: the newest approved one unless `version` says."""

    model_config = ConfigDict(extra="forbid", protected_namespaces=(), json_schema_extra=_DOCS)

    model_name: str = Field(pattern=MODEL_NAME_PATTERN, max_length=63, description="The package group")
    version: int | None = Field(
        default=None, ge=1, description="The package version; an earlier one rolls the model back"
    )
    reason: str | None = Field(default=None, max_length=1000)


class ReleaseDeploymentIn(BaseModel):
    """The deployer registers the deployment the release workflow asked it for (idempotent per package)."""

    model_config = ConfigDict(extra="forbid", protected_namespaces=(), json_schema_extra=_DOCS)

    model_name: str = Field(pattern=MODEL_NAME_PATTERN, max_length=63)
    model_package_arn: str = Field(pattern=PACKAGE_ARN_PATTERN, max_length=2048)
    version: int = Field(ge=1)
    run_id: int | None = Field(default=None, ge=1)
    requested_by: str = Field(default="release workflow", min_length=1, max_length=128)


class DeploymentStatusIn(BaseModel):
    """The deployer's report: where the deployment stands."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=_DOCS)

    status: Literal["in_service", "failed", "rolled_back"]
    endpoint_url: str | None = Field(default=None, max_length=2048)
    variant: str | None = Field(default=None, max_length=63)
    reason: str | None = Field(default=None, max_length=4000)


class DeploymentOut(BaseModel):
    model_config = ConfigDict(from_attributes=True, protected_namespaces=(), json_schema_extra=_DOCS)

    id: int
    model_name: str
    model_package_arn: str
    version: int
    run_id: int | None
    endpoint_name: str
    endpoint_url: str | None
    variant: str | None
    status: DeploymentStatus
    reason: str | None
    requested_by: str
    origin: Literal["release", "api"]
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None


class DeploymentList(BaseModel):
    model_config = ConfigDict(protected_namespaces=(), json_schema_extra=_DOCS)

    model_name: str
    serving: DeploymentOut | None = Field(description="The deployment in service, if any")
    items: list[DeploymentOut] = Field(description="Newest first")


class InvokeIn(BaseModel):
    """One question for the served model ("try it")."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=_DOCS)

    question: str = Field(min_length=1, max_length=4000)
    contexts: list[str] = Field(default_factory=list, max_length=16)
    max_new_tokens: int = Field(default=64, ge=1, le=512)


class InvokeOut(BaseModel):
    model_config = ConfigDict(json_schema_extra=_DOCS)

    deployment_id: int
    endpoint_name: str
    answer: str
    latency_ms: float = Field(description="Measured by the API around the call to the endpoint")


class SmokeQuestion(BaseModel):
    model_config = ConfigDict(json_schema_extra=_DOCS)

    question: str
    contexts: list[str]


class DeployerTaskOut(BaseModel):
    """What the deployer needs of a deployment: its record and the smoke test's questions (the
    first of the run's evaluation samples; empty when the run has none)."""

    model_config = ConfigDict(json_schema_extra=_DOCS)

    deployment: DeploymentOut
    smoke_questions: list[SmokeQuestion]
