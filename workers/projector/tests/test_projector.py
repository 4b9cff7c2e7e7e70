"""The projector against the live API: statuses through the transition table, every event
applied once, late events kept as timeline steps, poison records reported alone."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from mlops_contracts.api_client import ApiClient, ApiError
from mlops_projector import handler as projector_handler
from mlops_projector.projector import project
from mlops_testkit.api import Clients, run_body


def bus_event(detail_type: str, run_id: int, **detail: Any) -> dict[str, Any]:
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": detail_type,
        "source": "mlops.workflow",
        "account": "123456789012",
        "time": "2026-11-23T10:00:00Z",
        "region": "eu-west-1",
        "resources": [],
        "detail": {"run_id": run_id, "execution_arn": "arn:aws:states:::execution:wf:run-1", **detail},
    }


def launch(clients: Clients, datasets: dict[str, int]) -> int:
    with clients.as_("operator") as op:
        return int(op.post("/runs", json=run_body(datasets)).json()["id"])


def timeline(clients: Clients, run_id: int) -> list[tuple[str, str | None]]:
    with clients.as_("viewer") as viewer:
        run = viewer.get(f"/runs/{run_id}").json()
    return [(e["event_type"], e["status"]) for e in run["timeline"]]


def test_the_release_path_with_every_event_delivered_twice(
    api: ApiClient, clients: Clients, datasets: dict[str, int]
) -> None:
    run_id = launch(clients, datasets)
    events = [
        bus_event("run.training_started", run_id, status="training"),
        bus_event("run.training_done", run_id, data={"artifact_uri": "s3://b/model.tar.gz"}),
        bus_event("run.evaluation_started", run_id, status="evaluating"),
        bus_event("run.eval_passed", run_id, status="awaiting_approval"),
        bus_event("run.approved", run_id, status="approved", reason="approved by alice"),
    ]
    outcomes = [project(api, e).applied for e in events]
    replays = [project(api, e).applied for e in events]
    assert outcomes == ["status", "timeline", "status", "status", "status"]
    assert replays == ["duplicate"] * 5
    assert timeline(clients, run_id) == [
        ("run.created", "pending"),
        ("run.status_changed", "training"),
        ("run.training_done", None),
        ("run.status_changed", "evaluating"),
        ("run.status_changed", "awaiting_approval"),
        ("run.status_changed", "approved"),
    ]
    with clients.as_("viewer") as viewer:
        run = viewer.get(f"/runs/{run_id}").json()
    assert run["status"] == "approved"
    assert run["execution_arn"] == "arn:aws:states:::execution:wf:run-1"
    assert run["timeline"][2]["data"] == {"artifact_uri": "s3://b/model.tar.gz"}


def test_a_late_event_never_moves_the_run_back_but_is_kept(
    api: ApiClient, clients: Clients, datasets: dict[str, int]
) -> None:
    run_id = launch(clients, datasets)
    project(api, bus_event("run.evaluation_started", run_id, status="evaluating"))
    late = project(api, bus_event("run.training_started", run_id, status="training"))
    assert late.applied == "timeline"
    with clients.as_("viewer") as viewer:
        assert viewer.get(f"/runs/{run_id}").json()["status"] == "evaluating"
    assert timeline(clients, run_id)[-1] == ("run.training_started", None)


def test_failure_events_fail_the_run_with_the_reason(
    api: ApiClient, clients: Clients, datasets: dict[str, int]
) -> None:
    run_id = launch(clients, datasets)
    project(api, bus_event("run.training_started", run_id))
    project(api, bus_event("run.training_failed", run_id, status="failed", reason="training failed: OOM"))
    with clients.as_("viewer") as viewer:
        run = viewer.get(f"/runs/{run_id}").json()
    assert run["status"] == "failed"
    assert run["status_reason"] == "training failed: OOM"


def test_training_progress_is_a_timeline_step_and_the_training_source_changes_no_status(
    api: ApiClient, clients: Clients, datasets: dict[str, int]
) -> None:
    run_id = launch(clients, datasets)
    project(api, bus_event("run.training_started", run_id))
    data = {"step": 10, "total_steps": 40, "epoch": 0, "eta_seconds": 30.0, "train_loss": 1.25}
    progress = {
        **bus_event("run.training_progress", run_id, reason="step 10 of 40", data=data),
        "source": "mlops.training",
    }
    assert project(api, progress).applied == "timeline"
    # the training job runs the model's own code: a status fact from its source is only recorded
    forged = {**bus_event("run.eval_passed", run_id, status="awaiting_approval"), "source": "mlops.training"}
    assert project(api, forged).applied == "timeline"
    with clients.as_("viewer") as viewer:
        run = viewer.get(f"/runs/{run_id}").json()
    assert run["status"] == "training"
    step = next(e for e in run["timeline"] if e["event_type"] == "run.training_progress")
    assert step["data"] == data
    assert step["reason"] == "step 10 of 40"


def test_unknown_runs_and_malformed_events_raise(api: ApiClient, clean: None) -> None:
    with pytest.raises(ApiError) as info:
        project(api, bus_event("run.training_started", 999999))
    assert info.value.status_code == 404
    with pytest.raises(ValueError, match="detail-type"):
        project(api, {"id": "x", "source": "s", "time": "2026-01-01T00:00:00Z", "detail": {}})


def sqs_record(body: Any, message_id: str) -> dict[str, Any]:
    return {
        "messageId": message_id,
        "receiptHandle": f"rh-{message_id}",
        "body": body if isinstance(body, str) else json.dumps(body),
        "attributes": {"ApproximateReceiveCount": "1"},
        "messageAttributes": {},
        "md5OfBody": "",
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:eu-west-1:123456789012:mlops-run-events",
        "awsRegion": "eu-west-1",
    }


def test_lambda_handler_reports_only_the_poison_records(
    api: ApiClient, clients: Clients, datasets: dict[str, int]
) -> None:
    run_id = launch(clients, datasets)
    event = {
        "Records": [
            sqs_record(bus_event("run.training_started", run_id), "good-1"),
            sqs_record("{not json", "poison-1"),
            sqs_record(bus_event("run.training_started", 424242), "poison-2"),
            sqs_record(bus_event("run.evaluation_started", run_id), "good-2"),
        ]
    }
    response = projector_handler.handler(event, None)
    assert response == {"batchItemFailures": [{"itemIdentifier": "poison-1"}, {"itemIdentifier": "poison-2"}]}
    with clients.as_("viewer") as viewer:
        assert viewer.get(f"/runs/{run_id}").json()["status"] == "evaluating"
