"""EVALUATION_BACKEND=sagemaker: the dispatcher's CreateProcessingJob request against botocore's real
input shape (Stubber) and the strict emulator, the task token kept in the job's own S3 folder (never
in the request), AWS's refusal, and the completion handler of "SageMaker Processing Job State Change"
(docs/decisions/0020-evaluation-as-a-processing-job.md)."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from mlops_contracts.aws import aws_client
from mlops_evaluation.dispatch import sagemaker
from mlops_evaluation.handler import completion_handler, handler
from mlops_evaluation.messages import EvaluationTask
from mlops_evaluation.settings import EvaluationSettings
from mlops_testkit.servers import WaitingTask

BUCKET = "eval-dispatch-test"
HF_TOKEN_VALUE = "hf_DoNotLeakThisToken0123456789"
EVALUATOR_KEY = "mlk_evaluator_key_never_in_a_request"
HF_SECRET_ARN = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:mlops/hf-token-AbCdEf"
PROCESSING = sagemaker.ProcessingSettings(
    EVALUATION_IMAGE="123456789012.dkr.ecr.eu-west-1.amazonaws.com/mlops-evaluation:abc",
    EVALUATION_JOB_ROLE_ARN="arn:aws:iam::123456789012:role/mlops-eval-job-role",
    EVALUATION_SUBNET_IDS="subnet-0a1b2c3d, subnet-4e5f6a7b",
    EVALUATION_SECURITY_GROUP_IDS="sg-0123456789abcdef0",
)


@pytest.fixture
def bucket(emulator: Any) -> str:
    s3 = aws_client("s3")
    if BUCKET not in {b["Name"] for b in s3.list_buckets()["Buckets"]}:
        s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    return BUCKET


@pytest.fixture
def job_env(monkeypatch: pytest.MonkeyPatch, fresh_settings: None) -> None:
    """The dispatcher's environment on AWS, plus values that must never reach a request."""
    for name, value in {
        "JUDGE": "bedrock",
        "BEDROCK_REGION": "us-east-1",
        "MODEL_OUTPUTS_BUCKET": BUCKET,
        "API_URL": "https://mlops.example.com",
        "API_KEY_SECRET_ID": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:mlops/evaluator-api-key-Zz",
        "HF_TOKEN_SECRET_ID": HF_SECRET_ARN,
        "HF_TOKEN": HF_TOKEN_VALUE,
        "EVALUATOR_API_KEY": EVALUATOR_KEY,
    }.items():
        monkeypatch.setenv(name, value)


def task(token: str) -> EvaluationTask:
    return EvaluationTask(
        task_token=token,
        run_id=7,
        model_name="mistral-7b-rag-qa",
        model_id="mistralai/Mistral-7B-v0.1",
        task_type="finetune",
        artifact_uri=f"s3://{BUCKET}/mistral-7b-rag-qa/run-7/output/model.tar.gz",
        eval_dataset_uri=f"s3://{BUCKET}/datasets/eval.jsonl",
        ml_score_threshold=0.7,
    )


def settings() -> EvaluationSettings:
    return EvaluationSettings(MODEL_OUTPUTS_BUCKET=BUCKET, EVALUATION_JOB_TIMEOUT_SECONDS=7200)


def stubbed_sagemaker(monkeypatch: pytest.MonkeyPatch) -> Stubber:
    """The real sagemaker client with a Stubber (no SageMaker here); S3 and Step Functions stay the
    emulator's."""
    client = boto3.client(
        "sagemaker", region_name="eu-west-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    real = aws_client
    monkeypatch.setattr(sagemaker, "aws_client", lambda s: client if s == "sagemaker" else real(s))
    return Stubber(client)


def test_the_processing_job_request_has_the_real_shape_and_no_secret(
    job_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    request = sagemaker.create_job_request(task("the-task-token"), settings(), PROCESSING)
    stub = stubbed_sagemaker(monkeypatch)
    # Stubber validates the request against the real CreateProcessingJob input shape
    stub.add_response(
        "create_processing_job",
        {
            "ProcessingJobArn": f"arn:aws:sagemaker:eu-west-1:123456789012:processing-job/{request['ProcessingJobName']}"
        },
        request,
    )
    with stub:
        sagemaker.aws_client("sagemaker").create_processing_job(**request)
    stub.assert_no_pending_responses()

    name = request["ProcessingJobName"]
    assert name.startswith("mistral-7b-rag-qa-eval-7-")
    assert len(name) <= 63
    assert request["AppSpecification"] == {
        "ImageUri": PROCESSING.image,
        "ContainerEntrypoint": ["python", "-m", "mlops_evaluation", "job"],
    }
    assert request["ProcessingResources"]["ClusterConfig"] == {
        "InstanceCount": 1,
        "InstanceType": "ml.g5.2xlarge",
        "VolumeSizeInGB": 100,
    }
    assert request["StoppingCondition"] == {"MaxRuntimeInSeconds": 7200}
    [task_input] = request["ProcessingInputs"]
    folder = f"s3://{BUCKET}/mistral-7b-rag-qa/evaluations/run-7/{name}/"
    assert task_input["S3Input"]["S3Uri"] == f"{folder}input/"
    assert task_input["S3Input"]["LocalPath"] == "/opt/ml/processing/input/task"
    assert request["NetworkConfig"]["VpcConfig"] == {
        "SecurityGroupIds": ["sg-0123456789abcdef0"],
        "Subnets": ["subnet-0a1b2c3d", "subnet-4e5f6a7b"],
    }
    environment = request["Environment"]
    assert environment["HF_TOKEN_SECRET_ID"] == HF_SECRET_ARN  # the secret's id travels...
    assert environment["JUDGE"] == "bedrock"
    assert environment["RUN_ID"] == "7"
    assert environment["HF_HOME"] == "/opt/ml/processing/huggingface"  # on the job's storage volume
    body = json.dumps(request)
    # ...never the token, the worker's key or the task token (Describe would show them)
    for secret in (HF_TOKEN_VALUE, EVALUATOR_KEY, "the-task-token"):
        assert secret not in body
    assert "HF_TOKEN" not in environment
    assert "EVALUATOR_API_KEY" not in environment


def test_the_strict_emulator_accepts_the_job_and_the_token_waits_in_its_folder(
    job_env: None, bucket: str, waiting_task: WaitingTask, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EVALUATION_BACKEND", "sagemaker")
    for name, value in {
        "EVALUATION_IMAGE": PROCESSING.image,
        "EVALUATION_JOB_ROLE_ARN": PROCESSING.role_arn,
        "EVALUATION_SUBNET_IDS": PROCESSING.subnets,
        "EVALUATION_SECURITY_GROUP_IDS": PROCESSING.security_groups,
    }.items():
        monkeypatch.setenv(name, value)
    started = task(waiting_task.token)
    body = started.model_dump_json()

    assert handler(_sqs_event(body), None) == {"batchItemFailures": []}

    name = sagemaker.job_name(started)
    job = aws_client("sagemaker").describe_processing_job(ProcessingJobName=name)
    assert job["AppSpecification"]["ContainerEntrypoint"] == ["python", "-m", "mlops_evaluation", "job"]
    described = json.dumps(job, default=str)
    assert waiting_task.token not in described
    assert HF_TOKEN_VALUE not in described
    key = f"mistral-7b-rag-qa/evaluations/run-7/{name}/input/task.json"
    stored = aws_client("s3").get_object(Bucket=BUCKET, Key=key)
    assert stored["ServerSideEncryption"] == "AES256"
    assert json.loads(stored["Body"].read())["task_token"] == waiting_task.token
    with pytest.raises(TimeoutError):
        waiting_task.result(timeout=1)  # the job answers; nothing did yet


QUOTA = (
    "The account-level service limit 'ml.g5.2xlarge for processing job usage' is 0 Instances, with current "
    "utilization of 0 Instances and a request delta of 1 Instances."
)


def test_a_refused_job_fails_the_task_with_awss_code_and_message(
    job_env: None, bucket: str, waiting_task: WaitingTask, monkeypatch: pytest.MonkeyPatch
) -> None:
    refused = task(waiting_task.token)
    stub = stubbed_sagemaker(monkeypatch)
    stub.add_client_error(
        "create_processing_job",
        service_error_code="ResourceLimitExceeded",
        service_message=QUOTA,
        http_status_code=400,
        expected_params=sagemaker.create_job_request(refused, settings(), PROCESSING),
    )
    with stub:
        assert sagemaker.dispatch_sagemaker(refused, settings(), PROCESSING) == "failed"
    result = waiting_task.result()
    assert (result["status"], result["error"]) == ("FAILED", "ResourceLimitExceeded")
    assert result["cause"] == f"CreateProcessingJob: {QUOTA}"


def _describe(stub: Stubber, name: str, status: str, folder: str, **extra: Any) -> None:
    stub.add_response(
        "describe_processing_job",
        {
            "ProcessingJobName": name,
            "ProcessingJobArn": f"arn:aws:sagemaker:eu-west-1:123456789012:processing-job/{name}",
            "ProcessingJobStatus": status,
            "ProcessingInputs": [
                {
                    "InputName": "task",
                    "S3Input": {
                        "S3Uri": f"{folder}input/",
                        "LocalPath": "/opt/ml/processing/input/task",
                        "S3DataType": "S3Prefix",
                        "S3InputMode": "File",
                    },
                }
            ],
            "ProcessingResources": {
                "ClusterConfig": {"InstanceCount": 1, "InstanceType": "ml.g5.2xlarge", "VolumeSizeInGB": 100}
            },
            "AppSpecification": {"ImageUri": PROCESSING.image},
            "CreationTime": "2026-12-07T04:00:00Z",
            **extra,
        },
        {"ProcessingJobName": name},
    )


def test_a_job_that_fails_before_answering_fails_the_task_once(
    job_env: None, bucket: str, waiting_task: WaitingTask, monkeypatch: pytest.MonkeyPatch
) -> None:
    failed = task(waiting_task.token)
    name = sagemaker.job_name(failed)
    folder = f"s3://{BUCKET}/{sagemaker.job_folder(failed, name)}"
    aws_client("s3").put_object(
        Bucket=BUCKET,
        Key=f"{sagemaker.job_folder(failed, name)}input/task.json",
        Body=failed.model_dump_json(),
    )
    stub = stubbed_sagemaker(monkeypatch)
    reason = {
        "FailureReason": "AlgorithmError: see logs",
        "ExitMessage": "OutOfMemoryError: CUDA out of memory",
    }
    _describe(stub, name, "Failed", folder, **reason)
    _describe(stub, name, "Failed", folder, **reason)  # EventBridge delivered the event twice
    event: dict[str, Any] = {
        "source": "aws.sagemaker",
        "detail-type": "SageMaker Processing Job State Change",
        "detail": {"ProcessingJobName": name, "ProcessingJobStatus": "Failed"},
    }
    with stub:
        assert completion_handler(event, None) == {"outcome": "failed"}
        assert completion_handler(event, None) == {"outcome": "already answered"}
    result = waiting_task.result()
    assert (result["status"], result["error"]) == ("FAILED", "Evaluation.JobFailed")
    assert "CUDA out of memory" in result["cause"]
    assert name in result["cause"]
    running = {**event, "detail": {**event["detail"], "ProcessingJobStatus": "InProgress"}}
    assert sagemaker.handle_state_change(running) is None


def _sqs_event(body: str) -> dict[str, Any]:
    return {
        "Records": [
            {
                "messageId": "m-1",
                "receiptHandle": "rh",
                "body": body,
                "attributes": {"ApproximateReceiveCount": "1"},
                "messageAttributes": {},
                "md5OfBody": "",
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:eu-west-1:123456789012:mlops-evaluation-queue",
                "awsRegion": "eu-west-1",
            }
        ]
    }
