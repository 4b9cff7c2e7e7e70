"""Writing to the outbox: always inside the caller's transaction
(docs/decisions/0006-transactional-outbox.md)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from mlops_api.outbox.models import OutboxEvent
from mlops_contracts.events import (
    EVENT_SOURCE_API,
    DeploymentEventDetail,
    DeploymentEventType,
    EventType,
    RunEventDetail,
)


def enqueue(
    session: AsyncSession,
    event_type: EventType | DeploymentEventType,
    detail: RunEventDetail | DeploymentEventDetail,
) -> OutboxEvent:
    row = OutboxEvent(
        event_type=event_type.value,
        source=EVENT_SOURCE_API,
        detail=detail.model_dump(mode="json", exclude_none=True),
    )
    session.add(row)
    return row
