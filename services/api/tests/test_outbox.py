"""The transactional outbox (D6): events are delayed, never lost or duplicated, when the bus is
down; the relay marks only what EventBridge accepted."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import boto3
import httpx
import psycopg
import pytest
from api_testkit import BUS, AwsFixture, Clients, libpq, run_body
from botocore.stub import Stubber
from sqlalchemy.engine import make_url

from mlops_api.db import create_engine, session_factory
from mlops_api.migrate import upgrade
from mlops_api.outbox.relay import OutboxRelay
from mlops_devstack.emulator import Emulator
from mlops_devstack.postgres import drop_database, scratch_database


def test_run_created_reaches_the_bus_in_the_seed_envelope(
    clients: Clients, datasets: dict[str, int], aws: AwsFixture
) -> None:
    with clients.as_("operator") as op:
        run = op.post("/runs", json=run_body(datasets)).json()
    events = aws.drain_events(expect=1)
    assert len(events) == 1
    event = events[0]
    assert event["source"] == "mlops.api"
    assert event["detail-type"] == "run.created"
    detail = event["detail"]
    assert detail["run_id"] == run["id"]
    assert detail["timestamp"].startswith(run["created_at"][:10])
    assert detail["payload"] == {
        "model_name": run["model_name"],
        "model_id": run["model_id"],
        "task_type": "finetune",
        "experiment_name": run["experiment_name"],
    }
    assert detail["event_id"].startswith("outbox-")
    assert detail["data"]["eval_dataset_id"] == datasets["eval"]


def test_no_event_lost_or_duplicated_while_the_bus_is_down(
    clients: Clients,
    datasets: dict[str, int],
    aws: AwsFixture,
    emulator: Emulator,
    db: psycopg.Connection[Any],
) -> None:
    emulator.stop()
    try:
        with clients.as_("operator") as op, ThreadPoolExecutor(max_workers=8) as pool:
            responses = list(pool.map(lambda _: op.post("/runs", json=run_body(datasets)), range(200)))
        assert [r.status_code for r in responses] == [201] * 200
        created = {r.json()["id"] for r in responses}

        # the relay keeps trying and says why it cannot publish
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            row = db.execute("SELECT count(*) FROM outbox WHERE attempts > 0").fetchone()
            if row and row[0] > 0:
                break
            time.sleep(0.2)
        pending = db.execute(
            "SELECT count(*), max(attempts), max(last_error) FROM outbox WHERE sent_at IS NULL"
        ).fetchone()
        assert pending is not None
        assert pending[0] == 200
        assert pending[1] >= 1
        assert "Could not connect" in pending[2] or "Connect" in pending[2]
        with clients.anonymous() as anonymous:
            health = anonymous.get("/health")
        assert health.status_code == 503
        assert health.json()["checks"]["event_bus"]["ok"] is False
        assert health.json()["checks"]["database"]["ok"] is True
    finally:
        emulator.start()
        aws.provision()

    events = aws.drain_events(expect=200, timeout=60)
    run_ids = [e["detail"]["run_id"] for e in events if e["detail-type"] == "run.created"]
    assert len(run_ids) == 200
    assert set(run_ids) == created
    unsent = db.execute("SELECT count(*) FROM outbox WHERE sent_at IS NULL").fetchone()
    assert unsent == (0,)


@pytest.fixture
def private_database(pg_admin_url: str) -> Iterator[str]:
    """A migrated database no running API relay publishes from."""
    url = scratch_database(pg_admin_url, "relay")
    upgrade(url)
    yield url
    drop_database(pg_admin_url, make_url(url).database or "")


def test_relay_marks_only_accepted_entries(private_database: str) -> None:
    db = psycopg.connect(libpq(private_database), autocommit=True)
    for i in range(3):
        db.execute(
            "INSERT INTO outbox (event_type, source, detail) VALUES ('run.created', 'mlops.api', %s)",
            (psycopg.types.json.Jsonb({"run_id": i}),),
        )
    client = boto3.client("events", region_name="eu-west-1", aws_access_key_id="x", aws_secret_access_key="x")
    stubber = Stubber(client)
    stubber.add_response(
        "put_events",
        {
            "FailedEntryCount": 1,
            "Entries": [
                {"EventId": "e-1"},
                {"ErrorCode": "InternalFailure", "ErrorMessage": "try again"},
                {"EventId": "e-3"},
            ],
        },
    )
    stubber.add_response("put_events", {"FailedEntryCount": 0, "Entries": [{"EventId": "e-2"}]})

    async def scenario() -> list[tuple[int, int]]:
        engine = create_engine(private_database, pool_size=1)
        relay = OutboxRelay(session_factory(engine), lambda: client, bus_name=BUS)
        try:
            return [await relay.publish_batch(), await relay.publish_batch(), await relay.publish_batch()]
        finally:
            await engine.dispose()

    with stubber:
        rounds = asyncio.run(scenario())
        stubber.assert_no_pending_responses()
    assert rounds == [(2, 1), (1, 0), (0, 0)]
    rows = db.execute(
        "SELECT detail->>'run_id', sent_at IS NOT NULL, attempts FROM outbox ORDER BY id"
    ).fetchall()
    db.close()
    assert rows == [("0", True, 0), ("1", True, 1), ("2", True, 0)]


def test_metrics_expose_requests_runs_and_outbox(clients: Clients, datasets: dict[str, int]) -> None:
    with clients.as_("operator") as op:
        op.post("/runs", json=run_body(datasets))
    text = httpx.get(f"{clients.base_url}/metrics").text
    assert 'mlops_runs{status="pending"} 1.0' in text
    assert 'mlops_runs{status="approved"} 0.0' in text
    assert "mlops_outbox_backlog " in text
    assert "mlops_outbox_oldest_age_seconds " in text
    assert 'mlops_api_requests_total{method="POST",route="/runs",status="201"}' in text
    assert 'mlops_api_request_duration_seconds_bucket{le="0.05",method="POST",route="/runs"}' in text
