"""POST /runs/{id}/cancel: operators and approvers cancel an active run; the cancel is recorded first,
then the run's workflow execution, training job and candidate package are stopped, once."""

from __future__ import annotations

import contextlib
import json
import threading
from typing import Any

import httpx
import pytest

from mlops_contracts.aws import aws_client
from mlops_testkit.api import AwsFixture, Clients, approval_request, run_at
from mlops_testkit.servers import WaitingTask

SIGNING_SECRET = "mlops/approval-signing-key"
MODEL = "cancel-test-model"


@pytest.fixture(scope="module", autouse=True)
def signing_key(aws: AwsFixture) -> None:
    """Approval links are signed with a key from Secrets Manager (made here if no other module did)."""
    secrets = aws_client("secretsmanager")
    with contextlib.suppress(secrets.exceptions.ResourceExistsException):
        secrets.create_secret(Name=SIGNING_SECRET, SecretString="cancel-test-signing-key-" + "k" * 32)


@pytest.fixture
def stop_calls(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every StopExecution the emulator (in this process) receives, by execution ARN."""
    from moto.stepfunctions.models import StepFunctionBackend

    calls: list[str] = []
    moto_stop_execution = StepFunctionBackend.stop_execution

    def counted(self: Any, execution_arn: str) -> Any:
        calls.append(execution_arn)
        return moto_stop_execution(self, execution_arn)

    monkeypatch.setattr(StepFunctionBackend, "stop_execution", counted)
    return calls


def run_in(
    clients: Clients, datasets: dict[str, int], *statuses: str, execution_arn: str | None = None
) -> int:
    return run_at(clients, datasets, *statuses, execution_arn=execution_arn, model_name=MODEL)


def cancel(
    clients: Clients, run_id: int, role: str = "operator", reason: str | None = None
) -> httpx.Response:
    with clients.as_(role) as client:
        return client.post(f"/runs/{run_id}/cancel", json={"reason": reason} if reason else None)


def run_of(clients: Clients, run_id: int) -> dict[str, Any]:
    with clients.as_("viewer") as viewer:
        return dict(viewer.get(f"/runs/{run_id}").json())


def cleanup_steps(run: dict[str, Any]) -> dict[str, dict[str, str]]:
    [event] = [e for e in run["timeline"] if e["event_type"] == "run.cancel_cleanup"]
    return {step["action"]: step for step in event["data"]["steps"]}


def test_a_viewer_or_a_worker_may_not_cancel(clients: Clients, datasets: dict[str, int]) -> None:
    run_id = run_in(clients, datasets)
    assert cancel(clients, run_id, "viewer").status_code == 403
    assert cancel(clients, run_id, "projector").status_code == 403
    assert run_of(clients, run_id)["status"] == "pending"


def test_a_run_that_ended_is_not_cancelled(clients: Clients, datasets: dict[str, int]) -> None:
    run_id = run_in(clients, datasets, "failed")
    refused = cancel(clients, run_id)
    assert refused.status_code == 409
    assert "'failed'" in refused.json()["detail"]
    assert run_of(clients, run_id)["status"] == "failed"
    assert cancel(clients, 2**62).status_code == 404


def test_a_pending_run_is_cancelled_with_who_and_why(
    clients: Clients, datasets: dict[str, int], stop_calls: list[str]
) -> None:
    run_id = run_in(clients, datasets)
    cancelled = cancel(clients, run_id, "approver", reason="wrong dataset")
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.headers["X-Status-Changed"] == "true"
    run = run_of(clients, run_id)
    assert (run["status"], run["status_reason"]) == (
        "cancelled",
        f"cancelled by {run['timeline'][-2]['source']}: wrong dataset",
    )
    status_step = run["timeline"][-2]
    assert (status_step["status"], status_step["data"]["reason"]) == ("cancelled", "wrong dataset")
    steps = cleanup_steps(run)
    assert steps["StopExecution"]["outcome"] == "nothing"  # no execution had claimed it
    assert stop_calls == []
    # the workflow that starts later cannot claim it
    with clients.as_("projector") as projector:
        claim = projector.post(
            f"/runs/{run_id}/claim", json={"execution_arn": "arn:aws:states:x:1:execution:m:late"}
        )
    assert claim.json()["claimed"] is False


def test_cancel_while_awaiting_approval_aborts_the_execution_and_kills_the_links(
    clients: Clients, datasets: dict[str, int], waiting_task: WaitingTask, stop_calls: list[str]
) -> None:
    arn = waiting_task.execution_arn
    run_id = run_in(clients, datasets, "evaluating", "awaiting_approval", execution_arn=arn)
    with clients.as_("approval-worker") as worker:
        registered = worker.post(f"/runs/{run_id}/approvals", json=approval_request(waiting_task.token, arn))
    assert registered.status_code == 201, registered.text
    link = httpx.URL(registered.json()["approve_url"]).path

    first = cancel(clients, run_id, reason="superseded")
    assert first.status_code == 200, first.text
    assert aws_client("stepfunctions").describe_execution(executionArn=arn)["status"] == "ABORTED"
    with clients.person("ada") as browser:  # a signed-in approver
        assert browser.get(link).status_code == 410
    run = run_of(clients, run_id)
    assert run["status"] == "cancelled"
    assert cleanup_steps(run)["StopExecution"] == {
        "action": "StopExecution",
        "outcome": "done",
        "detail": arn,
    }

    again = cancel(clients, run_id, reason="superseded")
    assert again.status_code == 200
    assert again.headers["X-Status-Changed"] == "false"
    assert again.json() == first.json()
    assert stop_calls == [arn]  # the second cancel made no call


def test_two_concurrent_cancels_make_one_set_of_calls(
    clients: Clients, datasets: dict[str, int], waiting_task: WaitingTask, stop_calls: list[str]
) -> None:
    run_id = run_in(clients, datasets, "training", execution_arn=waiting_task.execution_arn)
    answers: list[httpx.Response] = []
    start = threading.Barrier(2)

    def cancel_at_once(role: str) -> None:
        start.wait()
        answers.append(cancel(clients, run_id, role))

    threads = [threading.Thread(target=cancel_at_once, args=(role,)) for role in ("operator", "approver")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(a.status_code for a in answers) == [200, 200]
    assert sorted(a.headers["X-Status-Changed"] for a in answers) == ["false", "true"]
    assert stop_calls == [waiting_task.execution_arn]
    run = run_of(clients, run_id)
    assert [e["event_type"] for e in run["timeline"]].count("run.cancel_cleanup") == 1


@pytest.fixture
def training_job_and_candidate(clients: Clients, datasets: dict[str, int]) -> tuple[int, str, str]:
    """A run in training with a SageMaker job tagged as the dispatcher tags it, and a candidate package
    carrying its run id as the workflow writes it."""
    run_id = run_in(clients, datasets, "training")
    sagemaker = aws_client("sagemaker")
    job = f"{MODEL}-run-{run_id}"
    sagemaker.create_training_job(
        TrainingJobName=job,
        AlgorithmSpecification={
            "TrainingImage": "123456789012.dkr.ecr.eu-west-1.amazonaws.com/t:1",
            "TrainingInputMode": "File",
        },
        RoleArn="arn:aws:iam::123456789012:role/training",
        OutputDataConfig={"S3OutputPath": "s3://outputs/cancel/"},
        ResourceConfig={"InstanceType": "ml.g5.2xlarge", "InstanceCount": 1, "VolumeSizeInGB": 50},
        StoppingCondition={"MaxRuntimeInSeconds": 3600},
        Tags=[{"Key": "run_id", "Value": str(run_id)}, {"Key": "model_name", "Value": MODEL}],
    )
    from moto.sagemaker.models import sagemaker_backends  # moto's jobs complete at once

    sagemaker_backends["123456789012"][sagemaker.meta.region_name].training_jobs[
        job
    ].training_job_status = "InProgress"
    with contextlib.suppress(sagemaker.exceptions.ClientError):
        sagemaker.create_model_package_group(ModelPackageGroupName=MODEL)
    package = sagemaker.create_model_package(
        ModelPackageGroupName=MODEL,
        ModelPackageDescription=f"run {run_id}",
        ModelApprovalStatus="PendingManualApproval",
        CustomerMetadataProperties={"run_id": str(run_id), "validation": "pending"},
    )["ModelPackageArn"]
    return run_id, job, package


def test_cancel_stops_the_training_job_and_rejects_the_candidate(
    clients: Clients, training_job_and_candidate: tuple[int, str, str]
) -> None:
    run_id, job, package = training_job_and_candidate
    assert cancel(clients, run_id, reason="out of\nbudget").status_code == 200  # the description is one line

    sagemaker = aws_client("sagemaker")
    assert sagemaker.describe_training_job(TrainingJobName=job)["TrainingJobStatus"] in (
        "Stopping",
        "Stopped",
    )
    described = sagemaker.describe_model_package(ModelPackageName=package)
    assert described["ModelApprovalStatus"] == "Rejected"
    assert described["ApprovalDescription"].startswith("cancelled by ")
    assert described["ApprovalDescription"].endswith(": out of budget")
    assert described["CustomerMetadataProperties"]["deployment_status"] == "cancelled"
    assert described["CustomerMetadataProperties"]["run_id"] == str(run_id)  # merged, not replaced
    steps = cleanup_steps(run_of(clients, run_id))
    assert (steps["StopTrainingJob"]["outcome"], steps["StopTrainingJob"]["detail"]) == ("done", job)
    assert steps["UpdateModelPackage"]["outcome"] == "done"
    assert json.dumps(steps)  # what the dashboard shows is plain JSON


def test_a_stop_that_fails_is_on_the_timeline_and_the_cancel_stands(
    clients: Clients, datasets: dict[str, int]
) -> None:
    gone = "arn:aws:states:eu-west-1:123456789012:execution:deleted-machine:run-gone"
    run_id = run_in(clients, datasets, "training", execution_arn=gone)

    assert cancel(clients, run_id).status_code == 200

    run = run_of(clients, run_id)
    assert run["status"] == "cancelled"
    step = cleanup_steps(run)["StopExecution"]
    assert step["outcome"] == "failed"
    assert step["detail"].startswith(("ExecutionDoesNotExist", "StateMachineDoesNotExist"))
    [cleanup] = [e for e in run["timeline"] if e["event_type"] == "run.cancel_cleanup"]
    assert cleanup["reason"].startswith("could not stop everything, finish by hand: StopExecution: ")
