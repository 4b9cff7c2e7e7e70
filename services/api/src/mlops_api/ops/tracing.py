"""The API's spans (docs/decisions/0019-platform-metrics-and-traces.md): FastAPI's instrumentation on
the provider of mlops_contracts.tracing, each request's span tagged with the run of its path."""

from __future__ import annotations

from fastapi import FastAPI
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
from opentelemetry.sdk.trace import TracerProvider

from mlops_contracts.tracing import run_id_request_hook

# The load balancer's health checks and the collector's scrape: a span each minute per task, no news.
UNTRACED_PATHS = "/health$,/metrics$"


def instrument_app(app: FastAPI, provider: TracerProvider | None) -> None:
    """Trace the app's requests (nothing when tracing is off: `provider` None)."""
    if provider is None:
        return
    FastAPIInstrumentor.instrument_app(
        app,
        tracer_provider=provider,
        server_request_hook=run_id_request_hook,
        excluded_urls=UNTRACED_PATHS,
    )
