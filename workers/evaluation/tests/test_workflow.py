"""The evaluation step of the release workflow against the emulator and the live API: a real state
machine sends the task through SQS with a task token (`sqs:sendMessage.waitForTaskToken`), the worker
runs it through the Lambda handler or the image's runner (mlops_sqs_runtime), and the execution
resumes with the worker's answer. Results land in the API, the model-outputs bucket and CloudWatch EMF."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from mlops_contracts.aws import aws_client
from mlops_devstack.emulator import Emulator
from mlops_evaluation.handler import handler
from mlops_evaluation.judges.bedrock import build_bedrock_judge
from mlops_evaluation.judges.local import default_model_dir, load_embedder
from mlops_evaluation.messages import parse_task
from mlops_evaluation.settings import EvaluationSettings
from mlops_evaluation.worker import process_task
from mlops_sqs_runtime.lambda_sqs import LocalLambdaContext, build_event
from mlops_sqs_runtime.runner import Poller, load_handler, load_mappings
from mlops_testkit.api import OUTPUTS_BUCKET, Clients, jsonl, upload
from mlops_testkit.simulated_bedrock import SimulatedBedrock

MODEL_NAME = "tiny-rag-qa"


@dataclass
class Release:
    """A one-step release workflow: the evaluation task, with the message shape the real one sends."""

    queue_url: str
    queue_arn: str
    machine_arn: str

    def start(self, **task: Any) -> str:
        return str(
            aws_client("stepfunctions").start_execution(
                stateMachineArn=self.machine_arn, name=f"run-{uuid.uuid4().hex[:10]}", input=json.dumps(task)
            )["executionArn"]
        )

    def receive(self) -> dict[str, Any]:
        sqs = aws_client("sqs")
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            messages = sqs.receive_message(
                QueueUrl=self.queue_url,
                WaitTimeSeconds=1,
                MessageSystemAttributeNames=["All"],
                MessageAttributeNames=["All"],
            ).get("Messages", [])
            if messages:
                return dict(messages[0])
        raise AssertionError("the workflow sent no evaluation task")

    def result(self, execution_arn: str, timeout: float = 15.0) -> dict[str, Any]:
        sfn = aws_client("stepfunctions")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            described: dict[str, Any] = sfn.describe_execution(executionArn=execution_arn)
            if described["status"] != "RUNNING":
                return described
            time.sleep(0.1)
        raise AssertionError("the execution is still waiting for the evaluation")

    def lambda_event(self, message: dict[str, Any]) -> dict[str, Any]:
        return build_event([message], queue_arn=self.queue_arn)


@pytest.fixture(scope="module")
def release(emulator: Emulator) -> Release:
    sqs, sfn, s3 = aws_client("sqs"), aws_client("stepfunctions"), aws_client("s3")
    suffix = uuid.uuid4().hex[:8]
    queue_url = sqs.create_queue(QueueName=f"mlops-eval-queue-{suffix}")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    if OUTPUTS_BUCKET not in {b["Name"] for b in s3.list_buckets()["Buckets"]}:
        s3.create_bucket(
            Bucket=OUTPUTS_BUCKET, CreateBucketConfiguration={"LocationConstraint": emulator.region}
        )
    definition = {
        "StartAt": "StartEvaluation",
        "States": {
            "StartEvaluation": {
                "Type": "Task",
                "Resource": "arn:aws:states:::sqs:sendMessage.waitForTaskToken",
                "Parameters": {
                    "QueueUrl": queue_url,
                    "MessageBody": {
                        "task_token.$": "$$.Task.Token",
                        "run_id.$": "$.run_id",
                        "model_name.$": "$.model_name",
                        "model_id.$": "$.model_id",
                        "task_type.$": "$.task_type",
                        "artifact_uri.$": "$.artifact_uri",
                        "eval_dataset_uri.$": "$.eval_dataset_uri",
                        "ml_score_threshold.$": "$.ml_score_threshold",
                        "execution_arn.$": "$$.Execution.Id",
                    },
                },
                "TimeoutSeconds": 120,
                # shorter than the slow evaluations here: only heartbeats keep those alive
                "HeartbeatSeconds": 2,
                "ResultPath": "$.evaluation",
                "End": True,
            }
        },
    }
    machine_arn = sfn.create_state_machine(
        name=f"release-eval-{suffix}",
        definition=json.dumps(definition),
        roleArn="arn:aws:iam::123456789012:role/release-workflow",
    )["stateMachineArn"]
    return Release(queue_url, queue_arn, machine_arn)


@pytest.fixture(scope="module")
def artifact_uri(release: Release, artifact: Path, run: dict[str, Any]) -> str:
    key = f"{MODEL_NAME}/run-{run['id']}/output/model.tar.gz"  # the workflow's output_uri of the run
    aws_client("s3").upload_file(str(artifact), OUTPUTS_BUCKET, key)
    return f"s3://{OUTPUTS_BUCKET}/{key}"


@pytest.fixture(scope="module")
def run(clients: Clients, tiny_model: Path, eval_rows: list[dict[str, Any]]) -> dict[str, Any]:
    """A run in the API, with its evaluation dataset uploaded through the API (to S3)."""
    with clients.as_("operator") as op:
        train = upload(
            op, "eval-worker-train", "train", jsonl({"question": "Q?", "context": "C.", "answer": "A."})
        )
        evaluation = upload(op, "eval-worker-eval", "eval", jsonl(*eval_rows))
        assert train.status_code == 201, train.text
        assert evaluation.status_code == 201, evaluation.text
        created = op.post(
            "/runs",
            json={
                "model_name": MODEL_NAME,
                "model_id": str(tiny_model),
                "task_type": "finetune",
                "experiment_name": "evaluation-worker",
                "train_dataset_id": train.json()["id"],
                "eval_dataset_id": evaluation.json()["id"],
                "ml_score_threshold": 0.0,
            },
        )
        assert created.status_code == 201, created.text
    return {"id": created.json()["id"], "eval_dataset_uri": evaluation.json()["s3_uri"]}


@pytest.fixture(scope="module")
def warm_local_judge() -> None:
    """Load the embedding model once, as a Lambda's init phase would: a first import of
    sentence-transformers holds the GIL long enough to delay a 2 s heartbeat."""
    load_embedder(str(default_model_dir()), None)


@pytest.fixture
def worker_env(
    monkeypatch: pytest.MonkeyPatch,
    clients: Clients,
    tmp_path: Path,
    fresh_settings: None,
    warm_local_judge: None,
) -> Iterator[None]:
    monkeypatch.setenv("JUDGE", "local")
    monkeypatch.setenv("MODEL_OUTPUTS_BUCKET", OUTPUTS_BUCKET)
    monkeypatch.setenv("API_URL", clients.base_url)
    monkeypatch.delenv("API_KEY", raising=False)
    monkeypatch.setenv("EVALUATOR_API_KEY", clients.keys["evaluator"])  # the worker's own key
    monkeypatch.setenv("HEARTBEAT_SECONDS", "0.3")
    monkeypatch.setenv("MAX_NEW_TOKENS", "12")
    monkeypatch.setenv("WORK_DIR", str(tmp_path / "work"))
    return


def task_input(
    run: dict[str, Any], tiny_model: Path, artifact_uri: str | None, **overrides: Any
) -> dict[str, Any]:
    return {
        "run_id": run["id"],
        "model_name": MODEL_NAME,
        "model_id": str(tiny_model),
        "task_type": "finetune" if artifact_uri else "eval_only",
        "artifact_uri": artifact_uri,
        "eval_dataset_uri": run["eval_dataset_uri"],
        "ml_score_threshold": 0.0,
        **overrides,
    }


def evaluation_result(clients: Clients, run_id: int) -> dict[str, Any]:
    with clients.as_("viewer") as viewer:
        detail = viewer.get(f"/runs/{run_id}")
    assert detail.status_code == 200, detail.text
    [result] = [r for r in detail.json()["results"] if r["stage"] == "evaluation"]
    return dict(result)


def emf_records(output: str) -> list[dict[str, Any]]:
    records = []
    for line in output.splitlines():
        if line.startswith("{") and '"_aws"' in line:
            records.append(json.loads(line))
    return records


def test_evaluation_through_the_lambda_handler(
    release: Release,
    run: dict[str, Any],
    artifact_uri: str,
    tiny_model: Path,
    clients: Clients,
    worker_env: None,
    capsys: pytest.CaptureFixture[str],
    eval_rows: list[dict[str, Any]],
) -> None:
    execution = release.start(**task_input(run, tiny_model, artifact_uri))
    message = release.receive()
    assert parse_task(message["Body"]).execution_arn == execution
    event = release.lambda_event(message)
    context = LocalLambdaContext(
        "mlops-evaluation", "arn:aws:lambda:eu-west-1:123456789012:function:eval", 900
    )

    response = handler(event, context)

    assert response == {"batchItemFailures": []}
    described = release.result(execution)
    assert described["status"] == "SUCCEEDED", described
    answer = json.loads(described["output"])["evaluation"]
    assert set(answer) == {"passed", "ml_score", "scores", "coverage"}
    assert answer["passed"] is True
    assert answer["coverage"] == 1.0
    assert set(answer["scores"]) == {
        "faithfulness",
        "answer_relevancy",
        "context_precision",
        "context_recall",
    }

    # the summary in the API (the evaluator key), with the per-sample rows in the model-outputs bucket
    result = evaluation_result(clients, run["id"])
    assert result["ml_score"] == answer["ml_score"]
    assert result["passed"] is True
    summary = result["metrics"]
    assert summary["scores"] == answer["scores"]
    assert (summary["samples"], summary["scored_samples"], summary["unscored_samples"]) == (4, 4, 0)
    assert summary["judge"]["kind"] == "local"
    assert summary["cost_usd"] == 0.0
    assert summary["inference"]["entrypoint"] == "in-process"  # EVALUATION_BACKEND=lambda
    assert summary["execution_arn"] == execution
    execution_name = execution.rsplit(":", 1)[-1]
    assert summary["samples_uri"] == (
        f"s3://{OUTPUTS_BUCKET}/{MODEL_NAME}/evaluations/run-{run['id']}/{execution_name}/samples.jsonl"
    )
    key = summary["samples_uri"].split("/", 3)[3]
    body = aws_client("s3").get_object(Bucket=OUTPUTS_BUCKET, Key=key)["Body"].read().decode()
    rows = [json.loads(line) for line in body.splitlines()]
    assert [r["question"] for r in rows] == [r["question"] for r in eval_rows]
    assert all({"answer", "faithfulness", "context_recall", "error"} <= set(r) for r in rows)

    # MLScore as a CloudWatch EMF metric
    [emf] = emf_records(capsys.readouterr().out)
    assert emf["MLScore"] == [answer["ml_score"]]
    assert emf["ModelName"] == MODEL_NAME
    directive = emf["_aws"]["CloudWatchMetrics"][0]
    assert {"Name": "MLScore", "Unit": "None"} in directive["Metrics"]

    # a redelivered message finds its token closed: nothing is evaluated or changed again
    updated_at = result["updated_at"]
    assert handler(event, context) == {"batchItemFailures": []}
    assert evaluation_result(clients, run["id"])["updated_at"] == updated_at


def test_eval_only_below_threshold_through_the_long_running_consumer(
    release: Release, run: dict[str, Any], tiny_model: Path, clients: Clients, worker_env: None
) -> None:
    execution = release.start(**task_input(run, tiny_model, None, ml_score_threshold=1.0))

    # the evaluation image's default command: the runner with the platform's evaluation mapping
    config = load_mappings()["evaluation"].model_copy(
        update={"queue_url": release.queue_url, "queue_url_env": None}
    )
    outcome = Poller(config, load_handler(config.handler), threading.Event()).poll_once()
    processed = len(outcome.deleted) if outcome is not None else 0

    assert processed == 1
    described = release.result(execution)
    assert described["status"] == "SUCCEEDED"
    answer = json.loads(described["output"])["evaluation"]
    assert answer["passed"] is False  # a verdict below the threshold, not an error
    assert 0.0 <= answer["ml_score"] < 1.0
    result = evaluation_result(clients, run["id"])
    assert result["passed"] is False
    assert result["metrics"]["threshold"] == 1.0
    assert result["metrics"]["task_type"] == "eval_only"
    assert result["metrics"]["artifact_uri"] is None
    assert (
        aws_client("sqs").receive_message(QueueUrl=release.queue_url, WaitTimeSeconds=0).get("Messages")
        is None
    )


def test_malformed_dataset_fails_the_task_with_the_line_and_field(
    release: Release,
    run: dict[str, Any],
    artifact_uri: str,
    tiny_model: Path,
    clients: Clients,
    worker_env: None,
) -> None:
    key = "eval/broken.jsonl"
    aws_client("s3").put_object(
        Bucket=OUTPUTS_BUCKET,
        Key=key,
        Body=jsonl(
            {"question": "Q?", "contexts": ["C."], "ground_truth": "G."},
            {"question": "Q?", "contexts": ["C."]},
        ),
    )
    execution = release.start(
        **task_input(run, tiny_model, artifact_uri, eval_dataset_uri=f"s3://{OUTPUTS_BUCKET}/{key}")
    )
    event = release.lambda_event(release.receive())

    assert handler(event, None) == {"batchItemFailures": []}  # answered: nothing to redeliver

    described = release.result(execution)
    assert described["status"] == "FAILED"
    assert described["error"] == "Evaluation.InvalidDataset"
    result = evaluation_result(clients, run["id"])
    assert result["passed"] is False
    assert result["ml_score"] is None
    assert "line 2: field 'ground_truth': Field required" in result["metrics"]["error"]["reason"]


def test_invalid_messages(
    release: Release, run: dict[str, Any], artifact_uri: str, tiny_model: Path, worker_env: None
) -> None:
    execution = release.start(**task_input(run, tiny_model, artifact_uri))
    message = release.receive()
    body = json.loads(message["Body"])
    # a task the worker cannot run, but whose token it can answer
    bad = {**message, "Body": json.dumps({**body, "ml_score_threshold": 7})}
    assert handler(release.lambda_event(bad), None) == {"batchItemFailures": []}
    described = release.result(execution)
    assert (described["status"], described["error"]) == ("FAILED", "Evaluation.InvalidMessage")
    # no token: nothing can be told, the message fails (redelivery, then the DLQ)
    tokenless = {**message, "MessageId": "m-without-token", "Body": json.dumps({"run_id": run["id"]})}
    response = handler(release.lambda_event(tokenless), None)
    assert response == {"batchItemFailures": [{"itemIdentifier": "m-without-token"}]}


def test_misconfigured_worker_still_answers(
    release: Release,
    run: dict[str, Any],
    artifact_uri: str,
    tiny_model: Path,
    worker_env: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MLSCORE_WEIGHTS", json.dumps({"faithfulness": 0.5, "answer_relevancy": 0.5}))
    execution = release.start(**task_input(run, tiny_model, artifact_uri))
    assert handler(release.lambda_event(release.receive()), None) == {"batchItemFailures": []}
    described = release.result(execution)
    assert (described["status"], described["error"]) == ("FAILED", "Evaluation.Misconfigured")


@pytest.mark.parametrize("heartbeat_seconds", [0.3, 60.0])
def test_heartbeats_keep_a_long_evaluation_alive(
    release: Release,
    run: dict[str, Any],
    artifact_uri: str,
    tiny_model: Path,
    worker_env: None,
    monkeypatch: pytest.MonkeyPatch,
    heartbeat_seconds: float,
) -> None:
    """Scoring on a slow judge (0.15 s a call, one sample at a time) outlasts the task's
    HeartbeatSeconds (2 s). With heartbeats the workflow waits; without, it times out."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    settings = EvaluationSettings(
        JUDGE="bedrock",
        BEDROCK_REGION="sa-east-1",
        MODEL_OUTPUTS_BUCKET=OUTPUTS_BUCKET,
        HEARTBEAT_SECONDS=heartbeat_seconds,
        SAMPLE_CONCURRENCY=1,
        METRICS_IN_PARALLEL=False,
        MAX_NEW_TOKENS=8,
    )
    client = aws_client("bedrock-runtime", region="sa-east-1", max_attempts=1)
    # the emulator has no Bedrock: the simulated runtime answers before any request leaves
    sim = SimulatedBedrock(latency_seconds=0.15, rpm=60_000, tpm=60_000_000, embedding_latency_seconds=0.0)
    sim.attach(client)
    try:
        judge = build_bedrock_judge(settings, runtime_client=client)
        execution = release.start(**task_input(run, tiny_model, artifact_uri))
        task = parse_task(release.receive()["Body"])
        started = time.monotonic()
        outcome = process_task(task, settings, judge=judge)
        elapsed = time.monotonic() - started
    finally:
        sim.detach(client)
    described = release.result(execution)
    assert elapsed > 3.0
    if heartbeat_seconds < 1:
        assert outcome == "passed"
        assert described["status"] == "SUCCEEDED"
    else:
        assert outcome == "token_closed"
        assert (described["status"], described["error"]) == ("FAILED", "States.Timeout")


# --- EVALUATION_BACKEND (docs/decisions/0020-evaluation-as-a-processing-job.md) ------------------


def receive_own(release: Release, execution: str) -> dict[str, Any]:
    """This execution's task: earlier tests' messages, back after their visibility timeout, are
    deleted on the way (as Lambda would have once it had handled them)."""
    sqs = aws_client("sqs")
    while True:
        message = release.receive()
        if parse_task(message["Body"]).execution_arn == execution:
            return message
        sqs.delete_message(QueueUrl=release.queue_url, ReceiptHandle=message["ReceiptHandle"])


def test_evaluation_through_the_job_entrypoint(
    release: Release,
    run: dict[str, Any],
    artifact_uri: str,
    tiny_model: Path,
    clients: Clients,
    worker_env: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """EVALUATION_BACKEND=local (make dev's and make demo's): the handler runs the container
    entrypoint `python -m mlops_evaluation job` as a subprocess in a SageMaker Processing layout; the
    job evaluates, publishes and answers the token itself."""
    monkeypatch.setenv("EVALUATION_BACKEND", "local")
    execution = release.start(**task_input(run, tiny_model, artifact_uri))
    message = receive_own(release, execution)

    assert handler(release.lambda_event(message), None) == {"batchItemFailures": []}
    # done, as Lambda's event-source mapping deletes it (the job outlasts the visibility timeout)
    aws_client("sqs").delete_message(QueueUrl=release.queue_url, ReceiptHandle=message["ReceiptHandle"])

    described = release.result(execution)
    assert described["status"] == "SUCCEEDED", described
    answer = json.loads(described["output"])["evaluation"]
    result = evaluation_result(clients, run["id"])
    assert result["ml_score"] == answer["ml_score"]
    assert result["metrics"]["execution_arn"] == execution
    assert result["metrics"]["samples"] == 4
    assert result["metrics"]["judge"]["kind"] == "local"
    # the answers were generated by the job entrypoint (the SageMaker job's), not the consumer
    assert result["metrics"]["inference"] == {
        "entrypoint": "job",
        "engine": "transformers",
        "device": "cpu",
        "dtype": "float32",
    }


def test_a_job_that_dies_before_answering_fails_the_task(
    release: Release,
    run: dict[str, Any],
    artifact_uri: str,
    tiny_model: Path,
    worker_env: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A job killed before it answers (out of memory: exit 137) fails the task with the job's log,
    not the workflow's timeout; the message is done."""
    import shlex
    import sys

    monkeypatch.setenv("EVALUATION_BACKEND", "local")
    died = "import sys; print('CUDA out of memory'); sys.exit(137)"
    monkeypatch.setenv("EVALUATION_JOB_ENTRYPOINT", shlex.join([sys.executable, "-c", died]))
    execution = release.start(**task_input(run, tiny_model, artifact_uri))

    assert handler(release.lambda_event(receive_own(release, execution)), None) == {"batchItemFailures": []}

    described = release.result(execution)
    assert (described["status"], described["error"]) == ("FAILED", "Evaluation.JobFailed")
    assert "exited with code 137" in described["cause"]
    assert "CUDA out of memory" in described["cause"]


def test_lambda_backend_refuses_a_model_too_large_for_it(
    release: Release,
    run: dict[str, Any],
    artifact_uri: str,
    tiny_model: Path,
    worker_env: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A Mistral-7B-shaped candidate is ~27 GiB in fp32: more than a 10 GB Lambda holds. The task
    fails at once naming the need, the function's memory and the backend that fits."""
    monkeypatch.setenv("EVALUATION_BACKEND", "lambda")
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "10240")
    task = task_input(run, tiny_model, artifact_uri, model_id="mistralai/Mistral-7B-v0.1")
    execution = release.start(**task)
    started = time.monotonic()

    assert handler(release.lambda_event(receive_own(release, execution)), None) == {"batchItemFailures": []}

    assert time.monotonic() - started < 5  # refused before any download or load
    described = release.result(execution)
    assert (described["status"], described["error"]) == ("FAILED", "Evaluation.ModelTooLarge")
    assert "mistralai/Mistral-7B-v0.1 needs about 28." in described["cause"]
    assert "the evaluation function has 10.0 GiB" in described["cause"]
    assert "EVALUATION_BACKEND=sagemaker" in described["cause"]
