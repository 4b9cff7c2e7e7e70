"""No unauthenticated load: the API key and the declared size are checked before a body is read.

FastAPI reads and parses a request's body before it runs the route's dependencies, the key check
included: without this guard a 50 MB JSON body from anyone was parsed before its 401, and a multipart
upload was received whole. The guard runs first, for every request that carries a body:

- a route that needs a key (its OpenAPI operation names the X-API-Key scheme) answers 401
  at once when neither a valid key nor a valid signed identity is presented, before a byte of the body is read;
- a declared `Content-Length` over the route's limit answers 413 at once; a streamed body is counted
  as it arrives and stops with 413 at the limit.

The limit is the upload limit for routes that take a file, the JSON limit for all others.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from fastapi import HTTPException
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mlops_api.auth import deps
from mlops_api.auth.identity import IDENTITY_HEADER, cookie_values, presented_token

_NO_BODY = frozenset({"GET", "HEAD", "OPTIONS"})
# A multipart upload carries the form's boundaries and fields around the file.
MULTIPART_OVERHEAD_BYTES = 64 * 1024


@dataclass(frozen=True)
class _RoutePolicy:
    path: re.Pattern[str]
    method: str
    needs_key: bool
    takes_file: bool


def _policies(openapi: dict[str, Any]) -> list[_RoutePolicy]:
    """Read from the API's own OpenAPI document, where each route states its security (the
    X-API-Key scheme of `current_principal`) and the media type of its body."""
    policies = []
    for template, operations in openapi.get("paths", {}).items():
        pieces = re.split(r"(\{[^}]+\})", template)  # path parameters -> one segment each
        pattern = "".join("[^/]+" if p.startswith("{") else re.escape(p) for p in pieces)
        for method, operation in operations.items():
            content = operation.get("requestBody", {}).get("content", {})
            policies.append(
                _RoutePolicy(
                    path=re.compile(pattern),
                    method=method.upper(),
                    needs_key=bool(operation.get("security")),
                    takes_file="multipart/form-data" in content,
                )
            )
    return policies


class BodyGuardMiddleware:
    """Pure ASGI middleware, so the body stays unread until the guard lets it through.

    FastAPI's own `max_body_size` would answer a bare "Content Too Large" only once the route reads
    the body; this guard names the limit and answers on the headers.
    """

    def __init__(self, app: ASGIApp, *, max_json_bytes: int, max_upload_bytes: int) -> None:
        self.app = app
        self.max_json_bytes = max_json_bytes
        self.max_upload_bytes = max_upload_bytes + MULTIPART_OVERHEAD_BYTES
        self._policies: list[_RoutePolicy] | None = None

    def _policy_for(self, app: Any, path: str, method: str) -> _RoutePolicy | None:
        if self._policies is None:  # every route is included once the first request arrives
            self._policies = _policies(app.openapi())
        for policy in self._policies:
            if policy.method == method and policy.path.fullmatch(path):
                return policy
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in _NO_BODY:
            await self.app(scope, receive, send)
            return
        app = scope["app"]
        policy = self._policy_for(app, scope["path"], scope["method"])
        if policy is None:  # no such route: the router answers 404 / 405 without reading the body
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        if policy.needs_key:
            presented = headers.get(deps.api_key_header.model.name.lower().encode(), b"").decode("latin-1")
            identity = presented_token(
                {IDENTITY_HEADER: headers.get(IDENTITY_HEADER.encode(), b"").decode("latin-1")},
                cookie_values(headers.get(b"cookie", b"").decode("latin-1")),
                app.state.settings.oidc_dev_cookie,
            )
            try:
                principal = await deps.authenticate(app.state, presented, identity)
                scope.setdefault("state", {})["principal"] = principal
            except HTTPException as exc:
                await _refuse(exc, scope, receive, send)
                return
        limit = self.max_upload_bytes if policy.takes_file else self.max_json_bytes
        what = "an upload" if policy.takes_file else "a request body"
        declared = headers.get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            too_large = HTTPException(
                413, f"{what} may be at most {limit} bytes; this one declares {declared.decode()}"
            )
            await _refuse(too_large, scope, receive, send)
            return

        received = 0

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    # FastAPI re-raises an HTTPException met while reading the body: a clean 413.
                    raise HTTPException(413, f"{what} may be at most {limit} bytes")
            return message

        await self.app(scope, counted, send)


async def _refuse(exc: HTTPException, scope: Scope, receive: Receive, send: Send) -> None:
    response = JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers)
    # The body stays unread: the server closes the connection rather than reading it.
    response.headers["connection"] = "close"
    await response(scope, receive, send)
