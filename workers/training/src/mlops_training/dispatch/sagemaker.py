"""The SageMaker training backend: CreateTrainingJob with the seed's parameters; the task token is
kept beside the job's output (a training job's tags and environment are too small for it) and the
completion handler answers it on SageMaker's "Training Job State Change" event."""

from __future__ import annotations

import json
import re
from typing import Any

from pydantic import Field

from mlops_contracts.aws import aws_client
from mlops_contracts.settings import PlatformSettings
from mlops_contracts.task_tokens import TaskToken
from mlops_training.dispatch.messages import TrainingOutcome, TrainingTask, split_s3_uri
from mlops_training.metrics import METRIC_DEFINITIONS

TOKEN_OBJECT = "task-token.json"  # noqa: S105 (an object name, not a secret)


class SageMakerSettings(PlatformSettings):
    training_image: str = Field(default="", validation_alias="TRAINING_IMAGE")
    training_role_arn: str = Field(default="", validation_alias="SAGEMAKER_ROLE_ARN")
    instance_type: str = Field(default="ml.g4dn.xlarge", validation_alias="TRAINING_INSTANCE_TYPE")
    volume_size_gb: int = Field(default=50, ge=1, validation_alias="TRAINING_VOLUME_GB")
    use_spot: bool = Field(default=True, validation_alias="TRAINING_USE_SPOT")
    spot_wait_factor: float = Field(
        default=2.0,
        ge=1.0,
        validation_alias="TRAINING_SPOT_WAIT_FACTOR",
        description="max_wait = factor * max_run",
    )
    mlflow_tracking_uri: str | None = Field(default=None, validation_alias="MLFLOW_TRACKING_URI")


def job_name(task: TrainingTask) -> str:
    """Unique per run, within SageMaker's 63 characters and alphabet."""
    base = re.sub(r"[^a-zA-Z0-9-]", "-", task.model_name)[:40].strip("-")
    return f"{base}-run-{task.run_id}"[:63]


def create_job_request(task: TrainingTask, settings: SageMakerSettings) -> dict[str, Any]:
    max_run = int(task.hyperparameters.get("max_runtime_seconds", 3600))
    stopping: dict[str, int] = {"MaxRuntimeInSeconds": max_run}
    if settings.use_spot:
        stopping["MaxWaitTimeInSeconds"] = int(max_run * settings.spot_wait_factor)
    environment = {"RUN_ID": str(task.run_id)}
    if settings.mlflow_tracking_uri:
        environment["MLFLOW_TRACKING_URI"] = settings.mlflow_tracking_uri
    return {
        "TrainingJobName": job_name(task),
        "AlgorithmSpecification": {
            "TrainingImage": settings.training_image,
            "TrainingInputMode": "File",
            # SageMaker scrapes the job's `[metrics]` lines into its charts and FinalMetricDataList
            "MetricDefinitions": METRIC_DEFINITIONS,
        },
        "RoleArn": settings.training_role_arn,
        "HyperParameters": task.sagemaker_hyperparameters(),
        "InputDataConfig": [
            {
                "ChannelName": "train",
                "DataSource": {
                    "S3DataSource": {
                        "S3DataType": "S3Prefix",
                        "S3Uri": task.train_dataset_uri,
                        "S3DataDistributionType": "FullyReplicated",
                    }
                },
                "ContentType": "application/jsonl",
            }
        ],
        "OutputDataConfig": {"S3OutputPath": task.output_uri},
        "CheckpointConfig": {"S3Uri": f"{task.output_uri}checkpoints/", "LocalPath": "/opt/ml/checkpoints"},
        "ResourceConfig": {
            "InstanceType": settings.instance_type,
            "InstanceCount": 1,
            "VolumeSizeInGB": settings.volume_size_gb,
        },
        "StoppingCondition": stopping,
        "EnableManagedSpotTraining": settings.use_spot,
        "Environment": environment,
        "Tags": [
            {"Key": "project", "Value": "mlops"},
            {"Key": "run_id", "Value": str(task.run_id)},
            {"Key": "model_name", "Value": task.model_name},
        ],
    }


def dispatch_sagemaker(task: TrainingTask, settings: SageMakerSettings | None = None) -> str:
    settings = settings or SageMakerSettings()
    request = create_job_request(task, settings)
    bucket, prefix = split_s3_uri(task.output_uri)
    # Stored first: a job that starts must always find its token when it ends.
    aws_client("s3").put_object(
        Bucket=bucket,
        Key=f"{prefix}{TOKEN_OBJECT}",
        Body=json.dumps({"task_token": task.task_token, "run_id": task.run_id}).encode(),
        ServerSideEncryption="AES256",
    )
    aws_client("sagemaker").create_training_job(**request)
    return str(request["TrainingJobName"])


def handle_state_change(event: dict[str, Any]) -> str | None:
    """Completion handler for EventBridge "SageMaker Training Job State Change". Returns what it
    did ("succeeded", "failed") or None for states that are not final."""
    detail = event["detail"]
    status = detail["TrainingJobStatus"]
    if status not in ("Completed", "Failed", "Stopped"):
        return None
    job = aws_client("sagemaker").describe_training_job(TrainingJobName=detail["TrainingJobName"])
    bucket, prefix = split_s3_uri(job["OutputDataConfig"]["S3OutputPath"])
    if prefix and not prefix.endswith("/"):
        prefix += "/"
    stored = aws_client("s3").get_object(Bucket=bucket, Key=f"{prefix}{TOKEN_OBJECT}")
    token = json.loads(stored["Body"].read())["task_token"]
    if status == "Completed":
        metrics = {m["MetricName"]: m["Value"] for m in job.get("FinalMetricDataList", [])}
        outcome = TrainingOutcome(artifact_uri=job["ModelArtifacts"]["S3ModelArtifacts"], metrics=metrics)
        TaskToken(token).succeed(outcome.model_dump(mode="json"))
        return "succeeded"
    reason = job.get("FailureReason") or f"training job {status.lower()}"
    TaskToken(token).fail("TrainingFailed", reason)
    return "failed"
