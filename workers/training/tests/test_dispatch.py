"""Training dispatch: the local backend runs the entrypoint in a SageMaker layout and answers a real
task token; the SageMaker backend's requests are checked against botocore's shapes (Stubber)."""

from __future__ import annotations

import json
import re
import sys
import textwrap
from pathlib import Path
from typing import Any

import boto3
import pytest
from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError
from botocore.stub import Stubber

from mlops_contracts.aws import aws_client
from mlops_testkit.servers import WaitingTask
from mlops_training.dispatch import local, sagemaker
from mlops_training.dispatch.handler import completion_handler, handler
from mlops_training.dispatch.messages import TrainingTask, split_s3_uri

BUCKET = "dispatch-test"

# Stands in for the training program (its own tests live beside it): it reads the SageMaker
# layout the dispatcher prepared and writes what a real job writes.
FAKE_ENTRYPOINT = textwrap.dedent(
    """
    import json, sys, tarfile, pathlib
    root = pathlib.Path(sys.argv[sys.argv.index("--root") + 1])
    hp = json.loads((root / "input/config/hyperparameters.json").read_text())
    rows = (root / "input/data/train").glob("*.jsonl")
    lines = sum(len(p.read_text().splitlines()) for p in rows)
    if hp.get("fail"):
        (root / "output/failure").write_text("train.jsonl line 2: answer: Field required")
        sys.exit(1)
    import os
    keys = sorted(k for k in os.environ if "API_KEY" in k)
    (root / "model/metrics.json").write_text(json.dumps({"train_loss": 0.5, "rows": lines, "epochs": hp["epochs"], "keys": keys}))
    with tarfile.open(root / "model/model.tar.gz", "w:gz") as tar:
        tar.add(root / "model/metrics.json", arcname="metrics.json")
    """
)


@pytest.fixture
def fake_entrypoint(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    script = tmp_path / "fake_train.py"
    script.write_text(FAKE_ENTRYPOINT)
    monkeypatch.setenv("TRAINING_ENTRYPOINT", f"{sys.executable} {script}")


@pytest.fixture
def dataset(emulator: Any) -> str:
    s3 = aws_client("s3")
    if BUCKET not in {b["Name"] for b in s3.list_buckets()["Buckets"]}:
        s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    s3.put_object(Bucket=BUCKET, Key="train/abc/train.jsonl", Body=b'{"q": 1}\n{"q": 2}\n')
    return f"s3://{BUCKET}/train/abc/train.jsonl"


def task(token: str, dataset_uri: str, **hyperparameters: Any) -> TrainingTask:
    return TrainingTask(
        task_token=token,
        run_id=7,
        model_name="mistral-7b-rag-qa",
        model_id="mistralai/Mistral-7B-v0.1",
        train_dataset_uri=dataset_uri,
        hyperparameters={"epochs": 2, "max_runtime_seconds": 600, **hyperparameters},
        output_uri=f"s3://{BUCKET}/mistral-7b-rag-qa/run-7/",
    )


def sqs_event(body: dict[str, Any]) -> dict[str, Any]:
    return {
        "Records": [
            {
                "messageId": "m-1",
                "receiptHandle": "rh",
                "body": json.dumps(body),
                "attributes": {"ApproximateReceiveCount": "1"},
                "messageAttributes": {},
                "md5OfBody": "",
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:eu-west-1:123456789012:mlops-training-queue",
                "awsRegion": "eu-west-1",
            }
        ]
    }


def test_local_backend_trains_and_answers_the_token(
    waiting_task: WaitingTask, dataset: str, fake_entrypoint: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRAINING_BACKEND", "local")
    monkeypatch.setenv("TRAINER_API_KEY", "mlk_trainer_secret")
    body = task(waiting_task.token, dataset).model_dump()
    assert handler(sqs_event(body), None) == {"batchItemFailures": []}
    result = waiting_task.result()
    assert result["status"] == "SUCCEEDED"
    output = json.loads(result["output"])
    assert output["artifact_uri"] == f"s3://{BUCKET}/mistral-7b-rag-qa/run-7/model.tar.gz"
    # hyperparameters reach the program as SageMaker passes them: strings
    # (and the job sees no worker's API key: TRAINER_API_KEY is the dispatcher's)
    assert output["metrics"] == {"train_loss": 0.5, "rows": 2, "epochs": "2", "keys": []}
    artifact = aws_client("s3").get_object(Bucket=BUCKET, Key="mistral-7b-rag-qa/run-7/model.tar.gz")
    assert artifact["Body"].read()[:2] == b"\x1f\x8b"  # gzip


def test_local_backend_reports_the_failure_reason(
    waiting_task: WaitingTask, dataset: str, fake_entrypoint: None
) -> None:
    local.dispatch_local(task(waiting_task.token, dataset, fail=True))
    result = waiting_task.result()
    assert result["status"] == "FAILED"
    assert result["error"] == "TrainingFailed"


def test_local_backend_stops_a_job_the_workflow_gave_up_on(
    dataset: str, fake_entrypoint: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    slow = tmp_path / "slow.py"
    slow.write_text("import time; time.sleep(60)")
    monkeypatch.setenv("TRAINING_ENTRYPOINT", f"{sys.executable} {slow}")
    with pytest.raises(local.TrainingFailed, match="stopped waiting"):
        local.run_training(task("token", dataset), heartbeat_seconds=0.3, beat=lambda _: False)
    with pytest.raises(local.TrainingFailed, match="runtime limit"):
        local.run_training(task("token", dataset), timeout_seconds=0.5, beat=lambda _: True)


def test_bad_backend_and_bad_messages_fail_the_batch(monkeypatch: pytest.MonkeyPatch) -> None:
    # When every record fails, powertools raises so that Lambda retries the whole batch.
    with pytest.raises(BatchProcessingError, match="train_dataset_uri"):
        handler(sqs_event({"task_token": "t"}), None)
    monkeypatch.setenv("TRAINING_BACKEND", "batch")
    body = task("t", "s3://b/k.jsonl").model_dump()
    with pytest.raises(BatchProcessingError, match="TRAINING_BACKEND must be"):
        handler(sqs_event(body), None)


def test_sagemaker_request_has_the_seeds_parameters(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = sagemaker.SageMakerSettings(
        TRAINING_IMAGE="123456789012.dkr.ecr.eu-west-1.amazonaws.com/mlops-training:abc",
        SAGEMAKER_ROLE_ARN="arn:aws:iam::123456789012:role/mlops-sagemaker-execution",
    )
    request = sagemaker.create_job_request(
        task("tok", "s3://data/train/t.jsonl", max_runtime_seconds=3600), settings
    )
    client = boto3.client(
        "sagemaker", region_name="eu-west-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    with Stubber(client) as stub:
        # Stubber validates the request against the real CreateTrainingJob input shape.
        stub.add_response(
            "create_training_job",
            {"TrainingJobArn": "arn:aws:sagemaker:eu-west-1:123456789012:training-job/x"},
            request,
        )
        client.create_training_job(**request)
    assert request["TrainingJobName"] == sagemaker.job_name(task("tok", "s3://data/train/t.jsonl"))
    assert request["TrainingJobName"].startswith("mistral-7b-rag-qa-run-7-")
    assert request["ResourceConfig"]["InstanceType"] == "ml.g5.2xlarge"  # gpu_sizing's default
    assert request["EnableManagedSpotTraining"] is True
    assert request["StoppingCondition"] == {"MaxRuntimeInSeconds": 3600, "MaxWaitTimeInSeconds": 7200}
    assert request["HyperParameters"]["epochs"] == "2"
    assert request["HyperParameters"]["model_id"] == "mistralai/Mistral-7B-v0.1"
    assert request["OutputDataConfig"]["S3OutputPath"] == f"s3://{BUCKET}/mistral-7b-rag-qa/run-7/"
    assert {"Key": "run_id", "Value": "7"} in request["Tags"]
    # the training worker's metric lines become SageMaker metrics (charts, FinalMetricDataList)
    definitions = request["AlgorithmSpecification"]["MetricDefinitions"]
    assert {d["Name"] for d in definitions} >= {"train:loss", "train:learning_rate", "train:epoch"}
    line = "[metrics] step=20 epoch=0.500 train_loss=1.2345 learning_rate=1.900e-04 grad_norm=0.4321"
    scraped = {}
    for d in definitions:
        found = re.search(d["Regex"], line)
        if found:
            scraped[d["Name"]] = found.group(1)
    assert scraped == {
        "train:loss": "1.2345",
        "train:learning_rate": "1.900e-04",
        "train:grad_norm": "0.4321",
        "train:epoch": "0.500",
    }


def _stub_describe(
    stub: Stubber,
    status: str,
    *,
    job: str = "mistral-7b-rag-qa-run-7",
    output: str = f"s3://{BUCKET}/mistral-7b-rag-qa/run-7/",
    **extra: Any,
) -> None:
    stub.add_response(
        "describe_training_job",
        {
            "TrainingJobName": job,
            "TrainingJobArn": f"arn:aws:sagemaker:eu-west-1:123456789012:training-job/{job}",
            "ModelArtifacts": {
                "S3ModelArtifacts": f"s3://{BUCKET}/mistral-7b-rag-qa/run-7/output/model.tar.gz"
            },
            "TrainingJobStatus": status,
            "SecondaryStatus": status,
            "AlgorithmSpecification": {"TrainingImage": "img", "TrainingInputMode": "File"},
            "ResourceConfig": {"InstanceType": "ml.g4dn.xlarge", "InstanceCount": 1, "VolumeSizeInGB": 50},
            "StoppingCondition": {"MaxRuntimeInSeconds": 3600},
            "CreationTime": "2026-11-23T10:00:00Z",
            "OutputDataConfig": {"S3OutputPath": output},
            **extra,
        },
        {"TrainingJobName": job},
    )


@pytest.mark.parametrize("status", ["Completed", "Failed"])
def test_completion_handler_answers_the_stored_token(
    status: str, waiting_task: WaitingTask, dataset: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the dispatcher stored the token beside the job's output (real S3 in the emulator)
    aws_client("s3").put_object(
        Bucket=BUCKET,
        Key="mistral-7b-rag-qa/run-7/task-token.json",
        Body=json.dumps({"task_token": waiting_task.token}).encode(),
    )
    client = boto3.client(
        "sagemaker", region_name="eu-west-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    stub = Stubber(client)
    extra = (
        {
            "FinalMetricDataList": [
                {"MetricName": "train_loss", "Value": 0.42, "Timestamp": "2026-11-23T11:00:00Z"}
            ]
        }
        if status == "Completed"
        else {"FailureReason": "AlgorithmError: CUDA out of memory"}
    )
    _stub_describe(stub, status, **extra)
    real_client = aws_client
    monkeypatch.setattr(sagemaker, "aws_client", lambda s: client if s == "sagemaker" else real_client(s))
    event: dict[str, Any] = {
        "detail-type": "SageMaker Training Job State Change",
        "source": "aws.sagemaker",
        "detail": {"TrainingJobName": "mistral-7b-rag-qa-run-7", "TrainingJobStatus": status},
    }
    with stub:
        outcome = sagemaker.handle_state_change(event)
    result = waiting_task.result()
    if status == "Completed":
        assert outcome == "succeeded"
        assert result["status"] == "SUCCEEDED"
        assert json.loads(result["output"]) == {
            "artifact_uri": f"s3://{BUCKET}/mistral-7b-rag-qa/run-7/output/model.tar.gz",
            "metrics": {"train_loss": 0.42},
        }
    else:
        assert outcome == "failed"
        assert result["status"] == "FAILED"
        assert result["error"] == "TrainingFailed"
    running = {**event, "detail": {**event["detail"], "TrainingJobStatus": "InProgress"}}
    assert sagemaker.handle_state_change(running) is None


SAGEMAKER_SETTINGS = sagemaker.SageMakerSettings(
    TRAINING_IMAGE="123456789012.dkr.ecr.eu-west-1.amazonaws.com/mlops-training:abc",
    SAGEMAKER_ROLE_ARN="arn:aws:iam::123456789012:role/mlops-sagemaker-role",
)


def test_job_names_are_unique_per_attempt_and_fit_sagemakers_pattern() -> None:
    # Names were '{model}-run-{run_id}': a second environment, a database reset or a second
    # execution of the run asked SageMaker for a name it had already used.
    first, second = task("token-1", "s3://b/k.jsonl"), task("token-2", "s3://b/k.jsonl")
    assert sagemaker.job_name(first) != sagemaker.job_name(second)
    assert sagemaker.job_name(first) == sagemaker.job_name(first)  # a redelivery keeps its name
    long = first.model_copy(update={"model_name": "Llama_3.1 " + "x" * 80, "run_id": 123456789})
    name = sagemaker.job_name(long)
    assert len(name) <= 63
    assert re.fullmatch(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$", name)
    assert name.startswith("Llama-3-1-x")
    assert "-run-123456789-" in name
    request = sagemaker.create_job_request(long, SAGEMAKER_SETTINGS)
    assert {"Key": "run_id", "Value": "123456789"} in request["Tags"]  # the run stays findable
    assert request["Environment"]["RUN_ID"] == "123456789"


def _stub_sagemaker(monkeypatch: pytest.MonkeyPatch) -> tuple[Any, Stubber]:
    """The real sagemaker client with a Stubber (no SageMaker here); S3 and Step Functions stay
    the emulator's."""
    client = boto3.client(
        "sagemaker", region_name="eu-west-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    real_client = aws_client
    monkeypatch.setattr(sagemaker, "aws_client", lambda s: client if s == "sagemaker" else real_client(s))
    return client, Stubber(client)


QUOTA_MESSAGE = (
    "The account-level service limit 'ml.g4dn.xlarge for spot training job usage' is 0 Instances, with "
    "current utilization of 0 Instances and a request delta of 1 Instances. Please use AWS Service Quotas "
    "to request an increase for this quota."
)


def test_a_refused_training_job_fails_the_task_with_awss_code_and_message(
    waiting_task: WaitingTask, dataset: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The error went unhandled: the message was retried into the DLQ and the run sat in
    # 'training' until the workflow's timeout, then failed with a bare States.Timeout.
    monkeypatch.setenv("TRAINING_BACKEND", "sagemaker")
    for name, value in (
        ("TRAINING_IMAGE", "img:1"),
        ("SAGEMAKER_ROLE_ARN", SAGEMAKER_SETTINGS.training_role_arn),
    ):
        monkeypatch.setenv(name, value)
    refused = task(waiting_task.token, dataset)
    _, stub = _stub_sagemaker(monkeypatch)
    stub.add_client_error(
        "create_training_job",
        service_error_code="ResourceLimitExceeded",
        service_message=QUOTA_MESSAGE,
        http_status_code=400,
        expected_params=sagemaker.create_job_request(refused, sagemaker.SageMakerSettings()),
    )
    with stub:
        # the message is done (acknowledged), not handed back for a retry
        assert handler(sqs_event(refused.model_dump()), None) == {"batchItemFailures": []}
    stub.assert_no_pending_responses()
    result = waiting_task.result()
    assert result["status"] == "FAILED"
    assert result["error"] == "ResourceLimitExceeded"
    assert result["cause"] == f"CreateTrainingJob: {QUOTA_MESSAGE}"


def test_a_refusal_longer_than_step_functions_takes_is_cut_to_its_limits(
    waiting_task: WaitingTask, dataset: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    refused = task(waiting_task.token, dataset)
    _, stub = _stub_sagemaker(monkeypatch)
    stub.add_client_error(
        "create_training_job",
        service_error_code="E" * 300,
        service_message="m" * 40_000,
        http_status_code=400,
    )
    with stub:
        assert sagemaker.dispatch_sagemaker(refused, SAGEMAKER_SETTINGS) is None
    result = waiting_task.result()
    assert result["error"] == "E" * 256
    assert len(result["cause"]) == 32_768


def test_a_redelivered_task_whose_job_already_started_is_done(
    waiting_task: WaitingTask, dataset: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    delivered = task(waiting_task.token, dataset)
    name = sagemaker.job_name(delivered)
    _, stub = _stub_sagemaker(monkeypatch)
    stub.add_client_error(
        "create_training_job",
        service_error_code="ResourceInUse",
        service_message="Training job names must be unique within an AWS account and region, and a "
        f"training job with this name already exists (arn:aws:sagemaker:eu-west-1:123456789012:training-job/{name})",
        http_status_code=400,
    )
    _stub_describe(stub, "InProgress", job=name, output=delivered.output_uri)
    with stub:
        assert sagemaker.dispatch_sagemaker(delivered, SAGEMAKER_SETTINGS) == name
    stub.assert_no_pending_responses()
    with pytest.raises(TimeoutError):
        waiting_task.result(timeout=1)  # nothing answered: the job runs and its end will answer


def test_the_completion_handler_takes_a_repeated_event_as_done(
    waiting_task: WaitingTask, dataset: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # EventBridge delivered "Training Job State Change" twice: the second SendTaskSuccess raised
    # on the closed token, the function errored and its error alarm fired.
    started = task(waiting_task.token, dataset)
    name = sagemaker.job_name(started)
    _, stub = _stub_sagemaker(monkeypatch)
    stub.add_client_error("create_training_job", service_error_code="ResourceInUse", http_status_code=400)
    stub.add_client_error(
        "describe_training_job", service_error_code="ValidationException", http_status_code=400
    )
    # a name in use by something else is a refusal like any other...
    with stub:
        sagemaker.dispatch_sagemaker(started, SAGEMAKER_SETTINGS)
    assert waiting_task.result()["error"] == "ResourceInUse"
    # ...so the token is closed now; the job's token object is where the dispatcher keeps it
    bucket, prefix = split_s3_uri(started.output_uri)
    aws_client("s3").put_object(
        Bucket=bucket,
        Key=sagemaker.token_key(prefix, name),
        Body=json.dumps({"task_token": waiting_task.token}).encode(),
    )
    event: dict[str, Any] = {
        "detail-type": "SageMaker Training Job State Change",
        "source": "aws.sagemaker",
        "detail": {"TrainingJobName": name, "TrainingJobStatus": "Completed"},
    }
    _stub_describe(stub, "Completed", job=name, output=started.output_uri)
    with stub:
        assert completion_handler(event, None) == {"outcome": "already answered"}
