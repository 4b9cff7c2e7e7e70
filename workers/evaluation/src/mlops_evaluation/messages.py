"""The evaluation task: the body of the SQS message the release workflow sends to the evaluation queue
(`arn:aws:states:::sqs:sendMessage.waitForTaskToken`), and what the worker answers."""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from mlops_contracts.status import TaskType

S3_OR_PATH = r"^(s3://[^/]+/.+|/.+|file://.+)$"


class EvaluationTask(BaseModel):
    """One evaluation of one run's candidate.

    `artifact_uri` is the training job's `model.tar.gz` (base model + LoRA adapter); null for
    `eval_only`, where the base model `model_id` itself is evaluated. A `finetune` task without an
    artifact is refused (evaluating the base model in its place would approve the wrong model).
    """

    model_config = ConfigDict(extra="forbid", protected_namespaces=(), str_strip_whitespace=True)

    task_token: str = Field(min_length=1, max_length=8192)
    run_id: int = Field(ge=1)
    model_name: str = Field(min_length=1, max_length=63)
    model_id: str = Field(
        min_length=1, max_length=512, description="base model: hub id, local dir or s3:// URI"
    )
    task_type: TaskType
    artifact_uri: str | None = Field(default=None, pattern=S3_OR_PATH)
    eval_dataset_uri: str = Field(pattern=S3_OR_PATH)
    ml_score_threshold: float | None = Field(default=None, ge=0, le=1, allow_inf_nan=False)
    execution_arn: str | None = Field(default=None, max_length=2048)

    @field_validator("artifact_uri", mode="before")
    @classmethod
    def _empty_is_none(cls, value: Any) -> Any:
        return None if value == "" else value

    def check_candidate(self) -> None:
        if self.task_type is TaskType.FINETUNE and self.artifact_uri is None:
            raise ValueError("a finetune evaluation needs artifact_uri (the trained model.tar.gz)")


class InvalidMessage(ValueError):
    """A message that is not an evaluation task. `task_token` is set when one could be read from it,
    so the workflow can still be told instead of waiting for its timeout."""

    def __init__(self, reason: str, task_token: str | None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.task_token = task_token


def parse_task(body: str | bytes | dict[str, Any]) -> EvaluationTask:
    """Parse an SQS body into a task; raises InvalidMessage naming what is wrong."""
    data: Any = body
    if isinstance(body, str | bytes):
        try:
            data = json.loads(body)
        except json.JSONDecodeError as exc:
            raise InvalidMessage(f"message body is not JSON: {exc}", None) from exc
    if not isinstance(data, dict):
        raise InvalidMessage("message body must be a JSON object", None)
    token = data.get("task_token")
    token = token if isinstance(token, str) and token else None
    try:
        task = EvaluationTask.model_validate(data)
        task.check_candidate()
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'body'}: {err['msg']}" for err in exc.errors()
        )
        raise InvalidMessage(f"invalid evaluation task: {problems}", token) from exc
    except ValueError as exc:
        raise InvalidMessage(f"invalid evaluation task: {exc}", token) from exc
    return task
