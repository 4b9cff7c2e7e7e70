"""Run statuses and the one transition table of the platform (docs/decisions/0005-system-of-record.md).

Every component that changes a run's status asks this table; the API enforces it (an illegal
transition is a 409) and the projector relies on it to ignore redelivered or out-of-order events.
"""

from __future__ import annotations

from enum import StrEnum


class TaskType(StrEnum):
    FINETUNE = "finetune"
    EVAL_ONLY = "eval_only"


class RunStatus(StrEnum):
    PENDING = "pending"
    TRAINING = "training"
    EVALUATING = "evaluating"
    AWAITING_APPROVAL = "awaiting_approval"
    APPROVED = "approved"
    REJECTED = "rejected"
    FAILED = "failed"
    CANCELLED = "cancelled"


_ABORTS = frozenset({RunStatus.FAILED, RunStatus.CANCELLED})

# The whole life of a run. `finetune` goes pending -> training -> evaluating; `eval_only` skips
# training. Below the MLScore threshold the evaluation ends in an automatic rejection; at or above it
# the run waits for a human (approve, reject, or timeout = rejected). Any live run can fail or be
# cancelled. Terminal statuses have no way out: a released model is never silently reopened.
TRANSITIONS: dict[RunStatus, frozenset[RunStatus]] = {
    RunStatus.PENDING: frozenset({RunStatus.TRAINING, RunStatus.EVALUATING}) | _ABORTS,
    RunStatus.TRAINING: frozenset({RunStatus.EVALUATING}) | _ABORTS,
    RunStatus.EVALUATING: frozenset({RunStatus.AWAITING_APPROVAL, RunStatus.REJECTED}) | _ABORTS,
    RunStatus.AWAITING_APPROVAL: frozenset({RunStatus.APPROVED, RunStatus.REJECTED}) | _ABORTS,
    RunStatus.APPROVED: frozenset(),
    RunStatus.REJECTED: frozenset(),
    RunStatus.FAILED: frozenset(),
    RunStatus.CANCELLED: frozenset(),
}

TERMINAL_STATUSES: frozenset[RunStatus] = frozenset(s for s, nxt in TRANSITIONS.items() if not nxt)
ACTIVE_STATUSES: frozenset[RunStatus] = frozenset(RunStatus) - TERMINAL_STATUSES


class IllegalTransition(ValueError):
    """Raised when a status change is not in the transition table."""

    def __init__(self, current: RunStatus, target: RunStatus) -> None:
        self.current = current
        self.target = target
        allowed = ", ".join(sorted(TRANSITIONS[current])) or "none (terminal status)"
        super().__init__(
            f"illegal transition from '{current}' to '{target}'; allowed from '{current}': {allowed}"
        )


def is_allowed(current: RunStatus, target: RunStatus) -> bool:
    """True when `current -> target` is a step of the table (a repeat is not a step)."""
    return target in TRANSITIONS[current]


def check_transition(current: RunStatus, target: RunStatus) -> bool:
    """Validate a requested change. Returns False for an idempotent repeat (nothing to do),
    True for a legal step, and raises IllegalTransition otherwise."""
    if current == target:
        return False
    if not is_allowed(current, target):
        raise IllegalTransition(current, target)
    return True
