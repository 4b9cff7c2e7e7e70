"""The training task the release workflow puts on the training queue (see StartTraining in
terraform/templates/release_workflow.asl.json) and the answer it waits for."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class TrainingTask(BaseModel):
    model_config = ConfigDict(extra="ignore", protected_namespaces=())

    task_token: str = Field(min_length=1)
    run_id: int
    model_name: str
    model_id: str
    train_dataset_uri: str = Field(pattern=r"^s3://[^/]+/.+")
    hyperparameters: dict[str, Any]
    output_uri: str = Field(pattern=r"^s3://[^/]+/.*/$", description="s3://bucket/prefix/ for the artifact")
    execution_arn: str | None = None

    def sagemaker_hyperparameters(self) -> dict[str, str]:
        """SageMaker passes hyperparameters as strings; the entrypoint parses them back."""
        values = {**self.hyperparameters, "model_id": self.model_id, "run_id": self.run_id}
        return {k: v if isinstance(v, str) else _json(v) for k, v in values.items()}


class TrainingOutcome(BaseModel):
    """The task output the workflow's StartTraining state selects from."""

    artifact_uri: str
    metrics: dict[str, Any] = Field(default_factory=dict)


def _json(value: Any) -> str:
    import json

    return json.dumps(value)


def split_s3_uri(uri: str) -> tuple[str, str]:
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    return bucket, key
