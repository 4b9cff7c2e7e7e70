"""The SageMaker training backend: CreateTrainingJob with the seed's parameters; the task token is
kept beside the job's output (a training job's tags and environment are too small for it) and the
completion handler answers it on SageMaker's "Training Job State Change" event.

AWS refusing the job (no Spot quota, a wrong role or image, a malformed request) fails the
workflow's task at once with AWS's error code and message, so the run fails in seconds with the
reason on its timeline; the training message is then done, not retried into the DLQ."""

from __future__ import annotations

import hashlib
import json
import logging
import re
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from pydantic import Field

from mlops_contracts.aws import aws_client, aws_error
from mlops_contracts.gpu_sizing import DEFAULT_TRAINING_INSTANCE
from mlops_contracts.settings import PlatformSettings
from mlops_contracts.task_tokens import TaskToken, TokenDead
from mlops_training.dispatch.messages import TrainingOutcome, TrainingTask, split_s3_uri
from mlops_training.dispatch.results import record_job_result
from mlops_training.metrics import METRIC_DEFINITIONS

log = logging.getLogger(__name__)

TOKEN_OBJECT = "task-token.json"  # noqa: S105 (an object name, not a secret)
JOB_NAME_MAX = 63  # CreateTrainingJob's TrainingJobName: ^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}


class SageMakerSettings(PlatformSettings):
    training_image: str = Field(default="", validation_alias="TRAINING_IMAGE")
    training_role_arn: str = Field(default="", validation_alias="SAGEMAKER_ROLE_ARN")
    # for a task whose run names no instance_type (runs made before POST /runs sized them)
    instance_type: str = Field(default=DEFAULT_TRAINING_INSTANCE, validation_alias="TRAINING_INSTANCE_TYPE")
    volume_size_gb: int = Field(default=50, ge=1, validation_alias="TRAINING_VOLUME_GB")
    use_spot: bool = Field(default=True, validation_alias="TRAINING_USE_SPOT")
    spot_wait_factor: float = Field(
        default=2.0,
        ge=1.0,
        # the release workflow waits twice the run time plus a margin for the job, then stops it
        # (terraform/templates/release_workflow.asl.json, Init): a longer Spot wait would outlive it
        le=2.0,
        validation_alias="TRAINING_SPOT_WAIT_FACTOR",
        description="max_wait = factor * max_run",
    )
    mlflow_tracking_uri: str | None = Field(default=None, validation_alias="MLFLOW_TRACKING_URI")
    mlflow_ui_url: str | None = Field(default=None, validation_alias="MLFLOW_UI_URL")
    hf_token_secret_id: str | None = Field(
        default=None,
        validation_alias="HF_TOKEN_SECRET_ID",
        description="the Secrets Manager secret (mlops/hf-token) the job reads its Hugging Face token from: "
        "the id travels, never the token",
    )


def job_name(task: TrainingTask) -> str:
    """Unique per attempt: SageMaker never accepts a training job name twice in an account and
    region, so the name ends with a digest of the task token, which the workflow makes anew for
    each task (a second environment, a database reset or a second execution get new names; a
    redelivered message keeps its name). The run id stays in the job's tags and environment."""
    attempt = hashlib.sha256(task.task_token.encode()).hexdigest()[:10]
    suffix = f"-run-{task.run_id}-{attempt}"
    base = re.sub(r"[^a-zA-Z0-9]+", "-", task.model_name)[: JOB_NAME_MAX - len(suffix)].strip("-")
    return f"{base or 'model'}{suffix}"


def token_key(output_prefix: str, name: str) -> str:
    """Where the task token of job `name` is kept: in the job's own folder of the run's output
    prefix (SageMaker writes the job's output to `<S3OutputPath>/<job name>/` too)."""
    return f"{output_prefix}{name}/{TOKEN_OBJECT}"


def create_job_request(task: TrainingTask, settings: SageMakerSettings) -> dict[str, Any]:
    max_run = int(task.hyperparameters.get("max_runtime_seconds", 3600))
    stopping: dict[str, int] = {"MaxRuntimeInSeconds": max_run}
    if settings.use_spot:
        stopping["MaxWaitTimeInSeconds"] = int(max_run * settings.spot_wait_factor)
    # the bus of the job's progress facts (mlops_training.progress)
    environment = {"RUN_ID": str(task.run_id), "EVENT_BUS_NAME": settings.event_bus_name}
    if settings.mlflow_tracking_uri:
        environment["MLFLOW_TRACKING_URI"] = settings.mlflow_tracking_uri
    if settings.mlflow_ui_url:
        environment["MLFLOW_UI_URL"] = settings.mlflow_ui_url
    if settings.hf_token_secret_id:
        # DescribeTrainingJob shows the environment: the secret's id, read by the job at start
        # (mlops_training.hub_token), never the token itself
        environment["HF_TOKEN_SECRET_ID"] = settings.hf_token_secret_id
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
            # the run's own instance_type (sized by the API); the setting for messages without one
            "InstanceType": str(task.hyperparameters.get("instance_type") or settings.instance_type),
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


def dispatch_sagemaker(task: TrainingTask, settings: SageMakerSettings | None = None) -> str | None:
    """Start the task's training job and return its name; None when AWS refused it, after failing
    the workflow's task with AWS's error code (`error`) and message (`cause`)."""
    settings = settings or SageMakerSettings()
    request = create_job_request(task, settings)
    name = str(request["TrainingJobName"])
    bucket, prefix = split_s3_uri(task.output_uri)
    try:
        # Stored first: a job that starts must always find its token when it ends.
        aws_client("s3").put_object(
            Bucket=bucket,
            Key=token_key(prefix, name),
            Body=json.dumps({"task_token": task.task_token, "run_id": task.run_id}).encode(),
            ServerSideEncryption="AES256",
        )
        aws_client("sagemaker").create_training_job(**request)
    except (ClientError, BotoCoreError) as exc:
        if _started_by_an_earlier_delivery(exc, name, task):
            log.info("run %s: training job %s was started by an earlier delivery", task.run_id, name)
            return name
        code, cause = aws_error(exc)
        log.warning("run %s: training job %s not started: %s: %s", task.run_id, name, code, cause)
        try:
            TaskToken(task.task_token).fail(code, cause)
        except TokenDead as dead:
            log.warning("run %s: the refusal is not recorded: %s", task.run_id, dead)
        return None
    return name


def _started_by_an_earlier_delivery(exc: Exception, name: str, task: TrainingTask) -> bool:
    """SQS delivers at least once: a name already in use (AWS's `ResourceInUse`) is this task's
    own job when it writes to this task's output (the name carries the token's digest)."""
    if not isinstance(exc, ClientError) or exc.response.get("Error", {}).get("Code") != "ResourceInUse":
        return False
    try:
        job = aws_client("sagemaker").describe_training_job(TrainingJobName=name)
    except ClientError:
        return False
    output = str(job.get("OutputDataConfig", {}).get("S3OutputPath", ""))
    return output.rstrip("/") == task.output_uri.rstrip("/")


def handle_state_change(event: dict[str, Any]) -> str | None:
    """Completion handler for EventBridge "Training Job State Change". Returns what it did
    ("succeeded", "failed", "already answered") or None for states that are not final.

    EventBridge may deliver the same event twice: a token the workflow no longer waits on (already
    answered, or the execution ended) means there is nothing left to do, not an error."""
    detail = event["detail"]
    status = detail["TrainingJobStatus"]
    if status not in ("Completed", "Failed", "Stopped"):
        return None
    job = aws_client("sagemaker").describe_training_job(TrainingJobName=detail["TrainingJobName"])
    token = TaskToken(_stored_token(job))
    try:
        if status == "Completed":
            record_job_result(job)  # the summary and loss history on the run (a report: never raises)
            metrics = {m["MetricName"]: m["Value"] for m in job.get("FinalMetricDataList", [])}
            artifact = job["ModelArtifacts"]["S3ModelArtifacts"]
            token.succeed(TrainingOutcome(artifact_uri=artifact, metrics=metrics).model_dump(mode="json"))
            return "succeeded"
        token.fail("TrainingFailed", job.get("FailureReason") or f"training job {status.lower()}")
        return "failed"
    except TokenDead as exc:
        log.info("training job %s (%s): %s; nothing to do", detail["TrainingJobName"], status, exc)
        return "already answered"


def _stored_token(job: dict[str, Any]) -> str:
    """The token the dispatcher kept for this job; a job started before tokens were kept per job
    finds it at the run's output prefix."""
    bucket, prefix = split_s3_uri(job["OutputDataConfig"]["S3OutputPath"])
    if prefix and not prefix.endswith("/"):
        prefix += "/"
    s3 = aws_client("s3")
    try:
        stored = s3.get_object(Bucket=bucket, Key=token_key(prefix, job["TrainingJobName"]))
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") != "NoSuchKey":
            raise
        stored = s3.get_object(Bucket=bucket, Key=f"{prefix}{TOKEN_OBJECT}")
    return str(json.loads(stored["Body"].read())["task_token"])
