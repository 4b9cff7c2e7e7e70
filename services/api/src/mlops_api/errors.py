"""The API's errors and their HTTP mapping: bad input is a clear 4xx, never a 500
(docs/decisions/0007-fail-closed.md).

Every error a route raises derives from `ApiError` here, whichever domain raises it, and becomes
`{"detail": ...}` with its status code. This is the server side only: what a caller of the API
catches is `mlops_contracts.api_client.ApiError`, in libs, because the workers, the dashboard and
the demo share that client and libs imports no service.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import compile_path

from mlops_contracts.status import TaskType


class ApiError(Exception):
    status_code = 400

    def __init__(self, detail: object) -> None:
        super().__init__(str(detail))
        self.detail = detail


class NotFound(ApiError):
    status_code = 404


class Conflict(ApiError):
    status_code = 409


class Unprocessable(ApiError):
    status_code = 422


class PayloadTooLarge(ApiError):
    status_code = 413


class Forbidden(ApiError):
    status_code = 403


class Gone(ApiError):
    """What no longer exists to act on: an approval that timed out, a link used or outlived."""

    status_code = 410


class Unavailable(ApiError):
    """A dependency (Step Functions, S3, SageMaker, Secrets Manager) cannot answer now."""

    status_code = 503


# pydantic names the variant of a discriminated union in an error's location (POST /runs:
# ["body", "finetune", "train_dataset_id"]); clients name the field alone, as before the union.
_UNION_TAGS = frozenset(TaskType)


def _location(loc: Sequence[int | str]) -> list[int | str]:
    parts = list(loc)
    if len(parts) > 2 and parts[0] == "body" and parts[1] in _UNION_TAGS:
        del parts[1]
    return parts


# The allowed values of each discriminator field: pydantic's own message for a missing or unknown
# tag lists the enum members' reprs (<TaskType.FINETUNE: 'finetune'>) and points at the whole body.
_DISCRIMINATOR_VALUES = {"task_type": [tag.value for tag in TaskType]}
_TAG_ERRORS = frozenset({"union_tag_invalid", "union_tag_not_found"})


def _validation_error(err: Mapping[str, Any]) -> dict[str, Any]:
    loc = _location(err.get("loc", ()))
    msg, kind = str(err.get("msg", "")), err.get("type")
    field = str(err.get("ctx", {}).get("discriminator", "")).strip("'")
    if kind in _TAG_ERRORS and field in _DISCRIMINATOR_VALUES:
        allowed = ", ".join(repr(value) for value in _DISCRIMINATOR_VALUES[field])
        got = err.get("ctx", {}).get("tag")
        msg = f"{field} must be one of {allowed}" + (f" (got {got!r})" if kind == "union_tag_invalid" else "")
        loc = [*loc, field]
    return {"loc": loc, "msg": msg, "type": kind}


def _allowed(request: Request) -> list[str]:
    """The methods of every operation on the request's path, from the app's OpenAPI paths (the
    routers' own route lists are FastAPI internals)."""
    app: FastAPI = request.app
    if not hasattr(app.state, "allowed_methods"):
        app.state.allowed_methods = [
            (compile_path(path)[0], {method.upper() for method in item})
            for path, item in app.openapi().get("paths", {}).items()
        ]
    methods: set[str] = set()
    for pattern, path_methods in app.state.allowed_methods:
        if pattern.match(request.url.path):
            methods |= path_methods
    return sorted(methods)


def install_error_handlers(app: FastAPI) -> None:
    async def handle(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, ApiError)
        return JSONResponse({"detail": exc.detail}, status_code=exc.status_code)

    async def handle_validation(_: Request, exc: Exception) -> JSONResponse:
        # FastAPI's default echoes each invalid input back, which fails to serialise for NaN or
        # bytes (a 500 for bad input); location, message and type are what a client needs.
        assert isinstance(exc, RequestValidationError)
        errors = [_validation_error(err) for err in exc.errors()]
        return JSONResponse({"detail": errors}, status_code=422)

    async def handle_http(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        if exc.status_code == 405:
            # Starlette's Allow names the methods of the first route matching the path only: for
            # /runs (POST and GET are two routes) it said POST. Every route of the path counts.
            return JSONResponse(
                {"detail": exc.detail}, status_code=405, headers={"Allow": ", ".join(_allowed(request))}
            )
        return await http_exception_handler(request, exc)

    app.add_exception_handler(StarletteHTTPException, handle_http)
    app.add_exception_handler(ApiError, handle)
    app.add_exception_handler(RequestValidationError, handle_validation)
