from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, Field
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.responses import Response

from mlops_api.auth.deps import api_key_header
from mlops_api.auth.keys import KeyVerifier
from mlops_api.deps import get_session
from mlops_api.outbox.models import OutboxEvent
from mlops_api.runs.models import PipelineRun
from mlops_contracts.aws import aws_client
from mlops_contracts.status import RunStatus

log = logging.getLogger(__name__)
router = APIRouter(tags=["operations"])


class Check(BaseModel):
    ok: bool = Field(description="Whether the dependency answered", examples=[True])
    detail: str = Field(
        description="What was found (a caller without a key reads only reachable / unreachable)",
        examples=["event bus 'mlops-events' reachable"],
    )


class Health(BaseModel):
    status: str = Field(description="ok when every check passed, else degraded (503)", examples=["ok"])
    checks: dict[str, Check] = Field(
        description="One check per dependency: database and event_bus",
        examples=[
            {
                "database": {"ok": True, "detail": "reachable"},
                "event_bus": {"ok": True, "detail": "reachable"},
            }
        ],
    )


async def _check(name: str, coro: Any, seconds: float) -> Check:
    try:
        async with asyncio.timeout(seconds):
            detail = await coro
        return Check(ok=True, detail=detail)
    except TimeoutError:
        return Check(ok=False, detail=f"no answer within {seconds}s")
    except Exception as exc:
        log.warning("health check %s failed: %s: %s", name, type(exc).__name__, exc)
        return Check(ok=False, detail=f"{type(exc).__name__}: {exc}"[:500])


def _for_anonymous(check: Check) -> Check:
    # Probes need only ok / not ok; exception texts name hosts, users and versions, so they go
    # to the log and to callers holding a key, not to anyone who can reach the port.
    return Check(ok=check.ok, detail="reachable" if check.ok else "unreachable (see the API's log)")


async def _holds_a_key(request: Request) -> bool:
    presented = request.headers.get(api_key_header.model.name)
    if not presented:
        return False
    verifier: KeyVerifier = request.app.state.key_verifier
    try:
        return await verifier.verify(request.app.state.autocommit_engine, presented) is not None
    except Exception:  # the database is what is down: no key can be checked
        return False


@router.get("/health", response_model=Health, responses={503: {"model": Health}})
async def health(request: Request, session: Annotated[AsyncSession, Depends(get_session)]) -> Any:
    settings = request.app.state.settings

    async def database() -> str:
        await session.execute(text("SELECT 1"))
        return "reachable"

    async def bus() -> str:
        client = aws_client("events", region=settings.aws_region, max_attempts=1)
        await asyncio.to_thread(client.describe_event_bus, Name=settings.event_bus_name)
        return f"event bus '{settings.event_bus_name}' reachable"

    timeout = settings.health_timeout_seconds
    checks = {
        "database": await _check("database", database(), timeout),
        "event_bus": await _check("event_bus", bus(), timeout),
    }
    healthy = all(c.ok for c in checks.values())
    if not await _holds_a_key(request):
        checks = {name: _for_anonymous(check) for name, check in checks.items()}
    body = Health(status="ok" if healthy else "degraded", checks=checks)
    return JSONResponse(body.model_dump(), status_code=200 if healthy else 503)


LOOPBACK = frozenset({"127.0.0.1", "::1"})


def _metrics_reader(request: Request) -> None:
    """404, as for an unknown path, to a client off the loopback when METRICS_LOOPBACK_ONLY is set."""
    if request.app.state.settings.metrics_loopback_only:
        host = request.client.host if request.client else None
        if host not in LOOPBACK:
            raise HTTPException(status_code=404, detail="Not Found")


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {"text/plain": {}}}},
    dependencies=[Depends(_metrics_reader)],
)
async def metrics(request: Request, session: Annotated[AsyncSession, Depends(get_session)]) -> Response:
    m = request.app.state.metrics
    by_status = select(PipelineRun.status, func.count()).group_by(PipelineRun.status)
    counts = dict((await session.execute(by_status)).tuples().all())
    for status_ in RunStatus:
        m.runs_by_status.labels(status_.value).set(counts.get(status_.value, 0))
    backlog, oldest = (
        await session.execute(
            select(func.count(), func.min(OutboxEvent.created_at)).where(OutboxEvent.sent_at.is_(None))
        )
    ).one()
    m.outbox_backlog.set(backlog)
    m.outbox_oldest_age.set((datetime.now(UTC) - oldest).total_seconds() if oldest else 0)
    return Response(generate_latest(m.registry), media_type=CONTENT_TYPE_LATEST)
