"""No run left stuck: a run whose workflow execution is gone or ended without telling the platform is
failed by the reconciler within one period, with the reason on its timeline, and its approval closes
with that reason."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from typing import Any

import httpx
import psycopg
import pytest

from mlops_contracts.aws import aws_client
from mlops_testkit.api import ApiServer, AwsFixture, Clients, approval_request, run_at, start_api
from mlops_testkit.servers import WaitingTask

PERIOD = 1.0
SIGNING_SECRET = "mlops/approval-signing-key"


@pytest.fixture(scope="module")
def reconciling(
    migrated_database_url: str, aws: AwsFixture, clients: Clients, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Clients]:
    secrets = aws_client("secretsmanager")
    with contextlib.suppress(secrets.exceptions.ResourceExistsException):  # another module made it
        secrets.create_secret(Name=SIGNING_SECRET, SecretString="reconciler-test-signing-key-" + "k" * 32)
    server: ApiServer = start_api(
        migrated_database_url,
        str(tmp_path_factory.mktemp("reconciling-api")),
        RECONCILE_INTERVAL_SECONDS=str(PERIOD),
        RECONCILE_GRACE_SECONDS="0",
    )
    yield Clients(server.base_url, clients.keys)
    server.stop()


def run_of(clients: Clients, run_id: int) -> dict[str, Any]:
    with clients.as_("viewer") as viewer:
        return dict(viewer.get(f"/runs/{run_id}").json())


def wait_until_failed(clients: Clients, run_id: int, within: float) -> tuple[dict[str, Any], float]:
    started = time.monotonic()
    while time.monotonic() - started < within:
        run = run_of(clients, run_id)
        if run["status"] == "failed":
            return run, time.monotonic() - started
        time.sleep(0.1)
    raise AssertionError(f"run {run_id} is still {run_of(clients, run_id)['status']} after {within}s")


def test_a_run_whose_execution_was_deleted_fails_within_one_period(
    reconciling: Clients, datasets: dict[str, int], waiting_task: WaitingTask
) -> None:
    run_id = run_at(reconciling, datasets, "training", execution_arn=waiting_task.execution_arn)
    sfn = aws_client("stepfunctions")
    machine = sfn.describe_execution(executionArn=waiting_task.execution_arn)["stateMachineArn"]
    sfn.delete_state_machine(stateMachineArn=machine)  # what a reset emulator or a deleted stack leaves

    run, waited = wait_until_failed(reconciling, run_id, within=PERIOD * 2 + 5)
    assert waited < PERIOD * 2 + 5
    assert run["status_reason"].startswith("reconciler: its workflow execution no longer exists")
    assert waiting_task.execution_arn in run["status_reason"]
    last = run["timeline"][-1]
    assert (last["status"], last["reason"], last["source"]) == ("failed", run["status_reason"], "reconciler")


def test_an_execution_that_ended_silently_fails_the_run_and_closes_its_approval(
    reconciling: Clients, datasets: dict[str, int], waiting_task: WaitingTask, db: psycopg.Connection[Any]
) -> None:
    arn = waiting_task.execution_arn
    run_id = run_at(reconciling, datasets, "evaluating", "awaiting_approval", execution_arn=arn)
    with reconciling.as_("approval-worker") as worker:
        registered = worker.post(f"/runs/{run_id}/approvals", json=approval_request(waiting_task.token, arn))
    assert registered.status_code == 201, registered.text
    # the execution fails and its run.failed event never reaches the projector
    aws_client("stepfunctions").send_task_failure(
        taskToken=waiting_task.token, error="Ops.Failed", cause="its event was lost"
    )
    assert waiting_task.result()["status"] == "FAILED"

    run, _ = wait_until_failed(reconciling, run_id, within=PERIOD * 2 + 5)
    assert run["status_reason"].startswith(
        "reconciler: its workflow execution ended FAILED without the platform hearing of it (Ops.Failed"
    )  # the emulator drops the cause that AWS would add after the error
    approval = db.execute(
        "SELECT status, comment FROM approvals WHERE run_id = %s ORDER BY id DESC LIMIT 1", (run_id,)
    ).fetchone()
    assert approval == ("closed", run["status_reason"])
    with reconciling.as_("viewer") as viewer:
        trail = viewer.get(f"/runs/{run_id}/audit").json()
    assert [(e["action"], e["actor"]) for e in trail] == [
        ("requested", trail[0]["actor"]),
        ("closed", "reconciler"),
    ]
    assert trail[-1]["comment"] == run["status_reason"]
    assert "timed out" not in trail[-1]["comment"]


def test_a_run_whose_execution_still_runs_is_left_alone(
    reconciling: Clients, datasets: dict[str, int], waiting_task: WaitingTask
) -> None:
    run_id = run_at(reconciling, datasets, "training", execution_arn=waiting_task.execution_arn)
    time.sleep(PERIOD * 3)
    assert run_of(reconciling, run_id)["status"] == "training"
    with httpx.Client(base_url=reconciling.base_url) as anonymous:
        assert anonymous.get("/health").status_code in (200, 503)
