"""The release workflow's wait for training, run on the emulator with shortened times (#18): the
wait covers the Spot wait (twice the run time) plus the margin, and when it ends without an answer
the run's SageMaker job is stopped - once - and the run's timeline says so. When the execution
itself ends (stopped, timed out, failed), the rule on its status change starts the stop-training-jobs
state machine, which stops what is still running, unless the API's cancel stopped the execution
(it stops the jobs itself).

The template is rendered here as Terraform renders it (templatefile), with seconds instead of
hours, and driven by a test playing the workers: no Terraform, no API."""

from __future__ import annotations

import json
import re
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from mlops_contracts.aws import aws_client
from mlops_devstack.emulator import Emulator

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "terraform" / "templates" / "release_workflow.asl.json"
CLEANUP_TEMPLATE = ROOT / "terraform" / "templates" / "stop_training_jobs.asl.json"
ROLE = "arn:aws:iam::123456789012:role/workflow"
MARGIN_SECONDS = 1


class Workflow:
    """The release workflow on the emulator, its queues, bus and topic of its own."""

    def __init__(self) -> None:
        suffix = uuid.uuid4().hex[:8]
        self.sqs, self.sfn = aws_client("sqs"), aws_client("stepfunctions")
        events, sns = aws_client("events"), aws_client("sns")
        self.queues = {
            key: self.sqs.create_queue(QueueName=f"wf-{key}-{suffix}")["QueueUrl"]
            for key in ("claims", "training", "evaluation", "approval", "tap")
        }
        bus = f"wf-bus-{suffix}"
        events.create_event_bus(Name=bus)
        tap_arn = self.sqs.get_queue_attributes(QueueUrl=self.queues["tap"], AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
        events.put_rule(
            Name=f"tap-{suffix}", EventBusName=bus, EventPattern=json.dumps({"source": ["mlops.workflow"]})
        )
        events.put_targets(Rule=f"tap-{suffix}", EventBusName=bus, Targets=[{"Id": "tap", "Arn": tap_arn}])
        variables: dict[str, Any] = {
            "event_bus_name": bus,
            "notifications_topic_arn": sns.create_topic(Name=f"wf-topic-{suffix}")["TopicArn"],
            **{f"{key}_queue_url": url for key, url in self.queues.items()},
            "datasets_bucket": "datasets",
            "model_outputs_bucket": "outputs",
            "inference_image": "123456789012.dkr.ecr.eu-west-1.amazonaws.com/inference:1",
            "workflow_timeout_seconds": 604800,
            "claim_timeout_seconds": 900,
            "training_timeout_margin_seconds": MARGIN_SECONDS,
            "evaluation_timeout_seconds": 60,
            "approval_timeout_seconds": 60,
        }
        definition = re.sub(r"\$\{(\w+)\}", lambda m: str(variables.get(m.group(1), 0)), TEMPLATE.read_text())
        self.machine = self.sfn.create_state_machine(
            name=f"wf-{suffix}", definition=definition, roleArn=ROLE
        )["stateMachineArn"]
        # As platform_core declares it: the rule on the workflow's status change (default bus)
        # starts the stop-training-jobs state machine with the event.
        cleanup = re.sub(
            r"\$\{(\w+)\}", lambda m: str(variables.get(m.group(1), 0)), CLEANUP_TEMPLATE.read_text()
        )
        self.cleanup = self.sfn.create_state_machine(
            name=f"wf-stop-{suffix}", definition=cleanup, roleArn=ROLE
        )["stateMachineArn"]
        pattern = {
            "source": ["aws.states"],
            "detail-type": ["Step Functions Execution Status Change"],
            "detail": {"status": ["ABORTED", "TIMED_OUT", "FAILED"], "stateMachineArn": [self.machine]},
        }
        events.put_rule(Name=f"wf-ended-{suffix}", EventPattern=json.dumps(pattern))
        events.put_targets(
            Rule=f"wf-ended-{suffix}", Targets=[{"Id": "stop", "Arn": self.cleanup, "RoleArn": ROLE}]
        )

    def cleanups(self, timeout: float = 15) -> list[dict[str, Any]]:
        """The stop-training-jobs executions, once every one has ended."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            runs = self.sfn.list_executions(stateMachineArn=self.cleanup)["executions"]
            if runs and all(r["status"] != "RUNNING" for r in runs):
                return list(runs)
            time.sleep(0.2)
        raise AssertionError("the stop-training-jobs execution did not end")

    def start(self, run_id: int, model_name: str, max_runtime_seconds: int) -> str:
        event = {
            "detail": {
                "run_id": run_id,
                "payload": {
                    "model_name": model_name,
                    "model_id": "sshleifer/tiny-gpt2",
                    "task_type": "finetune",
                    "experiment_name": "wait",
                },
                "data": {
                    "train_dataset_uri": "s3://datasets/train.jsonl",
                    "eval_dataset_uri": "s3://datasets/eval.jsonl",
                    "hyperparameters": {"max_runtime_seconds": max_runtime_seconds},
                    "ml_score_threshold": 0.5,
                },
            }
        }
        arn: str = self.sfn.start_execution(stateMachineArn=self.machine, input=json.dumps(event))[
            "executionArn"
        ]
        claim = self.message("claims")
        self.sfn.send_task_success(taskToken=claim["task_token"], output=json.dumps({"claimed": True}))
        return arn

    def message(self, queue: str, timeout: float = 10) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            got = self.sqs.receive_message(QueueUrl=self.queues[queue], WaitTimeSeconds=1).get("Messages", [])
            if got:
                self.sqs.delete_message(QueueUrl=self.queues[queue], ReceiptHandle=got[0]["ReceiptHandle"])
                body: dict[str, Any] = json.loads(got[0]["Body"])
                return body
        raise AssertionError(f"no message on the {queue} queue within {timeout} s")

    def facts(self) -> list[dict[str, Any]]:
        got = self.sqs.receive_message(QueueUrl=self.queues["tap"], MaxNumberOfMessages=10, WaitTimeSeconds=1)
        return [json.loads(m["Body"]) for m in got.get("Messages", [])]

    def ended(self, arn: str, timeout: float = 20) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            described: dict[str, Any] = self.sfn.describe_execution(executionArn=arn)
            if described["status"] != "RUNNING":
                return described
            time.sleep(0.2)
        raise AssertionError("the execution is still running")

    def states_entered(self, arn: str) -> list[str]:
        history = self.sfn.get_execution_history(executionArn=arn, maxResults=1000)["events"]
        return [e["stateEnteredEventDetails"]["name"] for e in history if "stateEnteredEventDetails" in e]


@pytest.fixture
def workflow(emulator: Emulator) -> Workflow:
    return Workflow()


def test_a_spot_wait_longer_than_the_run_time_does_not_fail_the_run(workflow: Workflow) -> None:
    """A Spot job may wait for capacity up to MaxWaitTimeInSeconds (twice its run time) before it
    trains: its answer after more than the run time plus the margin (the old wait) still counts."""
    max_runtime = 2
    arn = workflow.start(run_id=101, model_name="spot-model", max_runtime_seconds=max_runtime)
    training = workflow.message("training")

    time.sleep(max_runtime + MARGIN_SECONDS + 0.8)  # waited for Spot capacity, then trained
    workflow.sfn.send_task_success(
        taskToken=training["task_token"],
        output=json.dumps({"artifact_uri": "s3://outputs/spot-model/run-101/model.tar.gz", "metrics": {}}),
    )

    assert workflow.message("evaluation")["run_id"] == 101  # on to the evaluation, not failed
    entered = workflow.states_entered(arn)
    assert "EmitTrainingDone" in entered
    assert "TrainingFailed" not in entered
    workflow.sfn.stop_execution(executionArn=arn)


def _training_job(name: str, run_id: int, model_name: str) -> None:
    from moto.sagemaker.models import sagemaker_backends

    sagemaker = aws_client("sagemaker")
    sagemaker.create_training_job(
        TrainingJobName=name,
        AlgorithmSpecification={
            "TrainingImage": "123456789012.dkr.ecr.eu-west-1.amazonaws.com/train:1",
            "TrainingInputMode": "File",
        },
        RoleArn=ROLE,
        OutputDataConfig={"S3OutputPath": f"s3://outputs/{model_name}/run-{run_id}/"},
        ResourceConfig={"InstanceType": "ml.g5.2xlarge", "InstanceCount": 1, "VolumeSizeInGB": 50},
        StoppingCondition={"MaxRuntimeInSeconds": 60, "MaxWaitTimeInSeconds": 120},
        EnableManagedSpotTraining=True,
        Tags=[
            {"Key": "project", "Value": "mlops"},
            {"Key": "run_id", "Value": str(run_id)},
            {"Key": "model_name", "Value": model_name},
        ],
    )
    # moto's jobs complete at once; this one is still training
    backend = sagemaker_backends["123456789012"][sagemaker.meta.region_name]
    backend.training_jobs[name].training_job_status = "InProgress"


@pytest.fixture
def stops(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The StopTrainingJob calls the emulator serves, by job name."""
    from moto.sagemaker.models import SageMakerModelBackend

    calls: list[str] = []
    serve = SageMakerModelBackend.stop_training_job  # type: ignore[attr-defined]

    def counted(self: Any, training_job_name: str) -> None:
        calls.append(training_job_name)
        serve(self, training_job_name)

    monkeypatch.setattr(SageMakerModelBackend, "stop_training_job", counted, raising=False)
    return calls


def test_a_training_timeout_stops_the_runs_job_once_and_says_so(workflow: Workflow, stops: list[str]) -> None:
    run_id, model = 202, f"timeout-model-{uuid.uuid4().hex[:6]}"
    arn = workflow.start(run_id=run_id, model_name=model, max_runtime_seconds=1)
    workflow.message("training")  # taken by a dispatcher that started the job and then went silent
    job = f"{model}-run-{run_id}-0123456789"
    _training_job(job, run_id, model)
    other_run = f"{model}-run-{run_id + 1}-0123456789"
    _training_job(other_run, run_id + 1, model)

    described = workflow.ended(arn)

    assert described["status"] == "FAILED"
    assert [r["status"] for r in workflow.cleanups()] == ["SUCCEEDED"]  # the rule's run found nothing left
    assert stops == [job]  # once, and only the run's own job
    sagemaker = aws_client("sagemaker")
    assert sagemaker.describe_training_job(TrainingJobName=job)["TrainingJobStatus"] == "Stopped"
    assert sagemaker.describe_training_job(TrainingJobName=other_run)["TrainingJobStatus"] == "InProgress"
    facts = {fact["detail-type"]: fact["detail"] for fact in workflow.facts() + workflow.facts()}
    stopped = facts["run.training_job_stopped"]
    assert stopped["data"] == {"training_jobs": [job], "error": "States.Timeout"}
    assert (
        stopped["reason"]
        == f"stopped SageMaker training job {job}: the wait for it ended with States.Timeout"
    )
    assert facts["run.training_failed"]["reason"] == "training failed: States.Timeout"


def test_a_failed_training_with_no_job_running_stops_nothing(workflow: Workflow, stops: list[str]) -> None:
    arn = workflow.start(
        run_id=303, model_name=f"failed-model-{uuid.uuid4().hex[:6]}", max_runtime_seconds=60
    )
    training = workflow.message("training")
    workflow.sfn.send_task_failure(
        taskToken=training["task_token"], error="ResourceLimitExceeded", cause="no Spot quota"
    )

    assert workflow.ended(arn)["status"] == "FAILED"
    assert stops == []
    entered = workflow.states_entered(arn)
    assert "FindRunningTrainingJobs" in entered
    assert "EmitTrainingJobStopped" not in entered


def test_a_stopped_execution_has_its_runs_job_stopped_by_the_rule(
    workflow: Workflow, stops: list[str]
) -> None:
    """Stopped outside the API (the console, a script): nothing in the workflow runs any more, the
    status change rule stops the job."""
    run_id, model = 404, f"stopped-model-{uuid.uuid4().hex[:6]}"
    arn = workflow.start(run_id=run_id, model_name=model, max_runtime_seconds=600)
    workflow.message("training")
    job = f"{model}-run-{run_id}-0123456789"
    _training_job(job, run_id, model)

    workflow.sfn.stop_execution(executionArn=arn, error="Operator", cause="stopped in the console")

    assert [r["status"] for r in workflow.cleanups()] == ["SUCCEEDED"]
    assert stops == [job]
    assert (
        aws_client("sagemaker").describe_training_job(TrainingJobName=job)["TrainingJobStatus"] == "Stopped"
    )
    facts = {fact["detail-type"]: fact["detail"] for fact in workflow.facts() + workflow.facts()}
    stopped = facts["run.training_job_stopped"]
    assert stopped["reason"] == f"stopped SageMaker training job {job}: the release workflow ended ABORTED"
    assert stopped["data"] == {"training_jobs": [job], "workflow_status": "ABORTED"}


def test_a_cancel_through_the_api_is_not_stopped_twice(workflow: Workflow, stops: list[str]) -> None:
    """The cancel endpoint stops the execution with error RunCancelled and then the run's jobs
    itself (mlops_api.runs.aws_stopper): the rule's state machine leaves them alone."""
    run_id, model = 505, f"cancelled-model-{uuid.uuid4().hex[:6]}"
    arn = workflow.start(run_id=run_id, model_name=model, max_runtime_seconds=600)
    workflow.message("training")
    _training_job(f"{model}-run-{run_id}-0123456789", run_id, model)

    workflow.sfn.stop_execution(executionArn=arn, error="RunCancelled", cause="cancelled by someone")

    assert [r["status"] for r in workflow.cleanups()] == ["SUCCEEDED"]
    assert stops == []
