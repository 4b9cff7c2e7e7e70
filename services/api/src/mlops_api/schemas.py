"""Response shapes shared by every router."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel


class ErrorResponse(BaseModel):
    detail: Any


def error_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries for the error responses a route can give (so clients and schemathesis know
    them)."""
    descriptions = {
        400: "Bad request",
        401: "Missing, invalid or revoked API key",
        403: "The key's role may not do this",
        404: "Not found",
        409: "Conflict with the current state",
        413: "Payload too large",
        422: "Validation error",
        503: "A dependency is unavailable",
    }
    return {code: {"model": ErrorResponse, "description": descriptions[code]} for code in codes}
