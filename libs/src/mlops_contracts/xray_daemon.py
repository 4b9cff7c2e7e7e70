"""OpenTelemetry spans to the X-Ray daemon that Lambda runs beside a function with active tracing
(docs/decisions/0019-platform-metrics-and-traces.md).

The daemon listens on UDP at AWS_XRAY_DAEMON_ADDRESS and forwards what it receives to X-Ray after the
invocation, so a function needs no collector of its own (a container image cannot take the ADOT
collector layer). The wire format is the one AWS's own ADOT SDKs use on Lambda: each datagram is the
daemon's JSON header line, the prefix `T1S` (sampled spans), then the base64 of an OTLP
`ExportTraceServiceRequest`.

Written here rather than imported: the only Python implementation is a module of
aws-opentelemetry-distro, which pins exact versions of some fifty instrumentation packages (and of the
SDK) that the platform's locks do not use; the encoding itself is the OTLP exporter's (`encode_spans`).
"""

from __future__ import annotations

import base64
import logging
import socket
from collections.abc import Sequence

from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

log = logging.getLogger(__name__)

DAEMON_HEADER = b'{"format":"json","version":1}\n'
SAMPLED_SPANS_PREFIX = b"T1S"
# the largest UDP payload over IPv4; the daemon reads one datagram per message
MAX_DATAGRAM_BYTES = 65_507


class DaemonAddressError(ValueError):
    """AWS_XRAY_DAEMON_ADDRESS names no UDP host:port."""


def parse_daemon_address(value: str) -> tuple[str, int]:
    """The daemon's UDP (host, port) from AWS_XRAY_DAEMON_ADDRESS: `host:port`, or X-Ray's two-address
    form `tcp:host:port udp:host:port`."""
    text = value.strip()
    for part in text.split():
        if part.startswith("udp:"):
            text = part[len("udp:") :]
            break
    else:
        if " " in text or text.startswith("tcp:"):
            raise DaemonAddressError(f"AWS_XRAY_DAEMON_ADDRESS {value!r} has no udp:host:port part")
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise DaemonAddressError(
            f"AWS_XRAY_DAEMON_ADDRESS {value!r} is not host:port (e.g. 169.254.79.129:2000)"
        )
    return host, int(port)


def daemon_datagram(spans: Sequence[ReadableSpan]) -> bytes:
    """One datagram carrying `spans` in the daemon's format."""
    payload = encode_spans(spans).SerializeToString()
    return DAEMON_HEADER + SAMPLED_SPANS_PREFIX + base64.b64encode(payload)


class XRayDaemonSpanExporter(SpanExporter):
    """Sends finished spans to the X-Ray daemon, as many spans per datagram as fit in one."""

    def __init__(self, address: str, *, max_datagram_bytes: int = MAX_DATAGRAM_BYTES) -> None:
        self._address = parse_daemon_address(address)
        self._max_bytes = max_datagram_bytes
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)

    def _datagrams(self, spans: Sequence[ReadableSpan]) -> tuple[list[bytes], int]:
        """`spans` cut into datagrams that fit, halving a batch until it does, and how many spans were
        left out: a span too large alone (X-Ray could not take it either: a segment is at most 64 kB)."""
        datagram = daemon_datagram(spans)
        if len(datagram) <= self._max_bytes:
            return [datagram], 0
        if len(spans) == 1:
            log.warning(
                "span %r is %d bytes encoded, over one datagram: not sent", spans[0].name, len(datagram)
            )
            return [], 1
        middle = len(spans) // 2
        first, first_left_out = self._datagrams(spans[:middle])
        second, second_left_out = self._datagrams(spans[middle:])
        return first + second, first_left_out + second_left_out

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        if not spans:
            return SpanExportResult.SUCCESS
        datagrams, left_out = self._datagrams(spans)
        try:
            for datagram in datagrams:
                self._socket.sendto(datagram, self._address)
        except OSError as exc:
            log.warning("spans not sent to the X-Ray daemon at %s:%d: %s", *self._address, exc)
            return SpanExportResult.FAILURE
        return SpanExportResult.FAILURE if left_out else SpanExportResult.SUCCESS

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return True  # every export sends at once: nothing is held here

    def shutdown(self) -> None:
        self._socket.close()
