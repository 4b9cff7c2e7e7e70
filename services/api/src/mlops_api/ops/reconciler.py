"""No run left stuck: active runs are compared with their Step Functions executions.

The projector moves a run when the workflow tells the bus what happened. An execution that ended
without telling (a stack restarted and its emulator forgot every execution, an execution stopped by
hand, an event lost past its retries) left the run `training` or `awaiting_approval` forever. Every
period the reconciler describes the execution of each active run and fails the run, with the reason
on its timeline, when the execution no longer exists or has ended; its approval closes with that
reason through the ordinary status hooks (mlops_api.flows).

It runs inside the API process next to the outbox relay, in AWS and locally alike; with several API
processes a transaction-level advisory lock lets one of them reconcile each period.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from mlops_api.auth.keys import Principal
from mlops_api.auth.roles import Role
from mlops_api.errors import Conflict
from mlops_api.runs.models import PipelineRun
from mlops_api.runs.schemas import StatusChange
from mlops_api.runs.service import StatusHook, change_status
from mlops_contracts.status import ACTIVE_STATUSES, RunStatus

log = logging.getLogger(__name__)

# pg advisory lock key of the reconciler (any constant distinct from the migrations' lock)
ADVISORY_LOCK_KEY = 0x6D6C6F7073_0002
RECONCILER = Principal(key_id=0, name="reconciler", role=Role.SERVICE)
_GONE_CODES = frozenset({"ExecutionDoesNotExist", "StateMachineDoesNotExist"})


@dataclass(frozen=True)
class Repair:
    run_id: int
    execution_arn: str
    reason: str


def _why_stuck(described: dict[str, Any] | None, arn: str, now: datetime, grace: timedelta) -> str | None:
    """The reason to fail the run, or None while its execution may still tell the platform."""
    if described is None:
        return f"its workflow execution no longer exists ({arn}): the stack was reset or it was deleted"
    status = described["status"]
    if status == "RUNNING":
        return None
    stopped: datetime | None = described.get("stopDate")
    if stopped is not None and now - stopped < grace:
        return None  # its last events may be on their way through the bus and the projector
    detail = ": ".join(str(described[k]) for k in ("error", "cause") if described.get(k))
    return f"its workflow execution ended {status} without the platform hearing of it" + (
        f" ({detail})"[:1000] if detail else ""
    )


class Reconciler:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        stepfunctions: Callable[[], Any],
        hooks: Sequence[StatusHook],
        *,
        interval_seconds: float,
        grace_seconds: float,
    ) -> None:
        self._sessions = sessions
        self._stepfunctions = stepfunctions
        self._hooks = hooks
        self.interval = interval_seconds
        self.grace = timedelta(seconds=grace_seconds)

    async def run(self, stop: asyncio.Event) -> None:
        log.info("reconciler: every %ss", self.interval)
        while not stop.is_set():
            try:
                async with asyncio.timeout(self.interval):
                    await stop.wait()
                    break
            except TimeoutError:
                pass
            try:
                await self.reconcile_once()
            except Exception:  # the next period tries again; the API keeps serving
                log.exception("reconciliation failed")
        log.info("reconciler stopped")

    async def reconcile_once(self) -> list[Repair]:
        async with self._sessions() as lock_session, lock_session.begin():
            if not await lock_session.scalar(select(func.pg_try_advisory_xact_lock(ADVISORY_LOCK_KEY))):
                return []  # another API process reconciles this period
            active = (
                await lock_session.execute(
                    select(PipelineRun.id, PipelineRun.execution_arn).where(
                        PipelineRun.status.in_([s.value for s in ACTIVE_STATUSES]),
                        PipelineRun.execution_arn.is_not(None),
                    )
                )
            ).all()
            repairs = []
            for run_id, arn in active:
                assert arn is not None  # selected so
                reason = _why_stuck(await self._describe(arn), arn, datetime.now(UTC), self.grace)
                if reason is not None and await self._fail(run_id, arn, reason):
                    repairs.append(Repair(run_id, arn, reason))
        return repairs

    async def _describe(self, arn: str) -> dict[str, Any] | None:
        client = self._stepfunctions()
        try:
            described: dict[str, Any] = await asyncio.to_thread(client.describe_execution, executionArn=arn)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in _GONE_CODES:
                return None
            raise
        return described

    async def _fail(self, run_id: int, arn: str, reason: str) -> bool:
        change = StatusChange(
            status=RunStatus.FAILED,
            reason=f"reconciler: {reason}",
            execution_arn=arn,
            event_id=f"reconciler:{run_id}:{arn}"[:128],
        )
        async with self._sessions() as session:
            try:
                _, changed = await change_status(session, run_id, change, RECONCILER, self._hooks)
            except Conflict:  # it reached a terminal status meanwhile
                return False
        if changed:
            log.warning("run %s failed by the reconciler: %s", run_id, reason)
        return changed
