"""The runs list's filters (tag, MLScore range, creation time) and people's tags and note on a run
(PATCH /runs/{id}), against the live API on PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg

from mlops_testkit.api import Clients, run_body


def _ids(response: Any) -> list[int]:
    assert response.status_code == 200, response.text
    return [r["id"] for r in response.json()["items"]]


def test_tags_and_note_are_set_replaced_cleared_and_recorded(
    clients: Clients, datasets: dict[str, int], db: psycopg.Connection[Any]
) -> None:
    with clients.as_("operator") as op:
        run_id = op.post("/runs", json=run_body(datasets)).json()["id"]
        assert op.get(f"/runs/{run_id}").json()["tags"] == []

        tagged = op.patch(f"/runs/{run_id}", json={"tags": ["baseline", "sweep:lr", "baseline"]})
        assert tagged.status_code == 200, tagged.text
        assert tagged.json()["tags"] == ["baseline", "sweep:lr"]  # repeats dropped, order kept
        assert tagged.json()["note"] is None

        noted = op.patch(f"/runs/{run_id}", json={"note": "  Twice the LoRA rank of #41  "})
        assert (noted.json()["tags"], noted.json()["note"]) == (
            ["baseline", "sweep:lr"],
            "Twice the LoRA rank of #41",
        )
        detail = op.get(f"/runs/{run_id}").json()
        assert (detail["tags"], detail["note"]) == (["baseline", "sweep:lr"], "Twice the LoRA rank of #41")
        listed = op.get("/runs").json()["items"][0]
        assert (listed["tags"], listed["note"]) == (["baseline", "sweep:lr"], "Twice the LoRA rank of #41")

        unchanged = op.patch(f"/runs/{run_id}", json={"tags": ["baseline", "sweep:lr"]})
        assert unchanged.status_code == 200
    with clients.as_("approver") as approver:
        cleared = approver.patch(f"/runs/{run_id}", json={"note": None, "tags": []})
        assert cleared.status_code == 200, cleared.text
        assert (cleared.json()["tags"], cleared.json()["note"]) == ([], None)

    # the audit: one timeline step per change (who, what before and after); none for a no-op
    rows = db.execute(
        "SELECT source, data FROM run_events WHERE run_id = %s AND event_type = 'run.annotated' ORDER BY id",
        (run_id,),
    ).fetchall()
    assert [source.split("-")[0] for source, _ in rows] == ["operator", "operator", "approver"]
    assert rows[0][1]["changed"] == {"tags": {"from": [], "to": ["baseline", "sweep:lr"]}}
    assert rows[1][1]["changed"] == {"note": {"from": None, "to": "Twice the LoRA rank of #41"}}
    assert rows[2][1]["changed"] == {
        "tags": {"from": ["baseline", "sweep:lr"], "to": []},
        "note": {"from": "Twice the LoRA rank of #41", "to": None},
    }
    with clients.as_("viewer") as viewer:
        assert viewer.get(f"/runs/{run_id}").json()["status"] == "pending"  # the workflow's fields untouched


def test_annotations_are_refused_to_viewers_and_workers_and_checked(
    clients: Clients, datasets: dict[str, int]
) -> None:
    with clients.as_("operator") as op:
        run_id = op.post("/runs", json=run_body(datasets)).json()["id"]
        for body, needle in [
            ({}, "give tags, note or both"),
            ({"tags": ["has space"]}, "String should match pattern"),
            ({"tags": [f"t{i}" for i in range(21)]}, "at most 20 items"),
            ({"note": "x" * 4001}, "at most 4000 characters"),
            ({"status": "approved"}, "Extra inputs are not permitted"),
        ]:
            response = op.patch(f"/runs/{run_id}", json=body)
            assert response.status_code == 422, (body, response.text)
            assert needle in response.text, (body, response.text)
        assert op.patch("/runs/999999", json={"note": "x"}).status_code == 404
    for role in ("viewer", "projector", "evaluator"):
        with clients.as_(role) as client:
            assert client.patch(f"/runs/{run_id}", json={"note": "x"}).status_code == 403, role


def test_list_filters_by_tag_mlscore_and_creation_time(
    clients: Clients, datasets: dict[str, int], db: psycopg.Connection[Any]
) -> None:
    with clients.as_("operator") as op:
        ids = [op.post("/runs", json=run_body(datasets)).json()["id"] for _ in range(4)]
        op.patch(f"/runs/{ids[0]}", json={"tags": ["baseline"]})
        op.patch(f"/runs/{ids[1]}", json={"tags": ["baseline", "candidate"]})
    with clients.as_("evaluator") as evaluator:
        for run_id, score in zip(ids[:3], (0.55, 0.72, 0.9), strict=True):
            put = evaluator.put(f"/runs/{run_id}/results/evaluation", json={"metrics": {}, "ml_score": score})
            assert put.status_code == 200, put.text
    db.execute("UPDATE pipeline_runs SET created_at = now() - interval '3 days' WHERE id = %s", (ids[0],))

    with clients.as_("viewer") as viewer:
        assert _ids(viewer.get("/runs", params={"tag": "baseline"})) == [ids[1], ids[0]]
        assert _ids(viewer.get("/runs", params=[("tag", "baseline"), ("tag", "candidate")])) == [ids[1]]
        assert _ids(viewer.get("/runs", params={"tag": "nothing"})) == []

        # the evaluation's MLScore, bounds included; a run without one never matches a range
        assert _ids(viewer.get("/runs", params={"min_ml_score": 0.72})) == [ids[2], ids[1]]
        assert _ids(viewer.get("/runs", params={"max_ml_score": 0.72})) == [ids[1], ids[0]]
        assert _ids(viewer.get("/runs", params={"min_ml_score": 0.6, "max_ml_score": 0.8})) == [ids[1]]
        assert _ids(viewer.get("/runs", params={"min_ml_score": 0})) == ids[2::-1]

        now = datetime.now(UTC)
        day_ago = (now - timedelta(days=1)).isoformat()
        assert _ids(viewer.get("/runs", params={"created_after": day_ago})) == ids[:0:-1]
        assert _ids(viewer.get("/runs", params={"created_before": day_ago})) == [ids[0]]
        combined = {"created_after": day_ago, "tag": "baseline", "min_ml_score": 0.7, "limit": 1}
        assert _ids(viewer.get("/runs", params=combined)) == [ids[1]]

        # an empty range matches nothing (what the schema accepts, the API accepts)
        assert _ids(viewer.get("/runs", params={"min_ml_score": 0.9, "max_ml_score": 0.1})) == []
        assert (
            _ids(viewer.get("/runs", params={"created_after": now.isoformat(), "created_before": day_ago}))
            == []
        )

        for params, needle in [
            ({"min_ml_score": 1.5}, "less than or equal to 1"),
            ({"created_after": "2026-01-01T00:00:00"}, "timezone"),
            ({"created_after": "yesterday"}, "datetime"),
            ({"tag": "no spaces"}, "String should match pattern"),
            ({"tag": [f"t{i}" for i in range(21)]}, "at most 20 items"),
        ]:
            response = viewer.get("/runs", params=params)
            assert response.status_code == 422, (params, response.text)
            assert needle in response.text, (params, response.text)
