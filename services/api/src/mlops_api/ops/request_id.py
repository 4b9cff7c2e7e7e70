"""Every request gets an id: the caller's `X-Request-ID` (a load balancer's, a worker's) when it is
sane, else a new one. It is bound to every log line of the request (the access log included) and
sent back in the response's `X-Request-ID`."""

from __future__ import annotations

import re
import uuid

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mlops_contracts.logs import log_context

HEADER = b"x-request-id"
_SANE = re.compile(rb"[A-Za-z0-9._:-]{1,128}")


class RequestIdMiddleware:
    """Pure ASGI middleware (BaseHTTPMiddleware would add a task and a copy per request)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = next((value for name, value in scope["headers"] if name == HEADER), b"")
        request_id = given.decode() if _SANE.fullmatch(given) else uuid.uuid4().hex

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", []).append((HEADER, request_id.encode()))
            await send(message)

        with log_context(request_id=request_id):
            await self.app(scope, receive, send_with_id)
