"""A stand-in for the X-Ray daemon Lambda runs beside a traced function: a UDP listener that reads the
datagrams mlops_contracts.xray_daemon sends (the daemon's header line, `T1S`, base64 of an OTLP
ExportTraceServiceRequest) and decodes the spans, so tests check the real wire format."""

from __future__ import annotations

import base64
import queue
import socket
import threading
from dataclasses import dataclass, field
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue

HEADER = b'{"format":"json","version":1}\n'
PREFIX = b"T1S"


def _value(value: AnyValue) -> Any:
    kind = value.WhichOneof("value")
    if kind == "array_value":
        return [_value(item) for item in value.array_value.values]
    return getattr(value, kind) if kind else None


@dataclass
class ReceivedSpan:
    name: str
    kind: int
    trace_id: str  # 32 hex digits
    span_id: str  # 16 hex digits
    parent_span_id: str  # "" for a root span
    attributes: dict[str, Any]
    resource: dict[str, Any]
    status_code: int
    events: list[str] = field(default_factory=list)


class FakeXRayDaemon:
    """`with FakeXRayDaemon() as daemon:` ... `daemon.address` ("127.0.0.1:port"), `daemon.receive()`.

    A thread reads the socket as the daemon does, so a burst of datagrams is not dropped by a full
    receive buffer while the test is busy elsewhere."""

    def __init__(self) -> None:
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._socket.bind(("127.0.0.1", 0))
        self._socket.settimeout(0.1)
        self._arrived: queue.Queue[bytes] = queue.Queue()
        self._stop = threading.Event()
        self._reader = threading.Thread(target=self._read, name="fake-xray-daemon", daemon=True)
        self._reader.start()
        self.datagrams: list[bytes] = []

    def _read(self) -> None:
        while not self._stop.is_set():
            try:
                datagram, _ = self._socket.recvfrom(70_000)
            except TimeoutError:
                continue
            except OSError:
                return
            self._arrived.put(datagram)

    @property
    def address(self) -> str:
        host, port = self._socket.getsockname()
        return f"{host}:{port}"

    def __enter__(self) -> FakeXRayDaemon:
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._reader.join(timeout=5)
        self._socket.close()

    def receive(self, *, quiet_seconds: float = 0.5) -> list[ReceivedSpan]:
        """The spans of every datagram that arrives until none has for `quiet_seconds`."""
        spans: list[ReceivedSpan] = []
        while True:
            try:
                datagram = self._arrived.get(timeout=quiet_seconds)
            except queue.Empty:
                return spans
            self.datagrams.append(datagram)
            spans.extend(decode(datagram))


def decode(datagram: bytes) -> list[ReceivedSpan]:
    """The spans of one datagram; AssertionError when it is not in the daemon's format."""
    assert datagram.startswith(HEADER + PREFIX), datagram[:60]
    request = ExportTraceServiceRequest.FromString(
        base64.b64decode(datagram[len(HEADER + PREFIX) :], validate=True)
    )
    spans = []
    for resource_spans in request.resource_spans:
        resource = {a.key: _value(a.value) for a in resource_spans.resource.attributes}
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                spans.append(
                    ReceivedSpan(
                        name=span.name,
                        kind=span.kind,
                        trace_id=span.trace_id.hex(),
                        span_id=span.span_id.hex(),
                        parent_span_id=span.parent_span_id.hex(),
                        attributes={a.key: _value(a.value) for a in span.attributes},
                        resource=resource,
                        status_code=span.status.code,
                        events=[event.name for event in span.events],
                    )
                )
    return spans
