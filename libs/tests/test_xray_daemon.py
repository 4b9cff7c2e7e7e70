"""mlops_contracts.xray_daemon: spans reach the X-Ray daemon of a Lambda function in its format (a real
UDP socket, decoded as the daemon does), every span of a big batch arrives in datagrams that fit, and a
span too large for one datagram is reported, not silently lost with the rest."""

from __future__ import annotations

import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from mlops_contracts.xray_daemon import (
    MAX_DATAGRAM_BYTES,
    DaemonAddressError,
    XRayDaemonSpanExporter,
    parse_daemon_address,
)
from mlops_testkit.xray_daemon import FakeXRayDaemon


def finished_spans(count: int, *, attribute_bytes: int = 0) -> list[ReadableSpan]:
    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("test")
    for index in range(count):
        with tracer.start_as_current_span(f"span-{index}") as span:
            span.set_attribute("mlops.run_id", str(index))
            if attribute_bytes:
                span.set_attribute("payload", "x" * attribute_bytes)
    return list(memory.get_finished_spans())


@pytest.mark.parametrize(
    ("value", "address"),
    [
        ("169.254.79.129:2000", ("169.254.79.129", 2000)),
        ("tcp:127.0.0.1:2000 udp:127.0.0.2:2001", ("127.0.0.2", 2001)),
        ("udp:127.0.0.2:2001 tcp:127.0.0.1:2000", ("127.0.0.2", 2001)),
        (" localhost:2000 ", ("localhost", 2000)),
    ],
)
def test_the_daemon_address_forms(value: str, address: tuple[str, int]) -> None:
    assert parse_daemon_address(value) == address


@pytest.mark.parametrize(
    "value", ["", "2000", "localhost", "localhost:port", "host:70000", "tcp:127.0.0.1:2000"]
)
def test_a_bad_daemon_address_is_named(value: str) -> None:
    with pytest.raises(DaemonAddressError, match="AWS_XRAY_DAEMON_ADDRESS"):
        parse_daemon_address(value)


def test_spans_arrive_in_the_daemons_format() -> None:
    spans = finished_spans(3)
    with FakeXRayDaemon() as daemon:
        exporter = XRayDaemonSpanExporter(daemon.address)
        assert exporter.export(spans) is SpanExportResult.SUCCESS
        received = daemon.receive()
        exporter.shutdown()
    assert len(daemon.datagrams) == 1
    assert [span.name for span in received] == ["span-0", "span-1", "span-2"]
    assert [span.attributes["mlops.run_id"] for span in received] == ["0", "1", "2"]
    assert [span.trace_id for span in received] == [format(s.context.trace_id, "032x") for s in spans]


def test_a_batch_larger_than_a_datagram_is_cut_into_datagrams_that_fit() -> None:
    spans = finished_spans(40, attribute_bytes=4_000)  # ~40 x 5.4 kB once in base64: several datagrams
    with FakeXRayDaemon() as daemon:
        exporter = XRayDaemonSpanExporter(daemon.address)
        assert exporter.export(spans) is SpanExportResult.SUCCESS
        received = daemon.receive()
        exporter.shutdown()
    assert len(daemon.datagrams) > 1
    assert all(len(datagram) <= MAX_DATAGRAM_BYTES for datagram in daemon.datagrams)
    assert sorted(span.name for span in received) == sorted(f"span-{i}" for i in range(40))


def test_a_span_too_large_for_a_datagram_is_reported_and_the_others_still_arrive() -> None:
    spans = finished_spans(2) + finished_spans(1, attribute_bytes=60_000)  # 80 kB in base64
    with FakeXRayDaemon() as daemon:
        exporter = XRayDaemonSpanExporter(daemon.address)
        assert exporter.export(spans) is SpanExportResult.FAILURE
        received = daemon.receive()
        exporter.shutdown()
    assert sorted(span.name for span in received) == ["span-0", "span-1"]
