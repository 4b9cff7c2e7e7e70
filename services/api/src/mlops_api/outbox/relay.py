"""The outbox relay: publishes committed outbox rows to EventBridge and marks them sent.

At-least-once: a row is marked sent only after EventBridge accepted it, in the transaction that
holds its row lock (`FOR UPDATE SKIP LOCKED`, so several relays - API replicas and the standalone
entrypoint - never publish the same row concurrently). Each detail carries `event_id` = the outbox
id, so consumers can drop the rare duplicate after a crash between publish and commit.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
from datetime import UTC, datetime
from typing import Any, Protocol, cast

from sqlalchemy import Row, Table, bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from mlops_api.config import Settings
from mlops_api.outbox.models import OutboxEvent
from mlops_api.outbox.publisher import EventBridgePublisher, PublishError
from mlops_contracts.aws import aws_client, aws_credentials

__all__ = ["OutboxRelay", "PublishError", "Publisher", "relay_from_settings"]

log = logging.getLogger(__name__)

PUT_EVENTS_MAX_ENTRIES = 10  # EventBridge's limit per PutEvents call

_OUTBOX = cast(Table, OutboxEvent.__table__)
_PENDING = (
    select(_OUTBOX.c.id, _OUTBOX.c.source, _OUTBOX.c.event_type, _OUTBOX.c.detail, _OUTBOX.c.created_at)
    .where(_OUTBOX.c.sent_at.is_(None))
    .order_by(_OUTBOX.c.id)
    .with_for_update(skip_locked=True)
)
PendingRow = Row[Any, Any, Any, Any, Any]  # a row of _PENDING
_SENT = (
    update(_OUTBOX)
    .where(_OUTBOX.c.id.in_(bindparam("ids", expanding=True)))
    .values(sent_at=bindparam("now"), last_error=None)
)
_ATTEMPTED = (  # executed with one parameter set per row
    update(_OUTBOX)
    .where(_OUTBOX.c.id == bindparam("row_id"))
    .values(attempts=_OUTBOX.c.attempts + 1, last_error=bindparam("error"))
)


class Publisher(Protocol):
    """What the relay publishes through (`publisher.EventBridgePublisher`)."""

    async def put_events(self, entries: list[dict[str, Any]]) -> dict[str, Any]: ...


class OutboxRelay:
    def __init__(
        self,
        session_factory: async_sessionmaker[AsyncSession],
        publisher: Publisher,
        *,
        bus_name: str,
        batch_size: int = PUT_EVENTS_MAX_ENTRIES,
        poll_seconds: float = 0.5,
        max_backoff_seconds: float = 30.0,
        linger_seconds: float = 0.0,
    ) -> None:
        self._sessions = session_factory
        self._publisher = publisher
        self._bus_name = bus_name
        self._batch_size = min(batch_size, PUT_EVENTS_MAX_ENTRIES)
        self._poll_seconds = poll_seconds
        self._max_backoff = max_backoff_seconds
        self._linger = linger_seconds
        self._wakeup = asyncio.Event()
        self._batch_ready = asyncio.Event()  # `batch_size` notifications since the last drain
        self._notified = 0
        self.consecutive_failures = 0
        self.last_error: str | None = None

    def notify(self) -> None:
        """Wake the relay (called after a commit that wrote outbox rows). With a linger, the relay
        then waits up to that long for a full batch: under a burst of writes it makes one
        PutEvents call per `batch_size` rows instead of one per row or two, which saves the CPU
        of the calls - on the event loop that also serves the requests."""
        self._notified += 1
        if self._notified >= self._batch_size:
            self._batch_ready.set()
        self._wakeup.set()

    def _entry(self, row: PendingRow) -> dict[str, Any]:
        detail = dict(row.detail)
        detail.setdefault("event_id", f"outbox-{row.id}")
        return {
            "Source": row.source,
            "DetailType": row.event_type,
            "Detail": json.dumps(detail, separators=(",", ":")),
            "EventBusName": self._bus_name,
            "Time": row.created_at,
        }

    async def publish_batch(self) -> tuple[int, int]:
        """Publish one batch. Returns (published, failed). Raises PublishError when EventBridge
        could not be reached, after recording the attempt on the rows."""
        error: Exception | None = None
        published = failed = 0
        # Core statements on plain rows: this runs a hundred times a second under a burst of
        # writes, next to the requests (the ORM's unit of work would cost more than the SQL).
        async with self._sessions() as session, session.begin():
            rows = (await session.execute(_PENDING.limit(self._batch_size))).all()
            if not rows:
                return 0, 0
            try:
                response = await self._publisher.put_events([self._entry(r) for r in rows])
            except Exception as exc:
                message = f"{type(exc).__name__}: {exc}"[:2000]
                await session.execute(_ATTEMPTED, [{"row_id": row.id, "error": message} for row in rows])
                error = exc  # the attempt is committed with the rows; the failure raised after
            else:
                # PutEvents answers entry by entry, in order: only accepted entries are marked sent.
                sent, refused = [], []
                for row, result in zip(rows, response["Entries"], strict=True):
                    if result.get("EventId"):
                        sent.append(row.id)
                    else:
                        error_text = f"{result.get('ErrorCode')}: {result.get('ErrorMessage')}"
                        refused.append({"row_id": row.id, "error": error_text})
                if sent:
                    await session.execute(_SENT, {"ids": sent, "now": datetime.now(UTC)})
                if refused:
                    await session.execute(_ATTEMPTED, refused)
                published, failed = len(sent), len(refused)
        if error is not None:
            raise PublishError(str(error)) from error
        return published, failed

    async def drain(self) -> int:
        """Publish until the outbox is empty or a round fails. Returns the number published."""
        total = 0
        while True:
            published, failed = await self.publish_batch()
            total += published
            if failed or published < self._batch_size:
                return total

    def _next_delay(self) -> float:
        # Capped exponential backoff with full jitter (AWS architecture blog). tenacity offers the
        # same curve only inside its retry loop, and this loop must also wake on new work and stop.
        ceiling = min(self._max_backoff, 0.2 * 2 ** min(self.consecutive_failures, 20))
        return random.uniform(ceiling / 2, ceiling)

    async def run(self, stop: asyncio.Event) -> None:
        log.info("outbox relay started", extra={"bus": self._bus_name})
        while not stop.is_set():
            delay = self._poll_seconds
            # Rows committed before this point are in the drain; a notification during the drain
            # makes the next round start without waiting for the poll.
            self._wakeup.clear()
            self._batch_ready.clear()
            self._notified = 0
            try:
                await self.drain()
                self.consecutive_failures = 0
                self.last_error = None
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.consecutive_failures += 1
                self.last_error = f"{type(exc).__name__}: {exc}"
                delay = self._next_delay()
                log.warning(
                    "outbox publish failed (attempt %d), retrying in %.1fs: %s",
                    self.consecutive_failures,
                    delay,
                    self.last_error,
                )
            if self.consecutive_failures:
                await _first_of([stop], delay)  # backing off: new work does not wake it
            elif await _first_of([stop, self._wakeup], delay) is self._wakeup and self._linger:
                await _first_of([stop, self._batch_ready], self._linger)
        log.info("outbox relay stopped")


def relay_from_settings(
    settings: Settings, sessions: async_sessionmaker[AsyncSession]
) -> tuple[OutboxRelay, EventBridgePublisher]:
    """The relay the settings describe, and its publisher (to close when the relay stopped)."""
    events = aws_client("events", region=settings.aws_region)  # its endpoint and region
    publisher = EventBridgePublisher.for_client(events, aws_credentials())
    relay = OutboxRelay(
        sessions,
        publisher,
        bus_name=settings.event_bus_name,
        batch_size=settings.outbox_batch_size,
        poll_seconds=settings.outbox_poll_seconds,
        max_backoff_seconds=settings.outbox_max_backoff_seconds,
        linger_seconds=settings.outbox_linger_seconds,
    )
    return relay, publisher


async def _first_of(events: list[asyncio.Event], seconds: float) -> asyncio.Event | None:
    """Wait until one of `events` is set (returned) or `seconds` passed (None)."""
    waiters = {asyncio.ensure_future(event.wait()): event for event in events}
    done, pending = await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    for task in pending:
        task.cancel()
    return next((waiters[task] for task in done), None)
