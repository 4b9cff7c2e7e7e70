"""Typed models of the API's requests and answers, as a client sees them.

Answers are parsed leniently (`extra="allow"`): a newer API that adds a field does not break an
older SDK. Requests are strict (`extra="forbid"`), as the API is: a typo fails here, before a
round trip.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from mlops_contracts.status import RunStatus, TaskType

__all__ = [
    "Approval",
    "Dataset",
    "DatasetKind",
    "Deployment",
    "DeploymentList",
    "DeploymentStatus",
    "EvalOnlyLaunch",
    "FinetuneLaunch",
    "Hyperparameters",
    "Invocation",
    "LaunchRequest",
    "LineError",
    "ModelGroup",
    "Run",
    "RunDetail",
    "RunEvent",
    "RunResult",
    "RunStatus",
    "TaskType",
]

from mlops_contracts.api_client import LineError


class _Answer(BaseModel):
    model_config = ConfigDict(extra="allow", protected_namespaces=())


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid", protected_namespaces=())


class DatasetKind(StrEnum):
    TRAIN = "train"
    EVAL = "eval"


class Hyperparameters(_Request):
    """LoRA fine-tuning settings; what is left out takes the API's default."""

    epochs: int | None = None
    batch_size: int | None = None
    gradient_accumulation_steps: int | None = None
    learning_rate: float | None = None
    lora_r: int | None = None
    lora_alpha: int | None = None
    lora_dropout: float | None = None
    max_seq_length: int | None = None
    warmup_ratio: float | None = None
    seed: int | None = None
    max_runtime_seconds: int | None = None


class _Launch(_Request):
    model_name: str = Field(description="The registry's model package group: letters, digits, hyphens")
    model_id: str = Field(description="Base model: a hub id, an s3:// URI or an absolute local path")
    experiment_name: str
    eval_dataset_id: int
    hyperparameters: Hyperparameters = Field(default_factory=Hyperparameters)
    ml_score_threshold: float | None = None

    def body(self) -> dict[str, Any]:
        """The POST /runs body: unset optional fields left to the API's defaults."""
        return self.model_dump(mode="json", exclude_none=True)


class FinetuneLaunch(_Launch):
    task_type: Literal["finetune"] = "finetune"
    train_dataset_id: int


class EvalOnlyLaunch(_Launch):
    task_type: Literal["eval_only"] = "eval_only"


LaunchRequest = Annotated[FinetuneLaunch | EvalOnlyLaunch, Field(discriminator="task_type")]


class Run(_Answer):
    id: int
    model_name: str
    model_id: str
    task_type: TaskType
    experiment_name: str
    status: RunStatus
    train_dataset_id: int | None
    eval_dataset_id: int
    hyperparameters: dict[str, Any]
    ml_score_threshold: float
    execution_arn: str | None = None
    status_reason: str | None = None
    created_by: str
    created_at: datetime
    updated_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None
    # the evaluation's MLScore and verdict (GET /runs' items; RunDetail takes them from its results)
    ml_score: float | None = None
    passed: bool | None = None


class RunEvent(_Answer):
    id: int
    event_type: str
    status: RunStatus | None = None
    previous_status: RunStatus | None = None
    reason: str | None = None
    source: str
    data: dict[str, Any] = Field(default_factory=dict)
    occurred_at: datetime


class RunResult(_Answer):
    stage: str
    metrics: dict[str, Any]
    ml_score: float | None = None
    passed: bool | None = None


class RunDetail(Run):
    timeline: list[RunEvent] = Field(default_factory=list)
    results: list[RunResult] = Field(default_factory=list)

    @model_validator(mode="after")
    def _evaluation_outcome(self) -> RunDetail:
        """`ml_score` and `passed` from the evaluation's result, as GET /runs' items carry them."""
        evaluation = next((r for r in self.results if r.stage == "evaluation"), None)
        if evaluation is not None:
            self.ml_score, self.passed = evaluation.ml_score, evaluation.passed
        return self


class Dataset(_Answer):
    id: int
    name: str
    kind: DatasetKind
    format: str
    s3_uri: str
    sha256: str
    size_bytes: int
    row_count: int
    created_by: str
    created_at: datetime


class ModelGroup(_Answer):
    name: str
    arn: str
    versions: int
    latest_version: int | None = None
    latest_approval_status: str | None = None
    approved_versions: int = 0


class Approval(_Answer):
    id: int
    run_id: int
    status: str
    ml_score: float
    ml_score_threshold: float
    decided_by: str | None = None
    decided_at: datetime | None = None
    comment: str | None = None


class DeploymentStatus(StrEnum):
    DEPLOYING = "deploying"
    IN_SERVICE = "in_service"
    FAILED = "failed"
    ROLLED_BACK = "rolled_back"
    RETIRED = "retired"


class Deployment(_Answer):
    """One deployment of a registry package version to the model's endpoint
    (docs/decisions/0021-deployments.md)."""

    id: int
    model_name: str
    model_package_arn: str
    version: int
    run_id: int | None = None
    endpoint_name: str
    endpoint_url: str | None = None  # the local backend's URL; null for a SageMaker endpoint
    variant: str | None = None
    status: DeploymentStatus
    reason: str | None = None
    requested_by: str
    origin: str  # "release" (the release workflow after an approval) or "api" (POST /deployments)
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None = None


class DeploymentList(_Answer):
    """GET /models/{name}/deployments: `items` newest first, `serving` the one in service."""

    model_name: str
    serving: Deployment | None = None
    items: list[Deployment] = Field(default_factory=list)


class Invocation(_Answer):
    """A deployment's answer to one question; `latency_ms` is measured by the API around the
    endpoint's call."""

    deployment_id: int
    endpoint_name: str
    answer: str
    latency_ms: float
