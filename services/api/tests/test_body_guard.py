"""No unauthenticated load: a request with a body is refused on its headers, before the body is read.

Reproduces the finding: a 50 MB JSON body without a key was read and parsed before the 401 (+154 MB
per request), and a multipart upload was received whole before the key was checked. Raw sockets, so
the test sees whether the answer comes before the client has sent a single byte of the body.
"""

from __future__ import annotations

import json
import select
import socket
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import psycopg
import pytest

from mlops_testkit.api import ApiServer, AwsFixture, make_key, start_api

MB = 1024 * 1024


@pytest.fixture(scope="module")
def guarded_api(
    migrated_database_url: str, aws: AwsFixture, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ApiServer]:
    """An API process of its own, so its memory is this test's alone."""
    server = start_api(migrated_database_url, str(tmp_path_factory.mktemp("guarded-api")))
    yield server
    server.stop()


@dataclass
class Answer:
    status: int
    body: bytes
    body_bytes_sent: int  # how much of the body the client had sent when the answer came


def send(server: ApiServer, head: str, body_size: int, *, chunked: bool = False) -> Answer:
    """Send `head`, wait up to 3 s for an answer before any body byte, then stream the body in 1 MB
    chunks, looking for the answer before each one."""
    host, port = urlsplit(server.base_url).hostname, urlsplit(server.base_url).port
    sent = 0
    with socket.create_connection((host, port), timeout=60) as sock:
        sock.sendall(head.encode() + b"\r\n")
        ready, _, _ = select.select([sock], [], [], 3.0)
        chunk = b"[" * MB
        try:
            while not ready and sent < body_size:
                piece = chunk[: min(MB, body_size - sent)]
                sock.sendall(b"%x\r\n%s\r\n" % (len(piece), piece) if chunked else piece)
                sent += len(piece)
                ready, _, _ = select.select([sock], [], [], 0)
            if chunked and not ready:
                sock.sendall(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server answered and closed while the body was still coming
        received = b""
        while b"\r\n\r\n" not in received and (data := sock.recv(65536)):
            received += data
        header, _, body = received.partition(b"\r\n\r\n")
        length = next(
            int(line.split(b":", 1)[1])
            for line in header.lower().split(b"\r\n")
            if line.startswith(b"content-length:")
        )
        while len(body) < length and (data := sock.recv(65536)):
            body += data
    return Answer(int(header.split(b" ", 2)[1]), body, sent)


def post_head(
    path: str, length: int | None, *, key: str | None = None, content_type: str = "application/json"
) -> str:
    lines = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1", f"Content-Type: {content_type}"]
    lines.append(f"Content-Length: {length}" if length is not None else "Transfer-Encoding: chunked")
    if key:
        lines.append(f"X-API-Key: {key}")
    return "\r\n".join(lines) + "\r\n"


class RssPeak:
    """The highest resident set of a process while the block runs, sampled every 5 ms."""

    def __init__(self, pid: int) -> None:
        self.status = Path(f"/proc/{pid}/status")
        self.baseline = self.peak = self._rss()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _rss(self) -> int:
        line = next(x for x in self.status.read_text().splitlines() if x.startswith("VmRSS:"))
        return int(line.split()[1]) * 1024

    def _sample(self) -> None:
        while not self._stop.wait(0.005):
            self.peak = max(self.peak, self._rss())

    def __enter__(self) -> RssPeak:
        self._thread.start()
        return self

    def __exit__(self, *_: Any) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._rss())


def test_four_concurrent_50mb_bodies_without_a_key_are_refused_before_they_are_read(
    guarded_api: ApiServer,
) -> None:
    head = post_head("/runs", 50 * MB)
    with RssPeak(guarded_api.process.pid) as memory, ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(lambda _: send(guarded_api, head, 50 * MB), range(4)))
    for answer in answers:
        assert answer.status == 401
        assert json.loads(answer.body) == {"detail": "missing API key: send it in the X-API-Key header"}
        assert answer.body_bytes_sent == 0
    growth = memory.peak - memory.baseline
    print(f"4 x 50 MB without a key: the API's resident memory grew by {growth / MB:.1f} MB at its peak")
    assert growth < 20 * MB, f"the API's resident memory grew by {growth / MB:.1f} MB"


def test_an_upload_without_a_key_is_refused_before_it_is_received(guarded_api: ApiServer) -> None:
    head = post_head("/datasets", 200 * MB, content_type="multipart/form-data; boundary=x")
    answer = send(guarded_api, head, 200 * MB)
    assert (answer.status, answer.body_bytes_sent) == (401, 0)
    invalid = send(guarded_api, head.replace("Host:", "X-API-Key: mlk_not-a-key\r\nHost:"), 200 * MB)
    assert (invalid.status, invalid.body_bytes_sent) == (401, 0)
    assert json.loads(invalid.body) == {"detail": "invalid or revoked API key"}


def test_a_declared_size_over_the_limit_is_413_before_the_body(
    guarded_api: ApiServer, db: psycopg.Connection[Any]
) -> None:
    key = make_key(db, "operator")
    answer = send(guarded_api, post_head("/runs", 2 * MB, key=key), 2 * MB)
    assert (answer.status, answer.body_bytes_sent) == (413, 0)
    assert json.loads(answer.body) == {
        "detail": f"a request body may be at most {MB} bytes; this one declares {2 * MB}"
    }
    upload = send(
        guarded_api,
        post_head("/datasets", 2 * 1024 * MB, key=key, content_type="multipart/form-data; boundary=x"),
        MB,
    )
    assert (upload.status, upload.body_bytes_sent) == (413, 0)
    assert json.loads(upload.body)["detail"].startswith("an upload may be at most ")


def test_a_streamed_body_is_counted_as_it_arrives(
    guarded_api: ApiServer, db: psycopg.Connection[Any]
) -> None:
    key = make_key(db, "operator")
    answer = send(guarded_api, post_head("/runs", None, key=key), 3 * MB, chunked=True)
    assert answer.status == 413
    assert json.loads(answer.body) == {"detail": f"a request body may be at most {MB} bytes"}
    assert answer.body_bytes_sent <= 3 * MB


def test_routes_that_need_no_key_and_small_bodies_pass(
    guarded_api: ApiServer, db: psycopg.Connection[Any]
) -> None:
    """An approval link's form authenticates by its signed token, not by a key: no 401 there; and a
    body within the limit reaches the route, which validates it."""
    with httpx.Client(base_url=guarded_api.base_url, timeout=30) as client:
        link = client.post("/runs/1/approval-links/not-a-token", data={"name": "x"})
        assert link.status_code == 422  # reached the route: its token does not have a token's shape
        assert link.json()["detail"][0]["loc"] == ["path", "token"]
        client.headers["X-API-Key"] = make_key(db, "operator")
        small = client.post("/runs", json={"model_name": "m"})
    assert small.status_code == 422
    assert small.json()["detail"][0]["loc"][0] == "body"
