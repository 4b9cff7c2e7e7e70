"""What every domain's schemas share: the error response shape and the JSON-safe field types."""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, BeforeValidator, Field


def _walk_json(value: Any) -> None:
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError("NaN and Infinity are not JSON numbers")
    if isinstance(value, str) and "\x00" in value:
        raise ValueError("strings must not contain NUL characters")
    if isinstance(value, dict):
        for key, item in value.items():
            _walk_json(key)
            _walk_json(item)
    elif isinstance(value, list):
        for item in value:
            _walk_json(item)


def _json_safe(value: Any) -> Any:
    """PostgreSQL's text and JSONB refuse NUL characters and NaN: reject them as bad input."""
    _walk_json(value)
    return value


def _date_time_text(value: Any) -> Any:
    """A timestamp is an RFC 3339 string in JSON, as the schema says (format date-time): pydantic
    alone would also take a number (`occurred_at: 0`, the epoch), which the schema does not allow."""
    if not isinstance(value, str | datetime):
        raise ValueError("must be an RFC 3339 date-time string, e.g. 2026-12-07T04:00:00Z")
    return value


JsonObject = Annotated[dict[str, Any], AfterValidator(_json_safe)]
Timestamp = Annotated[datetime, BeforeValidator(_date_time_text)]
Text = Annotated[str, AfterValidator(_json_safe)]


def documented(table: dict[str, tuple[str, Any]]) -> Callable[[dict[str, Any]], None]:
    """A `json_schema_extra` that gives every property named in `table` (name -> (description,
    example)) a description and an example, unless the field sets its own (#22: every field of the
    public schemas says what it is and shows a value)."""

    def fill(schema: dict[str, Any]) -> None:
        for name, prop in schema.get("properties", {}).items():
            if name in table:
                description, example = table[name]
                prop.setdefault("description", description)
                if "examples" not in prop and "example" not in prop:
                    prop["examples"] = [example]

    return fill


class ErrorResponse(BaseModel):
    detail: Any = Field(
        description="What is wrong: a message, or for a 422 the list of problems, each with its location",
        examples=["run 42 not found"],
    )


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
