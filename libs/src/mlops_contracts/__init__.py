"""Contracts shared by every part of the platform. Small and dependency-light on purpose."""

from mlops_contracts.datasets import DatasetFormat, DatasetKind
from mlops_contracts.events import EVENT_BUS_NAME, EVENT_SOURCE_API, EventType, RunEventDetail, RunPayload
from mlops_contracts.status import (
    TERMINAL_STATUSES,
    TRANSITIONS,
    IllegalTransition,
    RunStatus,
    TaskType,
    check_transition,
    is_allowed,
)

__all__ = [
    "EVENT_BUS_NAME",
    "EVENT_SOURCE_API",
    "TERMINAL_STATUSES",
    "TRANSITIONS",
    "DatasetFormat",
    "DatasetKind",
    "EventType",
    "IllegalTransition",
    "RunEventDetail",
    "RunPayload",
    "RunStatus",
    "TaskType",
    "check_transition",
    "is_allowed",
]
