from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from mlops_api.deployments.models import DeploymentStatus
from mlops_api.runs.schemas import MODEL_NAME_PATTERN

PACKAGE_ARN_PATTERN = r"^arn:aws[a-z\-]*:sagemaker:[a-z0-9\-]*:[0-9]{12}:model-package/[\S]{1,2048}$"


class DeploymentIn(BaseModel):
    """Deploy a version of a model's package group: the newest approved one unless `version` says."""

    model_config = ConfigDict(extra="forbid", protected_namespaces=())

    model_name: str = Field(pattern=MODEL_NAME_PATTERN, max_length=63, description="The package group")
    version: int | None = Field(
        default=None, ge=1, description="The package version; an earlier one rolls the model back"
    )
    reason: str | None = Field(default=None, max_length=1000)


class ReleaseDeploymentIn(BaseModel):
    """The deployer registers the deployment the release workflow asked it for (idempotent per package)."""

    model_config = ConfigDict(extra="forbid", protected_namespaces=())

    model_name: str = Field(pattern=MODEL_NAME_PATTERN, max_length=63)
    model_package_arn: str = Field(pattern=PACKAGE_ARN_PATTERN, max_length=2048)
    version: int = Field(ge=1)
    run_id: int | None = Field(default=None, ge=1)
    requested_by: str = Field(default="release workflow", min_length=1, max_length=128)


class DeploymentStatusIn(BaseModel):
    """The deployer's report: where the deployment stands."""

    model_config = ConfigDict(extra="forbid")

    status: Literal["in_service", "failed", "rolled_back"]
    endpoint_url: str | None = Field(default=None, max_length=2048)
    variant: str | None = Field(default=None, max_length=63)
    reason: str | None = Field(default=None, max_length=4000)


class DeploymentOut(BaseModel):
    model_config = ConfigDict(from_attributes=True, protected_namespaces=())

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
    model_name: str
    serving: DeploymentOut | None = Field(description="The deployment in service, if any")
    items: list[DeploymentOut] = Field(description="Newest first")


class InvokeIn(BaseModel):
    """One question for the served model ("try it")."""

    model_config = ConfigDict(extra="forbid")

    question: str = Field(min_length=1, max_length=4000)
    contexts: list[str] = Field(default_factory=list, max_length=16)
    max_new_tokens: int = Field(default=64, ge=1, le=512)


class InvokeOut(BaseModel):
    deployment_id: int
    endpoint_name: str
    answer: str
    latency_ms: float = Field(description="Measured by the API around the call to the endpoint")


class SmokeQuestion(BaseModel):
    question: str
    contexts: list[str]


class DeployerTaskOut(BaseModel):
    """What the deployer needs of a deployment: its record and the smoke test's questions (the
    first of the run's evaluation samples; empty when the run has none)."""

    deployment: DeploymentOut
    smoke_questions: list[SmokeQuestion]
