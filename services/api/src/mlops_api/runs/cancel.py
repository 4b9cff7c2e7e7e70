"""Cancelling a run (POST /runs/{id}/cancel): the decision is recorded first, then the run's AWS
work is stopped, and what each stop did is added to the run's timeline.

Why this order: the AWS calls (StopExecution, StopTrainingJob, UpdateModelPackage) take a second or
more and may fail; made inside the transaction they would hold the run's row lock that whole time,
and a failure would have to undo a cancel the operator asked for. Recorded first, the cancel is
final at once: the workflow can no longer move the run (every later status change is refused, the
approval links die with the status change), and a failing stop is never silent - its error is on
the timeline as `run.cancel_cleanup`, for a person to finish by hand.

Idempotent: only the request that changes the status (under the row lock of `change_status`)
makes the AWS calls; a repeated or concurrent cancel answers the same run and calls nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from mlops_api.auth.keys import Principal
from mlops_api.errors import Conflict
from mlops_api.runs.models import PipelineRun
from mlops_api.runs.schemas import StatusChange, TimelineEventIn
from mlops_api.runs.service import StatusHook, change_status, get_run, record_event
from mlops_contracts.status import TERMINAL_STATUSES, RunStatus

CLEANUP_EVENT = "run.cancel_cleanup"


@dataclass(frozen=True)
class CancelTarget:
    """What the AWS side needs to know of a cancelled run."""

    run_id: int
    model_name: str
    execution_arn: str | None
    cancelled_by: str
    reason: str | None


@dataclass(frozen=True)
class StopOutcome:
    """One stop of the run's AWS work: `done`, `nothing` (there was nothing to stop) or `failed`."""

    action: str
    outcome: str
    detail: str


class RunStopper(Protocol):
    """Stops the AWS work of a cancelled run (adapter: mlops_api.runs.aws_stopper)."""

    async def stop(self, target: CancelTarget) -> Sequence[StopOutcome]: ...


def cancel_reason(actor: str, reason: str | None) -> str:
    return f"cancelled by {actor}" + (f": {reason}" if reason else "")


async def cancel(
    session: AsyncSession,
    run_id: int,
    reason: str | None,
    principal: Principal,
    hooks: Sequence[StatusHook],
    stopper: RunStopper,
) -> tuple[PipelineRun, bool]:
    """Cancel an active run. Returns (run, cancelled_now); a cancelled run is answered as it is,
    any other terminal run is a Conflict naming its status."""
    run = await get_run(session, run_id, for_update=True)
    status = RunStatus(run.status)
    if status is RunStatus.CANCELLED:
        await session.commit()  # releases the row lock (commit keeps `run` loaded)
        return run, False
    if status in TERMINAL_STATUSES:
        raise Conflict(f"run {run_id} is already '{status}': only an active run can be cancelled")
    change = StatusChange(
        status=RunStatus.CANCELLED,
        reason=cancel_reason(principal.name, reason),
        data={"cancelled_by": principal.name, "reason": reason},
    )
    run, changed = await change_status(session, run_id, change, principal, hooks)
    if not changed:  # pragma: no cover - the row lock above makes this request the one that changes it
        return run, False
    target = CancelTarget(
        run_id=run.id,
        model_name=run.model_name,
        execution_arn=run.execution_arn,
        cancelled_by=principal.name,
        reason=reason,
    )
    outcomes = await stopper.stop(target)
    failed = [o for o in outcomes if o.outcome == "failed"]
    summary = (
        "the run's AWS work was stopped"
        if not failed
        else "could not stop everything, finish by hand: "
        + "; ".join(f"{o.action}: {o.detail}" for o in failed)
    )
    await record_event(
        session,
        run_id,
        TimelineEventIn(
            event_type=CLEANUP_EVENT,
            event_id=f"cancel:{run_id}",
            reason=summary[:4000],
            execution_arn=run.execution_arn,
            data={"steps": [asdict(o) for o in outcomes]},
        ),
        principal,
    )
    return run, True
