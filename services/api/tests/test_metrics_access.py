"""GET /metrics behind the load balancer: only the ADOT collector on the task's loopback reads it
when METRICS_LOOPBACK_ONLY is set - the ALB's 404 rule matches "/metrics", but a percent-encoded path
(/%6Detrics) reaches the same route (docs/decisions/0019-platform-metrics-and-traces.md)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from mlops_api.app import create_app
from mlops_api.config import Settings

pytestmark = pytest.mark.integration  # a real PostgreSQL


@pytest.fixture
def api_env(migrated_database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", migrated_database_url)
    monkeypatch.setenv("OUTBOX_RELAY_ENABLED", "false")
    monkeypatch.setenv("RECONCILE_INTERVAL_SECONDS", "0")


@pytest.mark.parametrize("path", ["/metrics", "/%6Detrics"])
def test_only_the_loopback_reads_the_metrics(
    api_env: None, monkeypatch: pytest.MonkeyPatch, path: str
) -> None:
    monkeypatch.setenv("METRICS_LOOPBACK_ONLY", "true")
    app = create_app(Settings())
    with TestClient(app, client=("10.0.1.17", 40000)) as load_balancer:  # the ALB's address in the VPC
        refused = load_balancer.get(path)
    assert refused.status_code == 404
    assert "mlops_outbox_backlog" not in refused.text
    with TestClient(app, client=("127.0.0.1", 40001)) as collector:
        scraped = collector.get(path)
    assert scraped.status_code == 200
    assert "mlops_outbox_backlog" in scraped.text


def test_everyone_reads_the_metrics_unless_asked(api_env: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("METRICS_LOOPBACK_ONLY", raising=False)
    with TestClient(create_app(Settings()), client=("10.0.1.17", 40000)) as client:
        assert client.get("/metrics").status_code == 200  # make dev, the local stack's Prometheus
