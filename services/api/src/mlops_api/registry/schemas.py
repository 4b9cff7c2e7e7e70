from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from mlops_api.schemas import documented

ApprovalStatus = Literal["Approved", "Rejected", "PendingManualApproval"]

_DOCS = documented(
    {
        "name": ("The model package group: the runs' model_name", "mistral-7b-rag-qa"),
        "arn": (
            "Its ARN in the SageMaker Model Registry",
            "arn:aws:sagemaker:eu-west-1:123456789012:model-package-group/mistral-7b-rag-qa",
        ),
        "description": ("The registry's description", "RAG QA fine-tunes of Mistral 7B"),
        "created_at": ("When the registry created it (RFC 3339)", "2026-12-07T04:00:00Z"),
        "versions": ("How many model packages (versions) the group holds", 3),
        "latest_version": ("The newest version's number", 3),
        "latest_approval_status": ("The newest version's approval status", "PendingManualApproval"),
        "approved_versions": ("How many versions are approved", 1),
        "items": ("The entries", []),
        "version": ("The version's number in its group", 3),
        "approval_status": ("Approved, Rejected or PendingManualApproval", "Approved"),
        "package_status": ("SageMaker's ModelPackageStatus", "Completed"),
        "approval_description": (
            "Why it was approved or rejected, and by whom",
            "approved by jane@example.com",
        ),
        "metadata": (
            "The version's CustomerMetadataProperties",
            {"run_id": "42", "deployment_status": "go_prod"},
        ),
        "run_id": ("The run that made the version", 42),
        "run_status": ("That run's status", "approved"),
        "ml_score": ("The version's MLScore", 0.82),
        "ml_score_source": (
            "registry (the package's metadata) or run (the run's evaluation result)",
            "registry",
        ),
    }
)


class ModelGroupOut(BaseModel):
    model_config = ConfigDict(json_schema_extra=_DOCS)

    name: str = Field(description="The package group: the runs' model_name")
    arn: str
    description: str | None
    created_at: datetime | None
    versions: int = Field(description="How many model packages (versions) the group holds")
    latest_version: int | None
    latest_approval_status: str | None
    approved_versions: int


class ModelGroupList(BaseModel):
    model_config = ConfigDict(json_schema_extra=_DOCS)

    items: list[ModelGroupOut]


class ModelVersionOut(BaseModel):
    model_config = ConfigDict(json_schema_extra=_DOCS)

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
    model_config = ConfigDict(json_schema_extra=_DOCS)

    name: str
    description: str | None
    items: list[ModelVersionOut] = Field(description="Oldest version first")
