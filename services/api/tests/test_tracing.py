"""The API's spans (docs/decisions/0019-platform-metrics-and-traces.md): each request about a run
carries the run's id, whatever the answer; the health checks and the collector's scrape are not traced."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from mlops_api.app import create_app
from mlops_api.config import Settings
from mlops_contracts.span_redaction import RedactingSpanExporter
from mlops_contracts.tracing import RUN_ID_ATTRIBUTE
from mlops_testkit.api import make_key

pytestmark = pytest.mark.integration  # a real PostgreSQL

TOKEN = "v1.a-signed-approval-token.5f3a"


def test_the_api_spans_carry_the_run_id(
    migrated_database_url: str, db: psycopg.Connection[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATABASE_URL", migrated_database_url)
    monkeypatch.setenv("OUTBOX_RELAY_ENABLED", "false")
    monkeypatch.setenv("RECONCILE_INTERVAL_SECONDS", "0")
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    # as configure_tracing sets up every exporter (mlops_contracts.span_redaction)
    provider.add_span_processor(SimpleSpanProcessor(RedactingSpanExporter(exporter)))
    key = make_key(db, "viewer")
    run_id = "987654321"  # no such run

    with TestClient(create_app(Settings(), tracer_provider=provider)) as client:
        assert client.get(f"/runs/{run_id}", headers={"X-API-Key": key}).status_code == 404
        # an approval link's token is in its path: the spans carry the route, never the token
        client.get(f"/runs/{run_id}/approval-links/{TOKEN}")
        assert client.get("/runs", headers={"X-API-Key": key}).status_code == 200
        assert client.get("/health").status_code in (200, 503)

    servers = [span for span in exporter.get_finished_spans() if span.kind == SpanKind.SERVER]
    by_route = {(span.attributes or {}).get("http.route"): dict(span.attributes or {}) for span in servers}
    assert TOKEN not in repr(
        [(span.name, dict(span.attributes or {})) for span in exporter.get_finished_spans()]
    )
    assert set(by_route) == {
        "/runs/{run_id}",
        "/runs",
        "/runs/{run_id}/approval-links/{token}",
    }  # not /health
    assert by_route["/runs/{run_id}"][RUN_ID_ATTRIBUTE] == run_id
    assert RUN_ID_ATTRIBUTE not in by_route["/runs"]
    attributes = by_route["/runs/{run_id}"]
    assert attributes.get("http.status_code", attributes.get("http.response.status_code")) == 404
