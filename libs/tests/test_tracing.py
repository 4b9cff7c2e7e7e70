"""mlops_contracts.tracing: off by default; when on, a worker's call to the API carries the run id
on its span (for X-Ray to index) and the trace context in its headers (so the API's spans join the
worker's trace), with trace ids X-Ray takes."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time

import pytest

from mlops_contracts.tracing import TracingSettings, configure_tracing, run_id_of_path


@pytest.mark.parametrize(
    ("path", "run_id"),
    [
        ("/runs/0b7e6f2a-3c1d-4e5f-8a9b-0c1d2e3f4a5b", "0b7e6f2a-3c1d-4e5f-8a9b-0c1d2e3f4a5b"),
        ("/runs/42/events", "42"),
        ("/runs/42/approval-links/tok", "42"),
        ("/runs", None),
        ("/runs/", None),
        ("/datasets/42", None),
        ("/health", None),
    ],
)
def test_the_run_id_of_a_path(path: str, run_id: str | None) -> None:
    assert run_id_of_path(path) == run_id


def test_tracing_is_off_unless_switched_on(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OTEL_TRACES_ENABLED", raising=False)
    assert configure_tracing("mlops-test") is None
    assert TracingSettings().enabled is False
    monkeypatch.setenv("OTEL_TRACES_ENABLED", "maybe")
    with pytest.raises(ValueError, match="OTEL_TRACES_ENABLED"):
        TracingSettings()


# In a process of its own: configure_tracing instruments httpx and botocore for the whole process.
WORKER = textwrap.dedent(
    """
    import json, threading
    from http.server import BaseHTTPRequestHandler, HTTPServer

    import httpx
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from mlops_contracts.tracing import RUN_ID_ATTRIBUTE, configure_tracing

    seen = []

    class Api(BaseHTTPRequestHandler):
        def do_GET(self):
            seen.append(dict(self.headers))
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Api)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    exporter = InMemorySpanExporter()
    assert configure_tracing("mlops-worker", exporter=exporter) is configure_tracing("again")
    with httpx.Client(base_url=f"http://127.0.0.1:{server.server_port}") as client:
        client.get("/runs/run-7/approval")
        client.get("/datasets")
    server.shutdown()
    spans = exporter.get_finished_spans()
    print(json.dumps({
        "spans": [
            {"kind": span.kind.name, "run_id": span.attributes.get(RUN_ID_ATTRIBUTE),
             "annotations": list(span.attributes.get("aws.xray.annotations", [])),
             "trace_id": format(span.context.trace_id, "032x"),
             "service": span.resource.attributes["service.name"]}
            for span in spans
        ],
        "traceparents": [headers.get("traceparent") for headers in seen],
    }))
    """
)


def test_a_call_about_a_run_carries_its_id_and_the_trace_context() -> None:
    result = subprocess.run(
        [sys.executable, "-c", WORKER], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout.strip().splitlines()[-1])
    about_run, other = out["spans"]
    assert about_run["kind"] == other["kind"] == "CLIENT"
    assert about_run["run_id"] == "run-7"
    assert about_run["annotations"] == ["mlops.run_id"]  # X-Ray indexes it: search by annotation
    assert other["run_id"] is None
    assert other["annotations"] == []
    # X-Ray's trace ids begin with the epoch second they were made (the awsxray exporter drops others)
    for span in (about_run, other):
        assert abs(int(span["trace_id"][:8], 16) - time.time()) < 300
    assert about_run["service"] == "mlops-worker"
    # W3C trace context: the API continues the worker's trace
    first, second = out["traceparents"]
    assert first is not None
    assert first.split("-")[1] == about_run["trace_id"]
    assert second is not None
    assert second.split("-")[1] == other["trace_id"]


# What the instrumentations record of a call - its URL, an exception's message and stack trace - goes
# through redact_secrets before any exporter sees it (mlops_contracts.span_redaction).
LEAKY_WORKER = textwrap.dedent(
    """
    import json, threading
    from http.server import BaseHTTPRequestHandler, HTTPServer

    import httpx
    from opentelemetry import trace
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from mlops_contracts.tracing import configure_tracing

    class Server(BaseHTTPRequestHandler):
        def do_POST(self):
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Server)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    exporter = InMemorySpanExporter()
    configure_tracing("mlops-worker", exporter=exporter)
    base = f"http://127.0.0.1:{server.server_port}"
    tracer = trace.get_tracer("test")
    with tracer.start_as_current_span("decide") as span, httpx.Client(base_url=base) as client:
        client.post("/runs/7/approval-links/link-token-5f3a")
        response = client.post("/webhookb2/tenant-guid@tenant/IncomingWebhook/hook-secret-9c1/owner")
        try:
            response.raise_for_status()
        except httpx.HTTPStatusError as exc:
            span.record_exception(exc)
            span.set_status(trace.StatusCode.ERROR, str(exc))
    server.shutdown()
    print(json.dumps([
        {"name": s.name, "attributes": dict(s.attributes), "status": s.status.description,
         "events": [dict(e.attributes) for e in s.events]}
        for s in exporter.get_finished_spans()
    ], default=str))
    """
)


def test_exported_spans_carry_no_approval_token_or_webhook_secret() -> None:
    result = subprocess.run(
        [sys.executable, "-c", LEAKY_WORKER], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    exported = result.stdout.strip().splitlines()[-1]
    spans = json.loads(exported)
    assert {span["name"] for span in spans} == {"decide", "POST"}
    for secret in ("link-token-5f3a", "hook-secret-9c1", "tenant-guid"):
        assert secret not in exported
    urls = [span["attributes"].get("url.full", span["attributes"].get("http.url")) for span in spans]
    assert any(url and url.endswith("/runs/7/approval-links/[redacted]") for url in urls), urls
    (decide,) = (span for span in spans if span["name"] == "decide")
    assert "[redacted]" in decide["status"]
    assert "[redacted]" in decide["events"][0]["exception.message"]
