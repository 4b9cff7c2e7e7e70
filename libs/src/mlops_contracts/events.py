"""Event names and payloads carried on the EventBridge bus `mlops-events`.

The envelope is the seed's: `{run_id, timestamp, payload{model_name, model_id, task_type,
experiment_name}}` as the event's `detail`, with the event type as `detail-type`. Events are facts
(docs/decisions/0001-one-orchestrator.md): they feed projection, notification and audit; only the
state machine starts work.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from mlops_contracts.status import RunStatus, TaskType

EVENT_BUS_NAME = "mlops-events"
EVENT_SOURCE_API = "mlops.api"
EVENT_SOURCE_WORKFLOW = "mlops.workflow"
EVENT_SOURCE_TRAINING = "mlops.training"


class EventType(StrEnum):
    RUN_CREATED = "run.created"
    RUN_STATUS_CHANGED = "run.status_changed"
    TRAINING_STARTED = "run.training_started"
    TRAINING_DONE = "run.training_done"
    # the training job's progress, one per logging window (source mlops.training; no status)
    TRAINING_PROGRESS = "run.training_progress"
    TRAINING_FAILED = "run.training_failed"
    EVALUATION_STARTED = "run.evaluation_started"
    EVAL_PASSED = "run.eval_passed"
    EVAL_REJECTED = "run.eval_rejected"
    EVALUATION_FAILED = "run.evaluation_failed"
    APPROVAL_REQUESTED = "run.approval_requested"
    APPROVED = "run.approved"
    REJECTED = "run.rejected"
    FAILED = "run.failed"
    CANCELLED = "run.cancelled"


# Which run status a workflow fact implies; the projector applies it through the transition table.
# Facts without a status (run.training_done) become timeline steps only.
STATUS_OF_EVENT: dict[EventType, RunStatus] = {
    EventType.TRAINING_STARTED: RunStatus.TRAINING,
    EventType.EVALUATION_STARTED: RunStatus.EVALUATING,
    EventType.EVAL_PASSED: RunStatus.AWAITING_APPROVAL,
    EventType.APPROVAL_REQUESTED: RunStatus.AWAITING_APPROVAL,
    EventType.EVAL_REJECTED: RunStatus.REJECTED,
    EventType.APPROVED: RunStatus.APPROVED,
    EventType.REJECTED: RunStatus.REJECTED,
    EventType.TRAINING_FAILED: RunStatus.FAILED,
    EventType.EVALUATION_FAILED: RunStatus.FAILED,
    EventType.FAILED: RunStatus.FAILED,
    EventType.CANCELLED: RunStatus.CANCELLED,
}


def utcnow() -> datetime:
    return datetime.now(UTC)


class RunPayload(BaseModel):
    model_config = ConfigDict(extra="forbid", protected_namespaces=())

    model_name: str
    model_id: str
    task_type: TaskType
    experiment_name: str


class RunEventDetail(BaseModel):
    """The `detail` of every run event. `event_id` lets consumers deduplicate redeliveries."""

    model_config = ConfigDict(extra="forbid")

    run_id: int
    timestamp: datetime = Field(default_factory=utcnow)
    payload: RunPayload
    event_id: str | None = None
    status: RunStatus | None = None
    previous_status: RunStatus | None = None
    reason: str | None = None
    execution_arn: str | None = None
    data: dict[str, Any] = Field(default_factory=dict)

    def to_detail_json(self) -> str:
        return self.model_dump_json(exclude_none=True)


# Deployments (issue #20): the API announces each change of a deployment on the bus (source
# mlops.api). `deployment.requested` also starts the release state machine in its deploy-only mode
# (terraform/routing.json); the others are facts for the dashboard, notifications and audit.
class DeploymentEventType(StrEnum):
    REQUESTED = "deployment.requested"
    STATUS_CHANGED = "deployment.status_changed"


class DeploymentEventDetail(BaseModel):
    """The `detail` of every deployment event. A `deployment.requested` detail is also the input the
    state machine's first Choice routes to its Deploy stage (`mode` = "deploy")."""

    model_config = ConfigDict(extra="forbid", protected_namespaces=())

    mode: str = "deploy"
    deployment_id: int
    model_name: str
    model_package_arn: str
    version: int
    run_id: int | None = None
    status: str
    previous_status: str | None = None
    endpoint_name: str
    requested_by: str
    reason: str | None = None
    timestamp: datetime = Field(default_factory=utcnow)
    event_id: str | None = None
