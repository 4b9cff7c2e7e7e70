"""One workflow per run: the first execution to claim a run owns it; a duplicate is told so through its
task token and its events can no longer move the run."""

from __future__ import annotations

import json
from typing import Any

from mlops_contracts.api_client import ApiClient
from mlops_devstack.emulator import Emulator
from mlops_projector.claim import ClaimTask, claim
from mlops_testkit.api import Clients, run_body
from mlops_testkit.servers import WaitingTask


def new_run(clients: Clients, datasets: dict[str, int]) -> int:
    with clients.as_("operator") as op:
        return int(op.post("/runs", json=run_body(datasets)).json()["id"])


def run_of(clients: Clients, run_id: int) -> dict[str, Any]:
    with clients.as_("viewer") as viewer:
        return dict(viewer.get(f"/runs/{run_id}").json())


def test_the_first_claim_wins_and_a_repeated_claim_is_answered_the_same(
    api: ApiClient, clients: Clients, datasets: dict[str, int]
) -> None:
    run_id = new_run(clients, datasets)
    first, second = "arn:aws:states:eu-west-1:1:execution:wf:a", "arn:aws:states:eu-west-1:1:execution:wf:b"
    assert api.claim_run(run_id, first) is True
    assert api.claim_run(run_id, second) is False
    assert api.claim_run(run_id, first) is True  # a redelivered claim message
    assert run_of(clients, run_id)["execution_arn"] == first

    with clients.as_("projector") as svc:
        moved = svc.patch(f"/runs/{run_id}/status", json={"status": "training", "execution_arn": second})
        assert moved.status_code == 409
        assert (
            moved.json()["detail"]
            == f"execution {second} does not own run {run_id} (its execution is {first})"
        )
        assert svc.post(f"/runs/{run_id}/claim", json={"execution_arn": ""}).status_code == 422
        assert svc.post("/runs/999999/claim", json={"execution_arn": first}).status_code == 404
    assert run_of(clients, run_id)["status"] == "pending"
    with clients.as_("operator") as op:  # launching is not claiming
        assert op.post(f"/runs/{run_id}/claim", json={"execution_arn": first}).status_code == 403


def test_a_run_that_is_no_longer_pending_cannot_be_claimed(
    api: ApiClient, clients: Clients, datasets: dict[str, int]
) -> None:
    run_id = new_run(clients, datasets)
    with clients.as_("projector") as svc:
        assert svc.patch(f"/runs/{run_id}/status", json={"status": "cancelled"}).status_code == 200
    assert api.claim_run(run_id, "arn:aws:states:eu-west-1:1:execution:wf:late") is False


def test_the_handler_answers_each_execution_whether_it_owns_the_run(
    api: ApiClient, clients: Clients, datasets: dict[str, int], emulator: Emulator
) -> None:
    run_id = new_run(clients, datasets)
    owner, duplicate = WaitingTask(emulator, "claim-a"), WaitingTask(emulator, "claim-b")
    for task in (owner, duplicate):
        claim(api, ClaimTask(task_token=task.token, run_id=run_id, execution_arn=task.execution_arn))
    assert json.loads(owner.result()["output"]) == {"claimed": True}
    assert json.loads(duplicate.result()["output"]) == {"claimed": False}
    assert run_of(clients, run_id)["execution_arn"] == owner.execution_arn


def test_an_unknown_run_fails_the_task(api: ApiClient, emulator: Emulator) -> None:
    task = WaitingTask(emulator, "claim-unknown")
    assert (
        claim(api, ClaimTask(task_token=task.token, run_id=987654321, execution_arn=task.execution_arn))
        is None
    )
    described = task.result()
    assert described["status"] == "FAILED"
    assert described["error"] == "Claim.RunNotFound"
