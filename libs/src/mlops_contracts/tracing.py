"""OpenTelemetry traces of the API and the workers (docs/decisions/0019-platform-metrics-and-traces.md).

Off unless OTEL_TRACES_ENABLED=true: then spans go over OTLP/HTTP to OTEL_EXPORTER_OTLP_ENDPOINT (in
AWS the ADOT collector beside the API, which writes them to X-Ray), or, in a Lambda function, over UDP
to the X-Ray daemon Lambda runs beside it (mlops_contracts.xray_daemon; the function's invocation span
is mlops_sqs_runtime.lambda_entry's). `configure_tracing` sets up the SDK with X-Ray-compatible trace
ids and instruments httpx (the ApiClient, which also carries the trace context to the API) and
botocore (every AWS call); the API adds FastAPI's instrumentation with `run_id_request_hook`.

Every span about a run carries RUN_ID_ATTRIBUTE, listed in `aws.xray.annotations` so that X-Ray
indexes it as the annotation `mlops_run_id` (X-Ray keys take no dots) and its trace search follows one
run through the API, the workers and the AWS calls: taken from `/runs/{id}` paths, set by the code
that knows the run (`set_run_id`), or by a worker's span for its task (`run_span`)."""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from opentelemetry import trace
from opentelemetry.sdk.extension.aws.resource import AwsLambdaResourceDetector
from opentelemetry.sdk.extension.aws.trace import AwsXRayIdGenerator
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor, SpanExporter
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from mlops_contracts.span_redaction import RedactingSpanExporter

log = logging.getLogger(__name__)

RUN_ID_ATTRIBUTE = "mlops.run_id"
# the attributes of a span that X-Ray indexes as annotations (the awsxray exporter and X-Ray's OTLP intake)
XRAY_ANNOTATIONS_ATTRIBUTE = "aws.xray.annotations"
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
    lambda_function_name: str | None = Field(
        default=None,
        validation_alias="AWS_LAMBDA_FUNCTION_NAME",
        description="set by Lambda: spans then go to the X-Ray daemon, not to OTLP/HTTP",
    )
    xray_daemon_address: str | None = Field(
        default=None,
        validation_alias="AWS_XRAY_DAEMON_ADDRESS",
        description="the X-Ray daemon Lambda runs beside a function with active tracing (host:port)",
    )


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
        target.set_attribute(XRAY_ANNOTATIONS_ATTRIBUTE, [RUN_ID_ATTRIBUTE])


@contextmanager
def run_span(name: str, run_id: object) -> Iterator[trace.Span]:
    """A span for a worker's work on one run (its task), tagged with the run: the AWS and API calls made
    inside are its children, so the run's trace holds them even when a batch carries several runs."""
    with trace.get_tracer(__name__).start_as_current_span(name) as span:
        set_run_id(run_id, span)
        yield span


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
        # every exporter gets the spans with their secrets redacted (mlops_contracts.span_redaction)
        if exporter is None:
            exporter = _exporter(settings, service_name)
            if exporter is None:
                return None
            processor: SpanProcessor = BatchSpanProcessor(RedactingSpanExporter(exporter))
        else:
            processor = SimpleSpanProcessor(RedactingSpanExporter(exporter))
        resource = Resource.create({SERVICE_NAME: settings.service_name or service_name})
        if settings.lambda_function_name:
            resource = resource.merge(AwsLambdaResourceDetector().detect())
        # X-Ray takes trace ids that start with their epoch second (the awsxray exporter drops others)
        provider = TracerProvider(resource=resource, id_generator=AwsXRayIdGenerator())
        provider.add_span_processor(processor)
        trace.set_tracer_provider(provider)
        _instrument_clients(provider)
        _configured = provider
        return provider


def _exporter(settings: TracingSettings, service_name: str) -> SpanExporter | None:
    """Where the spans go: the X-Ray daemon in a Lambda function, else the OTLP/HTTP endpoint."""
    name = settings.service_name or service_name
    if settings.lambda_function_name:
        if not settings.xray_daemon_address:
            log.warning(
                "tracing is on, but Lambda runs no X-Ray daemon beside %s (AWS_XRAY_DAEMON_ADDRESS is unset: "
                "the function's tracing mode is not Active): no spans",
                settings.lambda_function_name,
            )
            return None
        from mlops_contracts.xray_daemon import XRayDaemonSpanExporter

        log.info("traces go to the X-Ray daemon at %s as %s", settings.xray_daemon_address, name)
        return XRayDaemonSpanExporter(settings.xray_daemon_address)
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    endpoint = settings.endpoint.rstrip("/") + "/v1/traces"
    log.info("traces go to %s as %s", endpoint, name)
    return OTLPSpanExporter(endpoint=endpoint)


def _instrument_clients(provider: TracerProvider) -> None:
    from opentelemetry.instrumentation.botocore import BotocoreInstrumentor
    from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor

    HTTPXClientInstrumentor().instrument(
        tracer_provider=provider,
        request_hook=_httpx_request_hook,
        async_request_hook=_httpx_async_request_hook,
    )
    BotocoreInstrumentor().instrument(tracer_provider=provider)  # type: ignore[no-untyped-call]
