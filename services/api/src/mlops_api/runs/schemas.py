from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from mlops_api.runs.field_docs import fill
from mlops_api.schemas import JsonObject, Text, Timestamp
from mlops_contracts.gpu_sizing import DEFAULT_TRAINING_INSTANCE, InstanceType
from mlops_contracts.status import RunStatus, TaskType

# SageMaker model package group names: the model name becomes one (docs/decisions/0011-domain-facts.md).
MODEL_NAME_PATTERN = r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$"
# A hub id (`org/name`, optionally `@revision`), an s3:// URI or an absolute local path (tests and
# the offline demo load models with the same from_pretrained code).
_MODEL_ID = re.compile(
    r"^(?:[A-Za-z0-9][\w.-]{0,95}(?:/[A-Za-z0-9][\w.-]{0,95})?(?:@[\w.-]{1,64})?"
    r"|s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](?:/[\w./=-]+)?"
    r"|/[\w./-]{1,500})$"
)


def _check_model_id(value: str) -> str:
    if not _MODEL_ID.match(value) or ".." in value:
        raise ValueError(
            "model_id must be a hub id like 'mistralai/Mistral-7B-v0.1', an s3:// URI or an "
            "absolute local path"
        )
    return value


ModelId = Annotated[str, Field(min_length=1, max_length=512), AfterValidator(_check_model_id)]


class Hyperparameters(BaseModel):
    """LoRA fine-tuning hyperparameters, with bounds that keep a typo from burning GPU hours."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=fill)

    epochs: int = Field(default=3, ge=1, le=50)
    batch_size: int = Field(default=4, ge=1, le=512)
    gradient_accumulation_steps: int = Field(default=1, ge=1, le=256)
    learning_rate: float = Field(default=2e-4, gt=0, le=1e-2)
    lora_r: int = Field(default=16, ge=1, le=512)
    lora_alpha: int = Field(default=32, ge=1, le=2048)
    lora_dropout: float = Field(default=0.05, ge=0, le=0.5)
    max_seq_length: int = Field(default=1024, ge=32, le=32768)
    warmup_ratio: float = Field(default=0.03, ge=0, le=0.5)
    seed: int = Field(default=42, ge=0, le=2**31 - 1)
    max_runtime_seconds: int = Field(default=3600, ge=60, le=5 * 24 * 3600)
    # What the job needs in GPU memory; POST /runs sizes the run against the instance
    # (mlops_contracts.gpu_sizing) and refuses one that cannot fit.
    instance_type: InstanceType = DEFAULT_TRAINING_INSTANCE
    qlora: bool = Field(
        default=False, description="4-bit NF4 base weights (bitsandbytes, CUDA only), LoRA on top"
    )
    gradient_checkpointing: bool = Field(
        default=True, description="Recompute activations in backward: far less memory, ~30% more compute"
    )


class _RunCreateFields(BaseModel):
    """What both kinds of run take."""

    model_config = ConfigDict(extra="forbid", protected_namespaces=(), json_schema_extra=fill)

    model_name: str = Field(
        pattern=MODEL_NAME_PATTERN,
        max_length=63,
        description="Registry package group name: letters, digits and hyphens, at most 63",
        examples=["mistral-7b-rag-qa"],
    )
    model_id: ModelId = Field(
        description="The base model: a hub id (`org/name`, optionally `@revision`), an s3:// URI or an "
        "absolute local path",
        examples=["mistralai/Mistral-7B-v0.1"],
    )
    experiment_name: str = Field(
        min_length=1,
        max_length=128,
        pattern=r"^[\w][\w .:/-]*$",
        description="Groups runs for comparison (the MLflow experiment)",
        examples=["rag-qa-finetune"],
    )
    eval_dataset_id: int = Field(
        ge=1,
        le=2**63 - 1,
        description="An `eval` dataset (POST /datasets) to score the model on",
        examples=[2],
    )
    hyperparameters: Hyperparameters = Field(
        default_factory=Hyperparameters,
        description="Fine-tuning settings; what is left out takes its default",
    )
    ml_score_threshold: float = Field(
        default=0.7,
        ge=0,
        le=1,
        allow_inf_nan=False,
        description="The MLScore a run needs to be put to an approver; below it the run is rejected",
        examples=[0.7],
    )


class FinetuneRunCreate(_RunCreateFields):
    """Fine-tune the base model with LoRA on the train dataset, then evaluate the result."""

    task_type: Literal[TaskType.FINETUNE] = Field(description="`finetune`", examples=["finetune"])
    train_dataset_id: int = Field(
        ge=1, le=2**63 - 1, description="A `train` dataset (POST /datasets): required", examples=[1]
    )

    @field_validator("train_dataset_id", mode="before")
    @classmethod
    def _required(cls, value: Any) -> Any:
        if value is None:
            raise ValueError("train_dataset_id is required when task_type is 'finetune'")
        return value


class EvalOnlyRunCreate(_RunCreateFields):
    """Evaluate the base model as it is."""

    task_type: Literal[TaskType.EVAL_ONLY] = Field(description="`eval_only`", examples=["eval_only"])
    train_dataset_id: None = Field(
        default=None, description="Omitted (or null): an eval_only run trains nothing", examples=[None]
    )

    @field_validator("train_dataset_id", mode="before")
    @classmethod
    def _omitted(cls, value: Any) -> Any:
        if value is not None:
            raise ValueError("train_dataset_id must be omitted when task_type is 'eval_only'")
        return value


# The body of POST /runs: one schema per task type, told apart by `task_type`, so the published
# schema says what the API enforces (a finetune's train_dataset_id is a required integer).
RunCreate = Annotated[FinetuneRunCreate | EvalOnlyRunCreate, Field(discriminator="task_type")]


class StatusChange(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra=fill)

    status: RunStatus
    reason: Text | None = Field(default=None, max_length=4000)
    execution_arn: Text | None = Field(default=None, max_length=2048)
    event_id: Text | None = Field(
        default=None,
        min_length=1,
        max_length=128,
        description="Id of the event that caused the change; a repeated id is a no-op",
    )
    occurred_at: Timestamp | None = Field(
        default=None,
        description="When it happened (RFC 3339); the time of the request when omitted",
        examples=["2026-12-07T04:00:00Z"],
    )
    data: JsonObject = Field(default_factory=dict)


class CancelIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra=fill)

    reason: Text | None = Field(
        default=None, max_length=1000, description="Why the run is cancelled (on its timeline)"
    )


class ClaimIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra=fill)

    execution_arn: Text = Field(min_length=1, max_length=2048, description="The claiming workflow execution")


class ClaimOut(BaseModel):
    model_config = ConfigDict(json_schema_extra=fill)

    claimed: bool = Field(description="True for the execution that owns the run (the first claim wins)")
    execution_arn: str | None = Field(description="The execution that owns the run, if any")


class TimelineEventIn(BaseModel):
    """A step of the run that does not change its status (e.g. training done, an event that
    arrived after a later one). Idempotent by `event_id`."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=fill)

    event_type: str = Field(pattern=r"^[a-z][a-z0-9_.]{0,63}$", examples=["run.training_done"])
    event_id: Text = Field(min_length=1, max_length=128)
    reason: Text | None = Field(default=None, max_length=4000)
    execution_arn: Text | None = Field(default=None, max_length=2048)
    occurred_at: Timestamp | None = Field(
        default=None,
        description="When it happened (RFC 3339); the time of the request when omitted",
        examples=["2026-12-07T04:00:00Z"],
    )
    data: JsonObject = Field(default_factory=dict)


class RunOut(BaseModel):
    model_config = ConfigDict(from_attributes=True, protected_namespaces=(), json_schema_extra=fill)

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
    execution_arn: str | None
    status_reason: str | None
    created_by: str
    created_at: datetime
    updated_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    tags: list[str] = Field(
        default_factory=list, description="People's labels of the run", examples=[["baseline", "lr-sweep"]]
    )
    note: str | None = Field(
        default=None, description="People's free-text note on the run", examples=["Best recall so far"]
    )


# A tag: a short label (letters, digits, `_ . : / -`), e.g. `baseline`, `sweep:lr`.
TAG_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:/-]{0,39}$"
Tag = Annotated[str, Field(pattern=TAG_PATTERN, max_length=40, examples=["baseline"])]


class RunAnnotations(BaseModel):
    """PATCH /runs/{id}: the fields given replace the run's (`note: null` clears the note); the
    workflow's own fields are not here."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"minProperties": 1})

    tags: list[Tag] | None = Field(
        default=None,
        max_length=20,
        description="The run's labels (at most 20; repeats are dropped); omit to keep them",
        examples=[["baseline", "candidate"]],
    )
    note: str | None = Field(
        default=None,
        max_length=4000,
        description="A free-text note (at most 4000 characters); null or empty clears it",
        examples=["Same data as #41 with twice the LoRA rank"],
    )

    @model_validator(mode="after")
    def _something_to_change(self) -> RunAnnotations:
        if not self.model_fields_set:
            raise ValueError("give tags, note or both")
        return self


class RunEventOut(BaseModel):
    model_config = ConfigDict(from_attributes=True, json_schema_extra=fill)

    id: int
    event_type: str
    status: RunStatus | None
    previous_status: RunStatus | None
    reason: str | None
    execution_arn: str | None
    source: str
    data: dict[str, Any]
    occurred_at: datetime
    recorded_at: datetime


class RunResultIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra=fill)

    metrics: JsonObject
    ml_score: float | None = Field(default=None, ge=0, le=1, allow_inf_nan=False)
    passed: bool | None = None


class RunResultOut(BaseModel):
    model_config = ConfigDict(from_attributes=True, json_schema_extra=fill)

    stage: str
    metrics: dict[str, Any]
    ml_score: float | None
    passed: bool | None
    created_at: datetime
    updated_at: datetime


class RunDetail(RunOut):
    timeline: list[RunEventOut]
    results: list[RunResultOut]


class RunListItem(RunOut):
    """A run of GET /runs: the run, and its evaluation's outcome when it has one (the list's MLScore
    column; the whole result is in GET /runs/{id})."""

    ml_score: float | None = Field(
        default=None, description="The evaluation's MLScore, 0 to 1; null until the run is evaluated"
    )
    passed: bool | None = Field(
        default=None, description="True when the MLScore reached the threshold; null until evaluated"
    )


class RunPage(BaseModel):
    model_config = ConfigDict(json_schema_extra=fill)

    items: list[RunListItem]
    next_cursor: int | None = Field(
        description="Pass as `cursor` to get the next page; null on the last page"
    )
