"""POST/GET /runs and PATCH /runs/{id}/status against the live API."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest

from mlops_api.runs.schemas import RunListItem, RunPage
from mlops_contracts.status import RunStatus
from mlops_testkit.api import BUCKET, OUTPUTS_BUCKET, Clients, run_body


def count(db: psycopg.Connection[Any], table: str) -> int:
    row = db.execute(f"SELECT count(*) FROM {table}").fetchone()
    assert row is not None
    return int(row[0])


def test_create_run_stores_it_with_timeline_and_outbox(
    clients: Clients, datasets: dict[str, int], db: psycopg.Connection[Any]
) -> None:
    with clients.as_("operator") as op:
        response = op.post("/runs", json=run_body(datasets, ml_score_threshold=0.8))
        assert response.status_code == 201, response.text
        run = response.json()
        assert response.headers["location"] == f"/runs/{run['id']}"
        assert run["status"] == "pending"
        assert run["created_by"].startswith("operator")
        assert run["ml_score_threshold"] == 0.8
        assert run["hyperparameters"]["lora_r"] == 16  # defaults filled in

        detail = op.get(f"/runs/{run['id']}").json()
    assert [e["event_type"] for e in detail["timeline"]] == ["run.created"]
    assert detail["results"] == []
    outbox = db.execute("SELECT event_type, detail FROM outbox").fetchall()
    assert [row[0] for row in outbox] == ["run.created"]
    assert outbox[0][1]["run_id"] == run["id"]
    assert outbox[0][1]["payload"] == {
        "model_name": "mistral-7b-rag-qa",
        "model_id": "mistralai/Mistral-7B-v0.1",
        "task_type": "finetune",
        "experiment_name": "rag-qa-finetune",
    }


def test_eval_only_run_needs_no_train_dataset(clients: Clients, datasets: dict[str, int]) -> None:
    body = run_body(datasets, task_type="eval_only")
    del body["train_dataset_id"]
    with clients.as_("operator") as op:
        response = op.post("/runs", json=body)
    assert response.status_code == 201, response.text
    assert response.json()["train_dataset_id"] is None


@pytest.mark.parametrize(
    ("overrides", "needle"),
    [
        ({"model_name": "bad name!"}, "model_name"),
        ({"model_name": "x" * 64}, "model_name"),
        ({"model_id": "../etc/passwd"}, "model_id"),
        ({"model_id": ""}, "model_id"),
        ({"task_type": "pretrain"}, "task_type"),
        ({"experiment_name": ""}, "experiment_name"),
        ({"ml_score_threshold": 1.5}, "ml_score_threshold"),
        ({"ml_score_threshold": -0.1}, "ml_score_threshold"),
        ({"ml_score_threshold": "high"}, "ml_score_threshold"),
        ({"hyperparameters": {"epochs": 0}}, "epochs"),
        ({"hyperparameters": {"learning_rate": 1.0}}, "learning_rate"),
        ({"hyperparameters": {"lora_r": 4096}}, "lora_r"),
        ({"hyperparameters": {"lora_dropout": 0.9}}, "lora_dropout"),
        ({"hyperparameters": {"batch_sise": 8}}, "batch_sise"),
        ({"unknown_field": 1}, "unknown_field"),
        ({"train_dataset_id": None}, "train_dataset_id is required"),
        ({"task_type": "eval_only"}, "train_dataset_id must be omitted"),
        ({"eval_dataset_id": "one"}, "eval_dataset_id"),
    ],
)
def test_invalid_run_requests_are_422_naming_the_problem(
    clients: Clients,
    datasets: dict[str, int],
    db: psycopg.Connection[Any],
    overrides: dict[str, Any],
    needle: str,
) -> None:
    with clients.as_("operator") as op:
        response = op.post("/runs", json=run_body(datasets, **overrides))
    assert response.status_code == 422, response.text
    assert needle in response.text
    assert count(db, "pipeline_runs") == 0
    assert count(db, "outbox") == 0


@pytest.mark.parametrize(
    ("task_type", "message"),
    [
        ("pretrain", "task_type must be one of 'finetune', 'eval_only' (got 'pretrain')"),
        (7, "task_type must be one of 'finetune', 'eval_only' (got '7')"),
        (None, "task_type must be one of 'finetune', 'eval_only'"),
    ],
)
def test_an_unknown_task_type_is_a_422_naming_the_allowed_values(
    clients: Clients, datasets: dict[str, int], db: psycopg.Connection[Any], task_type: Any, message: str
) -> None:
    body = run_body(datasets, task_type=task_type)
    if task_type is None:
        del body["task_type"]
    with clients.as_("operator") as op:
        response = op.post("/runs", json=body)
    assert response.status_code == 422, response.text
    # not pydantic's union message with the enum's reprs (<TaskType.FINETUNE: 'finetune'>)
    assert response.json()["detail"] == [
        {
            "loc": ["body", "task_type"],
            "msg": message,
            "type": "union_tag_invalid" if task_type is not None else "union_tag_not_found",
        }
    ]
    assert count(db, "pipeline_runs") == 0


def test_unknown_or_wrong_kind_datasets_are_refused(
    clients: Clients, datasets: dict[str, int], db: psycopg.Connection[Any]
) -> None:
    with clients.as_("operator") as op:
        unknown = op.post("/runs", json=run_body(datasets, eval_dataset_id=999999))
        swapped = op.post(
            "/runs",
            json=run_body(datasets, train_dataset_id=datasets["eval"], eval_dataset_id=datasets["train"]),
        )
        same = op.post("/runs", json=run_body(datasets, train_dataset_id=datasets["eval"]))
    assert unknown.status_code == 422
    assert unknown.json()["detail"] == "eval_dataset_id 999999: no such dataset"
    assert swapped.status_code == 422
    assert "expected 'train'" in swapped.text or "expected 'eval'" in swapped.text
    assert same.status_code == 422
    assert count(db, "pipeline_runs") == 0


def test_malformed_json_and_wrong_content_are_4xx(clients: Clients, datasets: dict[str, int]) -> None:
    with clients.as_("operator") as op:
        broken = op.post("/runs", content=b'{"model_name": ', headers={"content-type": "application/json"})
        not_object = op.post("/runs", json=[1, 2])
        nan = op.post(
            "/runs",
            content=b'{"model_name":"m","model_id":"a/b","task_type":"eval_only","experiment_name":"e",'
            b'"eval_dataset_id":1,"ml_score_threshold":NaN}',
            headers={"content-type": "application/json"},
        )
    assert broken.status_code == 422
    assert "JSON" in broken.text
    assert not_object.status_code == 422
    assert nan.status_code == 422
    assert "ml_score_threshold" in nan.text


def test_list_runs_filters_and_paginates(clients: Clients, datasets: dict[str, int]) -> None:
    with clients.as_("operator") as op:
        created = []
        for i in range(7):
            body = run_body(datasets, model_name=f"model-{i % 2}", experiment_name=f"exp-{i % 3}")
            created.append(op.post("/runs", json=body).json()["id"])
    with clients.as_("viewer") as viewer:
        page1 = viewer.get("/runs", params={"limit": 3}).json()
        assert [r["id"] for r in page1["items"]] == created[::-1][:3]
        page2 = viewer.get("/runs", params={"limit": 3, "cursor": page1["next_cursor"]}).json()
        page3 = viewer.get("/runs", params={"limit": 3, "cursor": page2["next_cursor"]}).json()
        seen = [r["id"] for p in (page1, page2, page3) for r in p["items"]]
        assert seen == created[::-1]
        assert page3["next_cursor"] is None

        by_model = viewer.get("/runs", params={"model_name": "model-1"}).json()["items"]
        assert {r["id"] for r in by_model} == set(created[1::2])
        by_exp = viewer.get("/runs", params={"experiment_name": "exp-0"}).json()["items"]
        assert {r["id"] for r in by_exp} == {created[0], created[3], created[6]}
        by_status = viewer.get("/runs", params=[("status", "pending"), ("status", "failed")]).json()
        assert len(by_status["items"]) == 7
        assert viewer.get("/runs", params={"status": "approved"}).json()["items"] == []
        assert viewer.get("/runs", params={"status": "bogus"}).status_code == 422
        assert viewer.get("/runs", params={"limit": 0}).status_code == 422
        assert viewer.get("/runs", params={"limit": 201}).status_code == 422


def test_the_written_page_is_the_page_pydantic_renders(
    clients: Clients, datasets: dict[str, int], db: psycopg.Connection[Any]
) -> None:
    """GET /runs writes its JSON straight from the rows (runs/page.py): it must be the RunPage that
    pydantic renders from the same rows, in every column and format."""
    with clients.as_("operator") as op:
        ids = [
            op.post("/runs", json=run_body(datasets, model_name=f"page-{i}", ml_score_threshold=t)).json()[
                "id"
            ]
            for i, t in enumerate((0.0, 1.0, 0.00001, 0.7))
        ]
        eval_only = run_body(datasets, task_type="eval_only", experiment_name="é-ünïcode exp")
        del eval_only["train_dataset_id"]
        ids.append(op.post("/runs", json=eval_only).json()["id"])
    # Columns the API leaves empty at creation, filled as the workflow would; one timestamp with
    # no fraction of a second (pydantic then writes none) and one with.
    db.execute(
        "UPDATE pipeline_runs SET status = 'failed', status_reason = 'OOM \"quoted\" \\ reason', "
        "execution_arn = 'arn:aws:states:eu-west-1:000000000000:execution:m:x', "
        "started_at = '2026-01-02T03:04:05Z', finished_at = '2026-01-02T03:04:05.120000Z', "
        'hyperparameters = hyperparameters || \'{"note": [1, 2.5, null, {"deep": true}]}\' WHERE id = %s',
        (ids[1],),
    )
    # an evaluated run carries its evaluation's MLScore and verdict; a training result is not one
    db.execute(
        "INSERT INTO run_results (run_id, stage, metrics, ml_score, passed) VALUES "
        "(%s, 'evaluation', '{}', 0.8125, true), (%s, 'evaluation', '{}', 0.25, false), "
        "(%s, 'training', '{}', 0.5, null)",
        (ids[2], ids[3], ids[0]),
    )
    columns = list(RunListItem.model_fields)
    selected = ", ".join(f"r.{c}" if c in ("ml_score", "passed") else f"p.{c}" for c in columns)
    rows = db.execute(
        f"SELECT {selected} FROM pipeline_runs p LEFT JOIN run_results r "
        "ON r.run_id = p.id AND r.stage = 'evaluation' ORDER BY p.id DESC"
    ).fetchall()
    runs = [
        RunListItem.model_validate(
            {
                c: v.astimezone(UTC) if isinstance(v, datetime) else v
                for c, v in zip(columns, row, strict=True)
            }
        )
        for row in rows
    ]
    expected = [
        RunPage(items=runs[:3], next_cursor=runs[2].id),
        RunPage(items=runs[3:], next_cursor=None),
    ]

    with clients.as_("viewer") as viewer:
        first = viewer.get("/runs", params={"limit": 3})
        rest = viewer.get("/runs", params={"limit": 3, "cursor": first.json()["next_cursor"]})
    assert first.headers["content-type"] == "application/json"
    assert [first.json(), rest.json()] == [json.loads(page.model_dump_json()) for page in expected]
    assert [list(item) for item in first.json()["items"]] == [columns] * 3  # RunListItem's order
    scores = {r["id"]: (r["ml_score"], r["passed"]) for page in (first, rest) for r in page.json()["items"]}
    assert scores == {
        ids[0]: (None, None),
        ids[1]: (None, None),
        ids[2]: (0.8125, True),
        ids[3]: (0.25, False),
        ids[4]: (None, None),
    }
    assert [r["id"] for page in (first, rest) for r in page.json()["items"]] == ids[::-1]
    failed = rest.json()["items"][0]
    assert failed["started_at"] == "2026-01-02T03:04:05Z"
    assert failed["finished_at"] == "2026-01-02T03:04:05.120000Z"
    assert failed["status_reason"] == 'OOM "quoted" \\ reason'
    assert failed["hyperparameters"]["note"] == [1, 2.5, None, {"deep": True}]
    assert RunPage.model_validate_json(rest.content).items[0].status is RunStatus.FAILED


def test_get_unknown_run_is_404(clients: Clients, clean: None) -> None:
    with clients.as_("viewer") as viewer:
        response = viewer.get("/runs/424242")
    assert response.status_code == 404
    assert response.json() == {"detail": "run 424242 not found"}


def _launch(clients: Clients, datasets: dict[str, int]) -> int:
    with clients.as_("operator") as op:
        return int(op.post("/runs", json=run_body(datasets)).json()["id"])


def test_status_changes_follow_the_transition_table(
    clients: Clients, datasets: dict[str, int], db: psycopg.Connection[Any]
) -> None:
    run_id = _launch(clients, datasets)
    arn = "arn:aws:states:eu-west-1:123456789012:execution:mlops-release-workflow:run-1"
    with clients.as_("projector") as svc, clients.as_("viewer") as viewer:
        training = svc.patch(f"/runs/{run_id}/status", json={"status": "training", "execution_arn": arn})
        assert training.status_code == 200, training.text
        assert training.headers["x-status-changed"] == "true"
        assert training.json()["execution_arn"] == arn
        assert training.json()["started_at"] is not None

        again = svc.patch(f"/runs/{run_id}/status", json={"status": "training"})
        assert again.status_code == 200
        assert again.headers["x-status-changed"] == "false"

        illegal = svc.patch(f"/runs/{run_id}/status", json={"status": "approved"})
        assert illegal.status_code == 409
        assert "'training'" in illegal.json()["detail"]
        assert "'approved'" in illegal.json()["detail"]

        for status in ("evaluating", "awaiting_approval"):
            assert svc.patch(f"/runs/{run_id}/status", json={"status": status}).status_code == 200
        # an outcome comes with the workflow's event (its id and execution)
        outcome = {"status": "approved", "event_id": "evt-approved", "execution_arn": arn}
        assert svc.patch(f"/runs/{run_id}/status", json=outcome).status_code == 200

        back = svc.patch(f"/runs/{run_id}/status", json={"status": "training"})
        assert back.status_code == 409
        assert "terminal" in back.json()["detail"]

        detail = viewer.get(f"/runs/{run_id}").json()
    assert detail["status"] == "approved"
    assert detail["finished_at"] is not None
    steps = [(e["previous_status"], e["status"]) for e in detail["timeline"]]
    assert steps == [
        (None, "pending"),
        ("pending", "training"),
        ("training", "evaluating"),
        ("evaluating", "awaiting_approval"),
        ("awaiting_approval", "approved"),
    ]
    assert detail["timeline"][1]["execution_arn"] == arn
    kinds = [row[0] for row in db.execute("SELECT event_type FROM outbox ORDER BY id").fetchall()]
    assert kinds == ["run.created"] + ["run.status_changed"] * 4


def test_a_redelivered_event_id_is_applied_once(clients: Clients, datasets: dict[str, int]) -> None:
    run_id = _launch(clients, datasets)
    change = {"status": "training", "event_id": "evt-123", "reason": "training job started"}
    with clients.as_("service") as svc:
        first = svc.patch(f"/runs/{run_id}/status", json=change)
        svc.patch(f"/runs/{run_id}/status", json={"status": "failed", "reason": "OOM"})
        replay = svc.patch(f"/runs/{run_id}/status", json=change)
        timeline = svc.get(f"/runs/{run_id}").json()["timeline"]
    assert first.headers["x-status-changed"] == "true"
    assert replay.status_code == 200
    assert replay.headers["x-status-changed"] == "false"
    assert replay.json()["status"] == "failed"
    assert [e["status"] for e in timeline] == ["pending", "training", "failed"]


def test_status_of_unknown_run_is_404_and_bad_status_422(clients: Clients, clean: None) -> None:
    with clients.as_("service") as svc:
        assert svc.patch("/runs/999/status", json={"status": "training"}).status_code == 404
        bad = svc.patch("/runs/999/status", json={"status": "done"})
    assert bad.status_code == 422
    assert "status" in bad.text


def test_results_are_recorded_and_shown(clients: Clients, datasets: dict[str, int]) -> None:
    run_id = _launch(clients, datasets)
    scores = {"faithfulness": 0.9, "answer_relevancy": 0.8}
    with clients.as_("service") as svc:
        put = svc.put(
            f"/runs/{run_id}/results/evaluation", json={"metrics": scores, "ml_score": 0.85, "passed": True}
        )
        assert put.status_code == 200, put.text
        update = svc.put(f"/runs/{run_id}/results/evaluation", json={"metrics": scores, "ml_score": 0.5})
        assert update.json()["ml_score"] == 0.5
        nan = svc.put(f"/runs/{run_id}/results/evaluation", content=b'{"metrics": {"f": NaN}}')
        assert nan.status_code == 422
        results = svc.get(f"/runs/{run_id}").json()["results"]
    assert len(results) == 1
    assert results[0]["metrics"] == scores
    assert results[0]["ml_score"] == 0.5


def test_result_uris_lie_under_the_runs_own_prefix(
    clients: Clients, datasets: dict[str, int], db: psycopg.Connection[Any]
) -> None:
    """A worker key once pointed samples_uri at any object, which viewers could then read (#23)."""
    run_id = _launch(clients, datasets)
    with clients.as_("viewer") as viewer:
        model = viewer.get(f"/runs/{run_id}").json()["model_name"]
    own = f"s3://{OUTPUTS_BUCKET}/{model}/evaluations/run-{run_id}/exec-1/samples.jsonl"
    with clients.as_("evaluator") as evaluator:
        recorded = evaluator.put(f"/runs/{run_id}/results/evaluation", json={"metrics": {"samples_uri": own}})
        assert recorded.status_code == 200, recorded.text
        for field, uri in (
            ("samples_uri", f"s3://{BUCKET}/datasets/secret.jsonl"),  # another bucket
            ("samples_uri", f"s3://{OUTPUTS_BUCKET}/{model}/evaluations/run-{run_id + 1}/samples.jsonl"),
            ("samples_uri", f"s3://{OUTPUTS_BUCKET}/{model}/run-{run_id}/../run-{run_id + 1}/x.jsonl"),
            ("samples_uri", f"s3://{OUTPUTS_BUCKET}/other-model/run-{run_id}/samples.jsonl"),
            ("samples_uri", f"https://example.com/{model}/run-{run_id}/samples.jsonl"),
            ("artifact_uri", f"s3://{OUTPUTS_BUCKET}/{model}/run-{run_id + 1}/model.tar.gz"),
            ("extra.report_uri", f"s3://{OUTPUTS_BUCKET}/{model}/report.html"),
        ):
            path = field.split(".")
            metrics: dict[str, Any] = {path[-1]: uri}
            if len(path) == 2:
                metrics = {path[0]: metrics}
            refused = evaluator.put(f"/runs/{run_id}/results/evaluation", json={"metrics": metrics})
            assert refused.status_code == 422, uri
            assert f"metrics.{field} must lie under the run's own prefix" in refused.json()["detail"]
    with clients.as_("viewer") as viewer:
        results = viewer.get(f"/runs/{run_id}").json()["results"]
    assert [r["metrics"] for r in results] == [{"samples_uri": own}]

    # a URI stored before the check is never served
    outside = f"s3://{BUCKET}/datasets/secret.jsonl"
    db.execute(
        "UPDATE run_results SET metrics = jsonb_build_object('samples_uri', %s::text) WHERE run_id = %s",
        (outside, run_id),
    )
    with clients.as_("viewer") as viewer:
        served = viewer.get(f"/runs/{run_id}/samples")
    assert served.status_code == 404
    assert "not under run" in served.json()["detail"]


def test_a_model_in_a_bucket_the_jobs_cannot_read_is_refused_listing_the_readable_ones(
    clients: Clients, datasets: dict[str, int], db: psycopg.Connection[Any]
) -> None:
    # It passed the API; the training job and the evaluation worker then failed with AccessDenied.
    body = run_body(datasets, task_type="eval_only", model_id="s3://someone-elses-bucket/models/llama/")
    del body["train_dataset_id"]
    with clients.as_("operator") as op:
        refused = op.post("/runs", json=body)
        assert refused.status_code == 422, refused.text
        message = refused.json()["detail"]
        assert "cannot read the bucket 'someone-elses-bucket'" in message
        assert f"readable buckets: {BUCKET}, {OUTPUTS_BUCKET}" in message
        # a model the platform wrote (or put next to its outputs) is fine
        accepted = op.post("/runs", json={**body, "model_id": f"s3://{OUTPUTS_BUCKET}/models/llama/"})
        assert accepted.status_code == 201, accepted.text
    row = db.execute(
        "SELECT count(*) FROM pipeline_runs WHERE model_id LIKE %s", ("%someone-elses%",)
    ).fetchone()
    assert row == (0,)
