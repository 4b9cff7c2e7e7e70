"""The request id: bound to every log line of a request and sent back in X-Request-ID."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import threading
import time
from collections.abc import Iterator

import httpx
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from mlops_api.ops.request_id import RequestIdMiddleware
from mlops_contracts.logs import configure_logging
from mlops_devstack.emulator import free_port


@pytest.fixture
def log_lines() -> Iterator[io.StringIO]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    out = io.StringIO()
    configure_logging("INFO", "json", stream=out)
    yield out
    root.handlers[:] = handlers
    root.setLevel(level)


async def hello(_: Request) -> PlainTextResponse:
    logging.getLogger("mlops_api.test").info("inside the request")
    return PlainTextResponse("hi")


async def three_requests() -> list[httpx.Response]:
    app = RequestIdMiddleware(Starlette(routes=[Route("/", hello)]))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api") as client:
        return [
            await client.get("/", headers={"X-Request-ID": "lb-123"}),
            await client.get("/"),
            await client.get("/", headers={"X-Request-ID": "a b;c"}),
        ]


def test_the_id_is_logged_and_sent_back(log_lines: io.StringIO) -> None:
    given, made, insane = asyncio.run(three_requests())
    assert given.headers["X-Request-ID"] == "lb-123"
    assert len(made.headers["X-Request-ID"]) == 32
    assert insane.headers["X-Request-ID"] not in ("a b;c", made.headers["X-Request-ID"])
    logged = [json.loads(line) for line in log_lines.getvalue().splitlines()]
    assert [line["request_id"] for line in logged] == [
        "lb-123",
        made.headers["X-Request-ID"],
        insane.headers["X-Request-ID"],
    ]
    assert {line["message"] for line in logged} == {"inside the request"}


@pytest.mark.integration  # a uvicorn server in a thread
def test_the_access_log_line_carries_the_id(log_lines: io.StringIO) -> None:
    port = free_port()
    app = RequestIdMiddleware(Starlette(routes=[Route("/", hello)]))
    server = uvicorn.Server(uvicorn.Config(app, port=port, log_config=None, access_log=True))
    thread = threading.Thread(target=server.run)
    thread.start()
    try:
        deadline = time.monotonic() + 20
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.05)
        httpx.get(f"http://127.0.0.1:{port}/", headers={"X-Request-ID": "abc-1"})
    finally:
        server.should_exit = True
        thread.join(timeout=20)
    access = [
        entry
        for entry in (json.loads(line) for line in log_lines.getvalue().splitlines())
        if entry["logger"] == "uvicorn.access"
    ]
    assert [(entry["request_id"], entry["message"].endswith('"GET / HTTP/1.1" 200')) for entry in access] == [
        ("abc-1", True)
    ]
