"""OpenTelemetry traces of the API and the workers (docs/decisions/0019-platform-metrics-and-traces.md).

Off unless OTEL_TRACES_ENABLED=true: then spans go over OTLP/HTTP to OTEL_EXPORTER_OTLP_ENDPOINT (in
AWS the ADOT collector beside the API, which writes them to X-Ray). `configure_tracing` sets up the
SDK and instruments httpx (the ApiClient, which also carries the trace context to the API) and
botocore (every AWS call); the API adds FastAPI's instrumentation with `run_id_request_hook`.

Every span about a run carries RUN_ID_ATTRIBUTE, so that X-Ray's trace search follows one run
through the API, the workers and the AWS calls: taken from `/runs/{id}` paths, or set by the code
that knows the run (`set_run_id`)."""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Mapping
from typing import Any

from opentelemetry import trace
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor, SpanExporter
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

log = logging.getLogger(__name__)

RUN_ID_ATTRIBUTE = "mlops.run_id"
# /runs/{id} and everything under it: the run's id is the path's second segment
_RUN_PATH = re.compile(r"^/runs/([0-9A-Za-z][0-9A-Za-z_-]{0,127})(?:/|$)")


class TracingSettings(BaseSettings):
    model_config = SettingsConfigDict(populate_by_name=True, extra="ignore")

    enabled: bool = Field(default=False, validation_alias="OTEL_TRACES_ENABLED")
    endpoint: str = Field(
        default="http://127.0.0.1:4318",
        validation_alias="OTEL_EXPORTER_OTLP_ENDPOINT",
        description="OTLP/HTTP base URL of the collector (the ADOT sidecar); /v1/traces is added",
    )
    service_name: str = Field(default="", validation_alias="OTEL_SERVICE_NAME")


_lock = threading.Lock()
_configured: TracerProvider | None = None


def run_id_of_path(path: str) -> str | None:
    """The run id of a `/runs/{id}...` path (None for other paths, and for `/runs` itself)."""
    match = _RUN_PATH.match(path)
    return match.group(1) if match else None


def set_run_id(run_id: object, span: trace.Span | None = None) -> None:
    """Tag the current span (or `span`) with the run it is about."""
    target = span or trace.get_current_span()
    if run_id is not None and target.is_recording():
        target.set_attribute(RUN_ID_ATTRIBUTE, str(run_id))


def run_id_request_hook(span: trace.Span, scope: Mapping[str, Any]) -> None:
    """FastAPI/ASGI server hook: the run id of the request's path on the request's span."""
    run_id = run_id_of_path(str(scope.get("path", "")))
    if run_id is not None:
        set_run_id(run_id, span)


def _httpx_request_hook(span: trace.Span, request: Any) -> None:
    """httpx client hook: the run id of the called URL (the workers' ApiClient calls /runs/{id}/...)."""
    run_id = run_id_of_path(str(getattr(request.url, "path", "")))
    if run_id is not None:
        set_run_id(run_id, span)


async def _httpx_async_request_hook(span: trace.Span, request: Any) -> None:
    _httpx_request_hook(span, request)


def configure_tracing(
    service_name: str,
    *,
    exporter: SpanExporter | None = None,
    settings: TracingSettings | None = None,
) -> TracerProvider | None:
    """Set up tracing once per process and return its provider (the same one on later calls); None
    when it is off.

    `exporter` (tests: an InMemorySpanExporter) switches it on and replaces the OTLP exporter. The
    provider is also made the global one, which the instrumented libraries use."""
    global _configured
    with _lock:
        if _configured is not None:
            return _configured
        settings = settings or TracingSettings()
        if exporter is None and not settings.enabled:
            return None
        resource = Resource.create({SERVICE_NAME: settings.service_name or service_name})
        provider = TracerProvider(resource=resource)
        if exporter is None:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            endpoint = settings.endpoint.rstrip("/") + "/v1/traces"
            provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint)))
            log.info("traces go to %s as %s", endpoint, settings.service_name or service_name)
        else:
            provider.add_span_processor(SimpleSpanProcessor(exporter))
        trace.set_tracer_provider(provider)
        _instrument_clients(provider)
        _configured = provider
        return provider


def _instrument_clients(provider: TracerProvider) -> None:
    from opentelemetry.instrumentation.botocore import BotocoreInstrumentor
    from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor

    HTTPXClientInstrumentor().instrument(
        tracer_provider=provider,
        request_hook=_httpx_request_hook,
        async_request_hook=_httpx_async_request_hook,
    )
    BotocoreInstrumentor().instrument(tracer_provider=provider)  # type: ignore[no-untyped-call]
