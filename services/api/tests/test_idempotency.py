"""POST /runs with an Idempotency-Key against the live API: a retry is the same run, never a second."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import psycopg

from mlops_testkit.api import Clients, run_body


def _runs(db: psycopg.Connection[Any]) -> list[tuple[int, str | None]]:
    return [
        (int(r[0]), r[1]) for r in db.execute("SELECT id, idempotency_key FROM pipeline_runs ORDER BY id")
    ]


def _outbox_rows(db: psycopg.Connection[Any]) -> int:
    row = db.execute("SELECT count(*) FROM outbox WHERE event_type = 'run.created'").fetchone()
    assert row is not None
    return int(row[0])


def test_same_key_and_body_answers_the_first_run_with_200(
    clients: Clients, datasets: dict[str, int], db: psycopg.Connection[Any]
) -> None:
    body = run_body(datasets)
    with clients.as_("operator") as op:
        first = op.post("/runs", json=body, headers={"Idempotency-Key": "launch-1"})
        # the same body with keys in another order and a default spelled out is the same request
        again = op.post(
            "/runs",
            json={**dict(reversed(body.items())), "ml_score_threshold": 0.7},
            headers={"Idempotency-Key": "launch-1"},
        )
    assert first.status_code == 201, first.text
    assert again.status_code == 200, again.text
    assert again.json() == first.json()
    assert again.headers["location"] == f"/runs/{first.json()['id']}"
    assert _runs(db) == [(first.json()["id"], "launch-1")]
    assert _outbox_rows(db) == 1  # one run.created: one workflow


def test_same_key_with_another_body_is_422_naming_the_conflict(
    clients: Clients, datasets: dict[str, int], db: psycopg.Connection[Any]
) -> None:
    with clients.as_("operator") as op:
        first = op.post("/runs", json=run_body(datasets), headers={"Idempotency-Key": "k-2"})
        other = op.post(
            "/runs", json=run_body(datasets, ml_score_threshold=0.9), headers={"Idempotency-Key": "k-2"}
        )
    assert first.status_code == 201, first.text
    assert other.status_code == 422
    detail = other.json()["detail"]
    assert "Idempotency-Key 'k-2'" in detail
    assert f"run {first.json()['id']}" in detail
    assert "different request body" in detail
    assert len(_runs(db)) == 1


def test_keys_are_per_caller_and_requests_without_a_key_are_not_deduplicated(
    clients: Clients, datasets: dict[str, int], db: psycopg.Connection[Any]
) -> None:
    body = run_body(datasets)
    with clients.as_("operator") as op, clients.as_("admin") as admin:
        mine = op.post("/runs", json=body, headers={"Idempotency-Key": "shared"})
        theirs = admin.post("/runs", json=body, headers={"Idempotency-Key": "shared"})
        plain = [op.post("/runs", json=body) for _ in range(2)]
    assert [r.status_code for r in (mine, theirs, *plain)] == [201, 201, 201, 201]
    assert len({r.json()["id"] for r in (mine, theirs, *plain)}) == 4


def test_twenty_concurrent_retries_create_one_run(
    clients: Clients, datasets: dict[str, int], db: psycopg.Connection[Any]
) -> None:
    body = run_body(datasets)

    def post(_: int) -> httpx.Response:
        with clients.as_("operator") as op:
            return op.post("/runs", json=body, headers={"Idempotency-Key": "burst"})

    with ThreadPoolExecutor(max_workers=20) as pool:
        answers = list(pool.map(post, range(20)))
    codes = sorted(r.status_code for r in answers)
    assert codes == [200] * 19 + [201], [r.text for r in answers]
    assert len({r.json()["id"] for r in answers}) == 1
    assert len(_runs(db)) == 1
    assert _outbox_rows(db) == 1


def test_a_bad_key_is_422(clients: Clients, datasets: dict[str, int]) -> None:
    with clients.as_("operator") as op:
        too_long = op.post("/runs", json=run_body(datasets), headers={"Idempotency-Key": "k" * 256})
    assert too_long.status_code == 422
    assert "Idempotency-Key" in too_long.text
