"""The OpenAPI operationId of each route: its function's name (`create_run`, `list_runs`), so
generated clients read well; FastAPI's default appends the path and method
(`create_run_runs_post`). tests/ check they are unique."""

from __future__ import annotations

from fastapi.routing import APIRoute


def operation_id(route: APIRoute) -> str:
    return route.name
