"""The API's errors and their HTTP mapping: bad input is a clear 4xx, never a 500
(docs/decisions/0007-fail-closed.md).

Every error a route raises derives from `ApiError` here, whichever domain raises it, and becomes
`{"detail": ...}` with its status code. This is the server side only: what a caller of the API
catches is `mlops_contracts.api_client.ApiError`, in libs, because the workers, the dashboard and
the demo share that client and libs imports no service.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse


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


def install_error_handlers(app: FastAPI) -> None:
    async def handle(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, ApiError)
        return JSONResponse({"detail": exc.detail}, status_code=exc.status_code)

    async def handle_validation(_: Request, exc: Exception) -> JSONResponse:
        # FastAPI's default echoes each invalid input back, which fails to serialise for NaN or
        # bytes (a 500 for bad input); location, message and type are what a client needs.
        assert isinstance(exc, RequestValidationError)
        errors = [
            {"loc": list(err.get("loc", ())), "msg": str(err.get("msg", "")), "type": err.get("type")}
            for err in exc.errors()
        ]
        return JSONResponse({"detail": errors}, status_code=422)

    app.add_exception_handler(ApiError, handle)
    app.add_exception_handler(RequestValidationError, handle_validation)
