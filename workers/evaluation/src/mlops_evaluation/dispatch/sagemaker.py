"""EVALUATION_BACKEND=sagemaker: each evaluation task becomes a SageMaker Processing job on a GPU
instance that runs the evaluation image's job entrypoint (`python -m mlops_evaluation job`;
docs/decisions/0020-evaluation-as-a-processing-job.md says why a Processing job).

The task - its token included - is written to the job's own folder of the model-outputs bucket
(`<model>/evaluations/run-<id>/<job>/input/task.json`, SSE) and reaches the container as the
job's one ProcessingInput: the token is in no environment value, argument or tag that
DescribeProcessingJob shows, and neither is the Hugging Face token (only the id of its secret).
The job heartbeats and answers the token itself; when it fails or is stopped before answering,
its "SageMaker Processing Job State Change" event reaches `handle_state_change`, which fails the
task with SageMaker's reason (a token already answered or closed is left alone: EventBridge may
deliver the event twice). AWS refusing the job fails the task at once with AWS's error.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from pydantic import Field

from mlops_contracts.aws import aws_client, aws_error
from mlops_contracts.settings import PlatformSettings
from mlops_contracts.task_tokens import TaskToken, TokenDead
from mlops_evaluation.job import TASK_CHANNEL, TASK_FILE
from mlops_evaluation.messages import EvaluationTask
from mlops_evaluation.settings import EvaluationSettings
from mlops_evaluation.storage import split_s3_uri
from mlops_evaluation.worker import TaskResult

log = logging.getLogger(__name__)

JOB_NAME_MAX = 63  # ProcessingJobName: [a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}
CONTAINER_ROOT = "/opt/ml/processing"
JOB_ENTRYPOINT = ["python", "-m", "mlops_evaluation", "job"]
# The evaluation settings the job reads, copied from the dispatcher's environment when set. Never a
# key or a token: the job reads those from Secrets Manager by the ids below.
JOB_SETTINGS = (
    "JUDGE",
    "BEDROCK_REGION",
    "JUDGE_MODEL_ID",
    "JUDGE_EMBEDDING_MODEL_ID",
    "JUDGE_RPM",
    "JUDGE_TPM",
    "JUDGE_MAX_CONCURRENCY",
    "MLSCORE_WEIGHTS",
    "MLSCORE_THRESHOLD",
    "MIN_COVERAGE",
    "SAMPLE_CONCURRENCY",
    "SAMPLE_TIMEOUT_SECONDS",
    "GENERATION_BATCH_SIZE",
    "MAX_NEW_TOKENS",
    "MAX_INPUT_TOKENS",
    "MODEL_OUTPUTS_BUCKET",
    "API_URL",
    "API_KEY_SECRET_ID",
    "EVALUATOR_API_KEY_SECRET_ID",
    "HF_TOKEN_SECRET_ID",
    "METRICS_NAMESPACE",
    "HEARTBEAT_SECONDS",
    "AWS_REGION",
)
ENVIRONMENT_VALUE_MAX = 256  # CreateProcessingJob's Environment values


class ProcessingSettings(PlatformSettings):
    image: str = Field(default="", validation_alias="EVALUATION_IMAGE")
    role_arn: str = Field(default="", validation_alias="EVALUATION_JOB_ROLE_ARN")
    instance_type: str = Field(
        default="ml.g5.2xlarge",
        validation_alias="EVALUATION_INSTANCE_TYPE",
        description="one A10G (24 GB, bf16): a 7B candidate in bf16 with room for batched generation",
    )
    volume_size_gb: int = Field(default=100, ge=1, le=16384, validation_alias="EVALUATION_VOLUME_GB")
    subnets: str = Field(
        default="", validation_alias="EVALUATION_SUBNET_IDS", description="comma-separated private subnets"
    )
    security_groups: str = Field(default="", validation_alias="EVALUATION_SECURITY_GROUP_IDS")

    @property
    def subnet_ids(self) -> list[str]:
        return [part.strip() for part in self.subnets.split(",") if part.strip()]

    @property
    def security_group_ids(self) -> list[str]:
        return [part.strip() for part in self.security_groups.split(",") if part.strip()]


def job_name(task: EvaluationTask) -> str:
    """Unique per task token (SageMaker never accepts a name twice; a redelivered message keeps it)."""
    attempt = hashlib.sha256(task.task_token.encode()).hexdigest()[:10]
    suffix = f"-eval-{task.run_id}-{attempt}"
    base = re.sub(r"[^a-zA-Z0-9]+", "-", task.model_name)[: JOB_NAME_MAX - len(suffix)].strip("-")
    return f"{base or 'model'}{suffix}"


def job_folder(task: EvaluationTask, name: str) -> str:
    return f"{task.model_name}/evaluations/run-{task.run_id}/{name}/"


def job_environment(environ: dict[str, str] | None = None) -> dict[str, str]:
    source = os.environ if environ is None else environ
    environment = {name: source[name] for name in JOB_SETTINGS if source.get(name)}
    too_long = [name for name, value in environment.items() if len(value) > ENVIRONMENT_VALUE_MAX]
    if too_long:
        raise ValueError(
            f"{', '.join(too_long)} longer than the job's {ENVIRONMENT_VALUE_MAX}-character limit"
        )
    return environment


def create_job_request(
    task: EvaluationTask,
    settings: EvaluationSettings,
    processing: ProcessingSettings,
    environ: dict[str, str] | None = None,
) -> dict[str, Any]:
    name = job_name(task)
    bucket = settings.model_outputs_bucket
    folder = f"s3://{bucket}/{job_folder(task, name)}"
    request: dict[str, Any] = {
        "ProcessingJobName": name,
        "ProcessingInputs": [
            {
                "InputName": TASK_CHANNEL,
                "S3Input": {
                    "S3Uri": f"{folder}input/",
                    "LocalPath": f"{CONTAINER_ROOT}/input/{TASK_CHANNEL}",
                    "S3DataType": "S3Prefix",
                    "S3InputMode": "File",
                    "S3DataDistributionType": "FullyReplicated",
                },
            }
        ],
        "ProcessingOutputConfig": {
            "Outputs": [
                {
                    "OutputName": "outcome",
                    "S3Output": {
                        "S3Uri": f"{folder}output/",
                        "LocalPath": f"{CONTAINER_ROOT}/output",
                        "S3UploadMode": "EndOfJob",
                    },
                }
            ]
        },
        "ProcessingResources": {
            "ClusterConfig": {
                "InstanceCount": 1,
                "InstanceType": processing.instance_type,
                "VolumeSizeInGB": processing.volume_size_gb,
            }
        },
        "StoppingCondition": {"MaxRuntimeInSeconds": int(settings.job_timeout_seconds)},
        "AppSpecification": {"ImageUri": processing.image, "ContainerEntrypoint": list(JOB_ENTRYPOINT)},
        "Environment": {
            **job_environment(environ),
            "RUN_ID": str(task.run_id),
            # the model downloads go to the job's ML storage volume (VolumeSizeInGB), not the root disk
            "WORK_DIR": f"{CONTAINER_ROOT}/work",
            "HF_HOME": f"{CONTAINER_ROOT}/huggingface",
        },
        "RoleArn": processing.role_arn,
        "Tags": [
            {"Key": "project", "Value": "mlops"},
            {"Key": "run_id", "Value": str(task.run_id)},
            {"Key": "model_name", "Value": task.model_name},
        ],
    }
    if processing.subnet_ids:
        # the private subnets: S3 and Bedrock through the VPC's endpoints, the API through its ALB
        request["NetworkConfig"] = {
            "EnableInterContainerTrafficEncryption": True,
            "EnableNetworkIsolation": False,
            "VpcConfig": {
                "SecurityGroupIds": processing.security_group_ids,
                "Subnets": processing.subnet_ids,
            },
        }
    return request


def dispatch_sagemaker(
    task: EvaluationTask, settings: EvaluationSettings, processing: ProcessingSettings | None = None
) -> TaskResult:
    """Store the task in the job's folder and start the job; "dispatched", or "failed" after failing
    the task with AWS's error code and message when AWS refused the job."""
    processing = processing or ProcessingSettings()
    if not settings.model_outputs_bucket:
        return _refused(
            task, "Evaluation.Misconfigured", "MODEL_OUTPUTS_BUCKET is not set (the job's task folder)"
        )
    request = create_job_request(task, settings, processing)
    name = str(request["ProcessingJobName"])
    try:
        # stored first: a job that starts always finds its task, a failed one its token
        aws_client("s3").put_object(
            Bucket=settings.model_outputs_bucket,
            Key=f"{job_folder(task, name)}input/{TASK_FILE}",
            Body=task.model_dump_json().encode(),
            ServerSideEncryption="AES256",
        )
        aws_client("sagemaker").create_processing_job(**request)
    except (ClientError, BotoCoreError) as exc:
        if _started_by_an_earlier_delivery(exc, name, request):
            log.info("run %s: evaluation job %s was started by an earlier delivery", task.run_id, name)
            return "dispatched"
        code, cause = aws_error(exc)
        log.warning("run %s: evaluation job %s not started: %s: %s", task.run_id, name, code, cause)
        return _refused(task, code, cause)
    log.info("run %s: evaluation job %s started on %s", task.run_id, name, processing.instance_type)
    return "dispatched"


def _refused(task: EvaluationTask, code: str, cause: str) -> TaskResult:
    try:
        TaskToken(task.task_token).fail(code, cause)
    except TokenDead as dead:
        log.warning("run %s: the refusal is not recorded: %s", task.run_id, dead)
        return "token_closed"
    return "failed"


def _task_uri(job: dict[str, Any]) -> str:
    for channel in job.get("ProcessingInputs", []):
        if channel.get("InputName") == TASK_CHANNEL:
            return str(channel["S3Input"]["S3Uri"])
    raise ValueError(f"processing job {job.get('ProcessingJobName')} has no '{TASK_CHANNEL}' input")


def _started_by_an_earlier_delivery(exc: Exception, name: str, request: dict[str, Any]) -> bool:
    """A name in use (the name carries the token's digest) is this task's own job when it reads
    this task's folder."""
    if not isinstance(exc, ClientError) or exc.response.get("Error", {}).get("Code") != "ResourceInUse":
        return False
    try:
        job = aws_client("sagemaker").describe_processing_job(ProcessingJobName=name)
        return _task_uri(job) == _task_uri(request)
    except (ClientError, ValueError):
        return False


def handle_state_change(event: dict[str, Any]) -> str | None:
    """EventBridge "SageMaker Processing Job State Change": fail the task of a job that failed or
    was stopped ("failed", or "already answered" when the token is closed - the job answered before
    it ended, or the event came twice); None for other states and for jobs that are not ours."""
    detail = event["detail"]
    status = detail.get("ProcessingJobStatus")
    name = detail["ProcessingJobName"]
    if status not in ("Failed", "Stopped", "Completed"):
        return None
    job = aws_client("sagemaker").describe_processing_job(ProcessingJobName=name)
    try:
        bucket, prefix = split_s3_uri(_task_uri(job))
    except ValueError:
        log.info("processing job %s is not an evaluation job; ignored", name)
        return None
    if status == "Completed":
        return "completed"  # the job answered its token before it exited 0
    stored = aws_client("s3").get_object(Bucket=bucket, Key=f"{prefix.rstrip('/')}/{TASK_FILE}")
    token = TaskToken(str(json.loads(stored["Body"].read())["task_token"]))
    reason = (
        "; ".join(part for part in (job.get("FailureReason"), job.get("ExitMessage")) if part)
        or f"evaluation job {status.lower()}"
    )
    try:
        token.fail("Evaluation.JobFailed", f"evaluation job {name}: {reason}")
    except TokenDead as exc:
        log.info("evaluation job %s (%s): %s; nothing to do", name, status, exc)
        return "already answered"
    return "failed"
