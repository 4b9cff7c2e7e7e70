"""Recording the emulator's requests, and replaying them into a fresh emulator.

The emulator (moto) keeps everything in memory, so every `make dev` used to apply terraform/envs/local
again: 75-80 s, nearly all of it fixed waits inside the AWS provider. Replaying the requests that
Terraform made into a fresh emulator takes a second or two and builds the same resources, as long as:

- the emulator makes the same identifiers: moto draws every ID (KMS key ids, secret ARN suffixes,
  subscription ARNs...) from one random generator that can be seeded (`POST /moto-api/seed`). Both
  the recorded apply and the replay start from the same seed;
- the requests reach moto's handlers in the recorded order: Terraform sends up to 10 at once, so while
  recording, `RecordingMiddleware` lets one request at a time through (moto answers in milliseconds;
  the apply's time is the provider's own waits, so this costs nothing measurable) and records each
  one in the order it was handled. The replay sends them one after the other in that order.

Each entry keeps the request exactly as received (method, raw path and query, headers, body - a chunked
body is stored de-chunked) and the status moto answered; the replay checks that every request gets the
same status again, so a replay that diverges stops at the first difference instead of building a
different stack. moto's own recorder (`/moto-api/recorder/*`) records in arrival order rather than
handling order, without statuses, and drops chunked bodies, which is why this one sits in front of it.

The middleware serves its controls under `/_devstack/recorder` on the emulator itself, so an emulator
in another process (the tests' `EmulatorProcess`) is recorded and replayed the same way.
"""

from __future__ import annotations

import base64
import http.client
import io
import json
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from werkzeug.datastructures import EnvironHeaders

CONTROL_PATH = "/_devstack/recorder"
# Headers the replay recomputes (the body is sent de-chunked, with its length).
_SKIPPED_HEADERS = {"content-length", "transfer-encoding", "connection", "keep-alive"}

StartResponse = Callable[..., Any]
WsgiApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


class ReplayError(RuntimeError):
    """A replay that did not reproduce the recording (the message says which request diverged)."""


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    uri: str  # raw path and query, as received
    headers: tuple[tuple[str, str], ...]
    body: bytes
    status: int

    def to_json(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "uri": self.uri,
            "headers": [list(h) for h in self.headers],
            "body": base64.b64encode(self.body).decode("ascii"),
            "status": self.status,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RecordedRequest:
        try:
            return cls(
                method=str(data["method"]),
                uri=str(data["uri"]),
                headers=tuple((str(k), str(v)) for k, v in data["headers"]),
                body=base64.b64decode(data["body"], validate=True),
                status=int(data["status"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"not a recorded request ({exc!r})") from exc

    def describe(self) -> str:
        target = next((v for k, v in self.headers if k.lower() == "x-amz-target"), "")
        action = f" {target}" if target else ""
        return f"{self.method} {self.uri[:120]}{action}"


def _read_body(environ: dict[str, Any]) -> bytes:
    stream = environ.get("wsgi.input")
    if stream is None:
        return b""
    if environ.get("wsgi.input_terminated"):  # chunked: werkzeug de-chunks and ends the stream
        data = stream.read()
    else:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        data = stream.read(length) if length > 0 else b""
    return bytes(data)


class RecordingMiddleware:
    """WSGI middleware in front of moto's application. Passes requests straight through unless a
    recording runs; then it serializes them and records each one with its status."""

    def __init__(self, app: WsgiApp) -> None:
        self._app = app
        self._serial = threading.Lock()
        self._recording = False
        self._entries: list[RecordedRequest] = []

    @property
    def recording(self) -> bool:
        return self._recording

    def start(self) -> None:
        with self._serial:
            self._entries = []
            self._recording = True

    def stop(self) -> list[RecordedRequest]:
        with self._serial:
            self._recording = False
            entries, self._entries = self._entries, []
        return entries

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        if str(environ.get("PATH_INFO", "")).startswith(CONTROL_PATH):
            return self._control(environ, start_response)
        if not self._recording:
            return self._app(environ, start_response)
        with self._serial:
            if not self._recording:
                return self._app(environ, start_response)
            return self._record(environ, start_response)

    def _record(self, environ: dict[str, Any], start_response: StartResponse) -> list[bytes]:
        body = _read_body(environ)
        environ["wsgi.input"] = io.BytesIO(body)
        environ["CONTENT_LENGTH"] = str(len(body))
        environ["wsgi.input_terminated"] = False
        environ.pop("HTTP_TRANSFER_ENCODING", None)
        headers = tuple(
            (name, value)
            for name, value in EnvironHeaders(environ).items()
            if name.lower() not in _SKIPPED_HEADERS
        )
        uri = environ.get("RAW_URI") or environ.get("REQUEST_URI") or environ.get("PATH_INFO", "/")
        if "?" not in uri and environ.get("QUERY_STRING"):
            uri = f"{uri}?{environ['QUERY_STRING']}"
        status: list[str] = []

        def _start_response(line: str, response_headers: Any, exc_info: Any = None) -> Any:
            status.append(line)
            return start_response(line, response_headers, exc_info)

        result = self._app(environ, _start_response)
        try:
            chunks = list(result)  # the whole answer is made while the lock is held
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()
        code = int(status[-1].split(" ", 1)[0]) if status else 500
        self._entries.append(
            RecordedRequest(str(environ.get("REQUEST_METHOD", "GET")), str(uri), headers, body, code)
        )
        return chunks

    def _control(self, environ: dict[str, Any], start_response: StartResponse) -> list[bytes]:
        action = str(environ.get("PATH_INFO", ""))[len(CONTROL_PATH) :].strip("/")
        method = environ.get("REQUEST_METHOD", "GET")
        if method == "POST" and action == "start":
            self.start()
            payload: Any = {"recording": True}
        elif method == "POST" and action == "stop":
            payload = {"recording": False, "entries": [e.to_json() for e in self.stop()]}
        elif method == "GET" and action == "":
            payload = {"recording": self._recording, "count": len(self._entries)}
        else:
            start_response("404 Not Found", [("Content-Type", "application/json")])
            return [b'{"error": "unknown recorder action"}']
        data = json.dumps(payload).encode()
        start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(data)))])
        return [data]


# -- the client side: what `make dev` and the tests call over HTTP -------------------------------


class EmulatorControl:
    """The emulator's controls over HTTP: moto's seed and reset, our recorder, and the replay."""

    def __init__(self, port: int, host: str = "127.0.0.1", timeout: float = 30.0) -> None:
        self.host = host
        self.port = port
        self.timeout = timeout

    def _call(self, method: str, path: str, body: bytes | None = None) -> tuple[int, bytes]:
        connection = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        try:
            connection.request(method, path, body=body, headers={"Content-Type": "application/json"})
            response = connection.getresponse()
            return response.status, response.read()
        finally:
            connection.close()

    def _ok(self, method: str, path: str, body: bytes | None = None) -> bytes:
        status, data = self._call(method, path, body)
        if not 200 <= status < 300:
            raise RuntimeError(f"the emulator answered {status} to {method} {path}: {data[:200]!r}")
        return data

    def seed(self, seed: int) -> None:
        """Seed moto's random generator (every identifier it makes comes from it)."""
        self._ok("POST", f"/moto-api/seed?a={int(seed)}")

    def reset(self) -> None:
        """Forget every resource (moto's reset of all backends)."""
        self._ok("POST", "/moto-api/reset")

    def configure(self, config: dict[str, Any]) -> None:
        self._ok("POST", "/moto-api/config", json.dumps(config).encode())

    def start_recording(self) -> None:
        self._ok("POST", f"{CONTROL_PATH}/start")

    def stop_recording(self) -> list[RecordedRequest]:
        data = json.loads(self._ok("POST", f"{CONTROL_PATH}/stop"))
        return [RecordedRequest.from_json(e) for e in data["entries"]]

    def replay(self, entries: Iterable[RecordedRequest]) -> int:
        """Send each request in order; raise ReplayError at the first one whose status differs from
        the recorded one. Returns how many were replayed."""
        count = 0
        connection = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        try:
            for count, entry in enumerate(entries, start=1):
                status, data = self._send(connection, entry)
                if status != entry.status:
                    raise ReplayError(
                        f"request {count} ({entry.describe()}) answered {status} instead of the recorded "
                        f"{entry.status}: {data[:300].decode(errors='replace')}"
                    )
        except (OSError, http.client.HTTPException) as exc:
            raise ReplayError(f"request {count} could not be replayed: {exc}") from exc
        finally:
            connection.close()
        return count

    @staticmethod
    def _send(connection: http.client.HTTPConnection, entry: RecordedRequest) -> tuple[int, bytes]:
        headers = dict(entry.headers)
        connection.request(entry.method, entry.uri, body=entry.body or None, headers=headers)
        response = connection.getresponse()
        return response.status, response.read()


def dump_entries(entries: Iterable[RecordedRequest]) -> Iterator[str]:
    """JSON lines, one request a line."""
    for entry in entries:
        yield json.dumps(entry.to_json(), separators=(",", ":")) + "\n"


def load_entries(lines: Iterable[str]) -> list[RecordedRequest]:
    entries = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            entries.append(RecordedRequest.from_json(json.loads(line)))
        except ValueError as exc:
            raise ValueError(f"line {number}: {exc}") from exc
    return entries
