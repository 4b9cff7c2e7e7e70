"""Secrets kept out of the spans the platform exports (docs/decisions/0008-security.md,
docs/decisions/0019-platform-metrics-and-traces.md).

The instrumentations record what the logs redact: a request's path and URL (`/approval-links/<token>`,
whose holder can decide a release), the URL a client called (the Teams webhook, whose path is its
secret), and an exception's message and stack trace. `RedactingSpanExporter` wraps the exporter
(configure_tracing wraps every one) and hands it copies of the spans with every string - name,
attributes, events, status - passed through `redact_secrets`, the one function that knows the secrets'
shapes. Done at export because a finished span cannot be changed, and a hook per instrumentation
would miss what the next instrumentation records."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from opentelemetry.sdk.trace import Event, ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from opentelemetry.trace import Status

from mlops_contracts.logs import redact_secrets


def _value(value: Any) -> Any:
    if isinstance(value, str):
        return redact_secrets(value)
    if isinstance(value, list | tuple):  # an attribute's value: a scalar or a sequence of them
        return [_value(item) for item in value]
    return value


def _attributes(attributes: Mapping[str, Any] | None) -> dict[str, Any] | None:
    return None if attributes is None else {key: _value(value) for key, value in attributes.items()}


def redacted_span(span: ReadableSpan) -> ReadableSpan:
    """A copy of `span` whose strings hold no secret."""
    status = span.status
    if status.description:
        status = Status(status.status_code, redact_secrets(status.description))
    return ReadableSpan(
        name=redact_secrets(span.name),
        context=span.context,
        parent=span.parent,
        resource=span.resource,
        attributes=_attributes(span.attributes),
        events=[Event(event.name, _attributes(event.attributes), event.timestamp) for event in span.events],
        links=span.links,
        kind=span.kind,
        status=status,
        start_time=span.start_time,
        end_time=span.end_time,
        instrumentation_scope=span.instrumentation_scope,
    )


class RedactingSpanExporter(SpanExporter):
    """Exports through `exporter` the spans with their secrets redacted."""

    def __init__(self, exporter: SpanExporter) -> None:
        self._exporter = exporter

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return self._exporter.export([redacted_span(span) for span in spans])

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return self._exporter.force_flush(timeout_millis)

    def shutdown(self) -> None:
        self._exporter.shutdown()
