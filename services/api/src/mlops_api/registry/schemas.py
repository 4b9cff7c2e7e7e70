from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

ApprovalStatus = Literal["Approved", "Rejected", "PendingManualApproval"]


class ModelGroupOut(BaseModel):
    name: str = Field(description="The package group: the runs' model_name")
    arn: str
    description: str | None
    created_at: datetime | None
    versions: int = Field(description="How many model packages (versions) the group holds")
    latest_version: int | None
    latest_approval_status: str | None
    approved_versions: int


class ModelGroupList(BaseModel):
    items: list[ModelGroupOut]


class ModelVersionOut(BaseModel):
    version: int
    arn: str
    approval_status: str | None = Field(description="Approved, Rejected or PendingManualApproval")
    package_status: str | None
    description: str | None
    approval_description: str | None
    created_at: datetime | None
    metadata: dict[str, str] = Field(
        description="The version's CustomerMetadataProperties: run_id, lifecycle, ml_score_threshold, and the "
        "verdict (deployment_status go_prod or rejected, validation, ml_score, approver). Versions take no tags."
    )
    run_id: int | None = Field(description="From the package's `run_id` metadata property")
    run_status: str | None
    ml_score: float | None
    ml_score_source: Literal["registry", "run"] | None = Field(
        description="registry: the package's `ml_score` metadata property; run: the run's evaluation result"
    )


class ModelVersionList(BaseModel):
    name: str
    description: str | None
    items: list[ModelVersionOut] = Field(description="Oldest version first")
