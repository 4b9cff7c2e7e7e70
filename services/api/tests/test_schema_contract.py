"""The published schema says what the API enforces (#22): POST /runs is a union per task type, typed
fields refuse the wrong type, a 405 names every method of its path."""

from __future__ import annotations

from typing import Any

import psycopg

from mlops_testkit.api import Clients, run_body


def test_post_runs_is_a_discriminated_union_per_task_type(clients: Clients) -> None:
    with clients.anonymous() as anonymous:
        schema = anonymous.get("/openapi.json").json()
    body = schema["paths"]["/runs"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert body["discriminator"]["propertyName"] == "task_type"
    assert set(body["discriminator"]["mapping"]) == {"finetune", "eval_only"}
    components = schema["components"]["schemas"]
    finetune, eval_only = components["FinetuneRunCreate"], components["EvalOnlyRunCreate"]
    assert "train_dataset_id" in finetune["required"]
    assert finetune["properties"]["train_dataset_id"]["type"] == "integer"  # never null
    assert eval_only["properties"]["train_dataset_id"]["type"] == "null"


def test_a_finetune_without_a_train_dataset_is_422_naming_the_field(
    clients: Clients, datasets: dict[str, int]
) -> None:
    with clients.as_("operator") as op:
        missing = op.post("/runs", json=run_body(datasets, train_dataset_id=None))
        bad_tag = op.post("/runs", json=run_body(datasets, task_type="pretrain"))
    assert missing.status_code == 422
    [error] = missing.json()["detail"]
    assert error["loc"] == ["body", "train_dataset_id"]  # the field, not the union's variant
    assert error["msg"] == "Value error, train_dataset_id is required when task_type is 'finetune'"
    assert bad_tag.status_code == 422
    [tag_error] = bad_tag.json()["detail"]
    assert tag_error["type"] == "union_tag_invalid"
    assert "'pretrain'" in tag_error["msg"]
    assert "'finetune'" in tag_error["msg"]
    assert "'eval_only'" in tag_error["msg"]


def test_timestamps_must_be_date_time_strings(
    clients: Clients, datasets: dict[str, int], db: psycopg.Connection[Any]
) -> None:
    with clients.as_("operator") as op:
        run_id = op.post("/runs", json=run_body(datasets)).json()["id"]
    with clients.as_("projector") as projector:
        number = projector.patch(f"/runs/{run_id}/status", json={"status": "training", "occurred_at": 0})
        event = {"event_type": "run.note", "event_id": f"e-{run_id}", "occurred_at": 1700000000}
        number_event = projector.post(f"/runs/{run_id}/events", json=event)
        text = projector.patch(
            f"/runs/{run_id}/status", json={"status": "training", "occurred_at": "2026-12-07T04:00:00Z"}
        )
    assert number.status_code == 422
    assert "RFC 3339" in number.text
    assert number_event.status_code == 422
    assert text.status_code == 200, text.text
    assert text.json()["started_at"].startswith("2026-12-07T04:00:00")


def test_405_lists_every_method_of_the_path(clients: Clients) -> None:
    with clients.as_("admin") as admin:
        runs = admin.delete("/runs")
        run = admin.delete("/runs/1")
        cancel = admin.get("/runs/1/cancel")
    assert runs.status_code == 405
    assert {"GET", "POST"} <= set(runs.headers["allow"].split(", "))
    assert run.status_code == 405
    assert "GET" in run.headers["allow"].split(", ")
    assert cancel.status_code == 405
    assert cancel.headers["allow"] == "POST"
