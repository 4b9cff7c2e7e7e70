"""The transactional outbox (docs/decisions/0006-transactional-outbox.md): events are delayed, never lost or duplicated, when the bus is
down; the relay marks only what EventBridge accepted."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import psycopg
import pytest
from aiohttp import web
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from sqlalchemy.engine import make_url

from mlops_api.db import create_engine, session_factory
from mlops_api.migrate import upgrade
from mlops_api.outbox.publisher import EventBridgePublisher
from mlops_api.outbox.relay import OutboxRelay, PublishError
from mlops_devstack.emulator import Emulator
from mlops_devstack.postgres import drop_database, scratch_database
from mlops_testkit.api import BUS, AwsFixture, Clients, libpq, run_body


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
        # anyone may probe, but only a key holder reads why: no exception text (hosts, ports) leaks
        assert health.json()["checks"]["event_bus"]["detail"] == "unreachable (see the API's log)"
        assert "127.0.0.1" not in health.text
        assert "Error" not in health.text
        with clients.as_("viewer") as viewer:
            detailed = viewer.get("/health")
        assert detailed.status_code == 503
        assert "Connect" in detailed.json()["checks"]["event_bus"]["detail"]
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


class FakeEventBridge:
    """An HTTP server in EventBridge's place, for what the emulator cannot do: refuse some entries
    of a call, refuse a whole call. It answers in PutEvents' real shapes and checks each request's
    SigV4 signature against what it received on the wire."""

    def __init__(self, answers: list[tuple[int, dict[str, Any]]]) -> None:
        self.answers = answers
        self.requests: list[dict[str, Any]] = []
        self.url = ""
        self._runner: web.AppRunner | None = None

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        self.requests.append(
            {
                "headers": dict(request.headers),
                "body": json.loads(body),
                "signature_ok": _signature_ok(request, body),
            }
        )
        status, answer = self.answers.pop(0)
        return web.Response(status=status, body=json.dumps(answer), content_type="application/x-amz-json-1.1")

    async def __aenter__(self) -> FakeEventBridge:
        app = web.Application()
        app.router.add_post("/", self._handle)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}"
        return self

    async def __aexit__(self, *_: object) -> None:
        assert self._runner is not None
        await self._runner.cleanup()


FAKE_CREDENTIALS = Credentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")


def _signature_ok(request: web.Request, body: bytes) -> bool:
    """Recompute the SigV4 signature from the request as received (botocore's signer, the known
    secret): a header changed or added after signing, or another body, makes it differ."""
    authorization = request.headers["Authorization"]
    fields = dict(part.strip().split("=", 1) for part in authorization.split(" ", 1)[1].split(","))
    signed = fields["SignedHeaders"].split(";")
    headers = {name: value for name, value in request.headers.items() if name.lower() in signed}
    wire = AWSRequest(request.method, f"http://{request.host}{request.path_qs}", data=body, headers=headers)
    wire.context["timestamp"] = request.headers["X-Amz-Date"]
    signer = SigV4Auth(FAKE_CREDENTIALS, "events", "eu-west-1")
    expected = signer.signature(signer.string_to_sign(wire, signer.canonical_request(wire)), wire)
    return {"host", "x-amz-date", "x-amz-target", "content-type"} <= set(signed) and (
        fields["Signature"] == expected
    )


def _publisher(url: str) -> EventBridgePublisher:
    return EventBridgePublisher(endpoint_url=url, region="eu-west-1", credentials=FAKE_CREDENTIALS)


def test_relay_marks_only_accepted_entries(private_database: str) -> None:
    db = psycopg.connect(libpq(private_database), autocommit=True)
    for i in range(3):
        db.execute(
            "INSERT INTO outbox (event_type, source, detail) VALUES ('run.created', 'mlops.api', %s)",
            (psycopg.types.json.Jsonb({"run_id": i}),),
        )
    answers = [
        (
            200,
            {
                "FailedEntryCount": 1,
                "Entries": [
                    {"EventId": "e-1"},
                    {"ErrorCode": "InternalFailure", "ErrorMessage": "try again"},
                    {"EventId": "e-3"},
                ],
            },
        ),
        (200, {"FailedEntryCount": 0, "Entries": [{"EventId": "e-2"}]}),
    ]

    async def scenario() -> tuple[list[tuple[int, int]], FakeEventBridge]:
        engine = create_engine(private_database, pool_size=1)
        async with FakeEventBridge(answers) as bus:
            publisher = _publisher(bus.url)
            relay = OutboxRelay(session_factory(engine), publisher, bus_name=BUS)
            try:
                rounds = [
                    await relay.publish_batch(),
                    await relay.publish_batch(),
                    await relay.publish_batch(),
                ]
            finally:
                await publisher.close()
                await engine.dispose()
        return rounds, bus

    rounds, bus = asyncio.run(scenario())
    assert rounds == [(2, 1), (1, 0), (0, 0)]
    assert [r["signature_ok"] for r in bus.requests] == [True, True]
    first = bus.requests[0]
    assert first["headers"]["X-Amz-Target"] == "AWSEvents.PutEvents"
    assert first["headers"]["Content-Type"] == "application/x-amz-json-1.1"
    assert [json.loads(e["Detail"])["run_id"] for e in first["body"]["Entries"]] == [0, 1, 2]
    assert {e["EventBusName"] for e in first["body"]["Entries"]} == {BUS}
    assert all(isinstance(e["Time"], int) for e in first["body"]["Entries"])  # epoch seconds, as botocore
    assert [json.loads(e["Detail"])["run_id"] for e in bus.requests[1]["body"]["Entries"]] == [1]
    rows = db.execute(
        "SELECT detail->>'run_id', sent_at IS NOT NULL, attempts FROM outbox ORDER BY id"
    ).fetchall()
    db.close()
    assert rows == [("0", True, 0), ("1", True, 1), ("2", True, 0)]


def test_a_refused_call_names_the_reason_and_nothing_is_marked(private_database: str) -> None:
    db = psycopg.connect(libpq(private_database), autocommit=True)
    db.execute("INSERT INTO outbox (event_type, source, detail) VALUES ('run.created', 'mlops.api', '{}')")
    throttled = {"__type": "com.amazonaws.events#ThrottlingException", "message": "Rate exceeded"}

    async def scenario() -> str:
        engine = create_engine(private_database, pool_size=1)
        async with FakeEventBridge([(400, throttled)]) as bus:
            publisher = _publisher(bus.url)
            relay = OutboxRelay(session_factory(engine), publisher, bus_name=BUS)
            try:
                with pytest.raises(PublishError) as refused:
                    await relay.publish_batch()
            finally:
                await publisher.close()
                await engine.dispose()
        return str(refused.value)

    message = asyncio.run(scenario())
    assert "ThrottlingException" in message
    assert "Rate exceeded" in message
    row = db.execute("SELECT sent_at, attempts, last_error FROM outbox").fetchone()
    db.close()
    assert row is not None
    assert row[0] is None
    assert row[1] == 1
    assert "ThrottlingException" in row[2]


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
