"""Apply one EventBridge event (as delivered to the run-events queue) to its run.

Idempotent and order-tolerant: the EventBridge event id is the `event_id` the API deduplicates on,
and the transition table decides. A status event that arrives too late to apply (409: the run has
moved on) is still recorded as a timeline step, so the timeline shows every step that happened.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from mlops_contracts.api_client import ApiClient, ApiError
from mlops_contracts.events import EVENT_SOURCE_WORKFLOW, STATUS_OF_EVENT, EventType

log = logging.getLogger(__name__)


class BusEvent(BaseModel):
    """The EventBridge envelope, as an SQS target receives it."""

    model_config = ConfigDict(populate_by_name=True, extra="allow")

    id: str
    detail_type: str = Field(alias="detail-type")
    source: str
    time: datetime
    detail: dict[str, Any]


class WorkflowDetail(BaseModel):
    model_config = ConfigDict(extra="allow")

    run_id: int
    status: str | None = None
    reason: str | None = None
    execution_arn: str | None = None
    data: dict[str, Any] = Field(default_factory=dict)


@dataclass(frozen=True)
class Outcome:
    run_id: int
    event_type: str
    applied: str  # "status", "timeline", "duplicate"


def project(api: ApiClient, raw: dict[str, Any]) -> Outcome:
    event = BusEvent.model_validate(raw)
    detail = WorkflowDetail.model_validate(event.detail)
    try:
        event_type: EventType | None = EventType(event.detail_type)
    except ValueError:
        event_type = None
    # Only the workflow's facts change a status: another source (the training job's progress, where
    # a model's own code runs) is recorded as a timeline step, whatever its detail-type.
    status = STATUS_OF_EVENT.get(event_type) if event_type and event.source == EVENT_SOURCE_WORKFLOW else None
    common = {
        "event_id": event.id,
        "reason": detail.reason,
        "execution_arn": detail.execution_arn,
        "occurred_at": event.time.isoformat(),
        "data": detail.data,
    }
    if status is not None:
        try:
            response = api.request(
                "PATCH", f"/runs/{detail.run_id}/status", json={"status": status.value, **common}
            )
            changed = response.headers.get("x-status-changed") == "true"
            return Outcome(detail.run_id, event.detail_type, "status" if changed else "duplicate")
        except ApiError as exc:
            if exc.status_code != 409:
                raise
            log.info(
                "run %s: %s arrived after the run moved on (%s)", detail.run_id, event.detail_type, exc.detail
            )
    response = api.request(
        "POST",
        f"/runs/{detail.run_id}/events",
        json={"event_type": event.detail_type, **common},
    )
    return Outcome(
        detail.run_id, event.detail_type, "timeline" if response.status_code == 201 else "duplicate"
    )
