"""Approval use cases: register a wait, decide it once, close it when the run ends, read the audit.

A decision is checked and recorded under a row lock on the approval, around the Step Functions
answer: two concurrent decisions cannot both answer, and nothing is recorded as decided unless the
workflow accepted it.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from mlops_api.approvals.models import Approval, ApprovalAudit, ApprovalStatus, AuditAction, Via
from mlops_api.approvals.ports import RunFacts, RunLookup, RunStatusChanged
from mlops_api.approvals.schemas import ApprovalRequestIn
from mlops_api.approvals.workflow import NoLongerWaiting, TaskAnswerer, WorkflowUnavailable
from mlops_api.auth.keys import Principal
from mlops_api.auth.roles import ROLE_PERMISSIONS, Permission
from mlops_api.errors import Conflict, Forbidden, Gone, NotFound, Unavailable
from mlops_contracts.status import TERMINAL_STATUSES, RunStatus

log = logging.getLogger(__name__)

TIMEOUT_APPROVER = "timeout"  # what the workflow records as approver when nobody decided in time

# The workflow writes "rejected by {approver}: {comment}" as the package's ApprovalDescription, which
# SageMaker caps at 1,024 characters (UpdateModelPackage); approvers' names are at most 128. The
# comment the workflow receives is cut to fit, on one line (the description's pattern `.*` does not
# match a line break); the whole comment stays in this API's audit.
_APPROVAL_DESCRIPTION_MAX = 1024
_APPROVER_MAX = 128
WORKFLOW_COMMENT_MAX = _APPROVAL_DESCRIPTION_MAX - len("rejected by : ") - _APPROVER_MAX


def registry_approver(actor: str) -> str:
    """The approver as the workflow writes it into the package's CustomerMetadataProperties, whose
    values SageMaker limits to letters, numbers, separators and `_.:/=+-@` (1-256 characters): a
    signed link's "Ada Lovelace (signed link)" is written "Ada Lovelace signed link"."""
    kept = "".join(c for c in actor if unicodedata.category(c)[0] in "LNZ" or c in "_.:/=+-@")
    return " ".join(kept.split())[:256] or "unknown"


def workflow_comment(comment: str | None) -> str:
    """The decision's comment as the workflow receives it: one line of at most WORKFLOW_COMMENT_MAX
    characters."""
    text = " ".join((comment or "").split())
    return text if len(text) <= WORKFLOW_COMMENT_MAX else text[: WORKFLOW_COMMENT_MAX - 1] + "…"


def token_digest(task_token: str) -> str:
    return hashlib.sha256(task_token.encode()).hexdigest()


def _now() -> datetime:
    return datetime.now(UTC)


def _audit(
    session: AsyncSession,
    approval: Approval,
    action: AuditAction,
    *,
    actor: str,
    via: Via,
    comment: str | None = None,
    details: dict[str, Any] | None = None,
) -> None:
    session.add(
        ApprovalAudit(
            run_id=approval.run_id,
            approval_id=approval.id,
            action=action.value,
            actor=actor[:128],
            via=via.value,
            comment=comment,
            ml_score=approval.ml_score,
            ml_score_threshold=approval.ml_score_threshold,
            details=details or {},
            occurred_at=_now(),
        )
    )


def _finish(approval: Approval, status: ApprovalStatus, *, by: str, via: Via, comment: str | None) -> None:
    approval.status = status.value
    approval.decided_at = _now()
    approval.decided_by = by[:128]
    approval.decision_via = via.value
    approval.comment = comment
    approval.task_token = None  # the wait is over: the capability is not kept


async def register(
    session: AsyncSession, run_id: int, request: ApprovalRequestIn, principal: Principal, runs: RunLookup
) -> tuple[Approval, bool]:
    """Store a pending approval. Idempotent for the same task token. A new token supersedes the
    run's pending approval only when that one's wait is over or a new execution asks: while a wait
    is live, a second request of the same execution is refused (409) - otherwise any caller could
    silence the real links (#23)."""
    run = await runs(session, run_id, for_update=True)  # serialises registrations of a run
    digest = token_digest(request.task_token)
    existing = (
        await session.execute(select(Approval).where(Approval.task_token_sha256 == digest))
    ).scalar_one_or_none()
    if existing is not None:
        await session.commit()
        if existing.run_id != run_id:
            raise Conflict(f"this task token is already registered for run {existing.run_id}")
        return existing, False
    status = RunStatus(run.status)
    if status in TERMINAL_STATUSES:
        raise Conflict(f"run {run_id} is '{status}': there is nothing left to approve")
    if run.execution_arn and request.execution_arn and request.execution_arn != run.execution_arn:
        raise Conflict(
            f"execution {request.execution_arn} does not own run {run_id} (its execution is "
            f"{run.execution_arn}): nothing was registered"
        )

    older = (
        (
            await session.execute(
                select(Approval)
                .where(Approval.run_id == run_id, Approval.status == ApprovalStatus.PENDING.value)
                .with_for_update()
            )
        )
        .scalars()
        .all()
    )
    for previous in older:
        if _still_waiting(previous) and not _new_execution(previous, request):
            raise Conflict(
                f"run {run_id} already waits for a decision on approval {previous.id} of the same "
                f"execution until {_when(previous.expires_at)}: a second request does not replace it, "
                "nothing was registered"
            )
    for previous in older:
        _finish(
            previous,
            ApprovalStatus.CLOSED,
            by=principal.name,
            via=Via.WORKFLOW,
            comment="superseded by a new approval request",
        )
        _audit(
            session,
            previous,
            AuditAction.CLOSED,
            actor=principal.name,
            via=Via.WORKFLOW,
            comment="superseded by a new approval request",
        )
    await session.flush()  # the partial unique index allows one pending approval per run

    now = _now()
    approval = Approval(
        run_id=run_id,
        status=ApprovalStatus.PENDING.value,
        task_token=request.task_token,
        task_token_sha256=digest,
        link_nonce=secrets.token_hex(16),
        execution_arn=request.execution_arn,
        model_package_arn=request.model_package_arn,
        ml_score=request.ml_score,
        scores=request.scores,
        ml_score_threshold=(
            request.ml_score_threshold if request.ml_score_threshold is not None else run.ml_score_threshold
        ),
        timeout_seconds=request.timeout_seconds,
        requested_at=now,
        expires_at=now + timedelta(seconds=request.timeout_seconds),
        requested_by=principal.name,
    )
    session.add(approval)
    try:
        await session.flush()
    except IntegrityError as exc:  # the same token registered concurrently for another run
        await session.rollback()
        raise Conflict("this task token is already registered") from exc
    _audit(
        session,
        approval,
        AuditAction.REQUESTED,
        actor=principal.name,
        via=Via.WORKFLOW,
        details={
            "execution_arn": request.execution_arn,
            "model_package_arn": request.model_package_arn,
            "scores": request.scores,
            "expires_at": approval.expires_at.isoformat(),
        },
    )
    await session.commit()
    return approval, True


def _still_waiting(approval: Approval) -> bool:
    return approval.status == ApprovalStatus.PENDING.value and _now() < approval.expires_at


def _new_execution(previous: Approval, request: ApprovalRequestIn) -> bool:
    return request.execution_arn is not None and request.execution_arn != previous.execution_arn


async def run_of(session: AsyncSession, approval: Approval, runs: RunLookup) -> RunFacts:
    return await runs(session, approval.run_id)


async def latest(session: AsyncSession, run_id: int, *, for_update: bool = False) -> Approval | None:
    query = select(Approval).where(Approval.run_id == run_id).order_by(Approval.id.desc()).limit(1)
    if for_update:
        query = query.with_for_update()
    return (await session.execute(query)).scalar_one_or_none()


async def current(session: AsyncSession, run_id: int, runs: RunLookup) -> Approval:
    await runs(session, run_id)
    approval = await latest(session, run_id)
    if approval is None:
        raise NotFound(f"run {run_id} has no approval request")
    return approval


async def audit_trail(session: AsyncSession, run_id: int, runs: RunLookup) -> Sequence[ApprovalAudit]:
    await runs(session, run_id)
    query = select(ApprovalAudit).where(ApprovalAudit.run_id == run_id).order_by(ApprovalAudit.id)
    return (await session.execute(query)).scalars().all()


def _when(moment: datetime | None) -> str:
    return f"{moment:%Y-%m-%d %H:%M:%S} UTC" if moment else "an unknown time"


def check_open(approval: Approval, *, link: bool) -> None:
    """Raise when the approval cannot be decided any more: 410 once it timed out (and, for a link,
    once it was decided in any way: links work once), 409 for a second decision through the API."""
    status = ApprovalStatus(approval.status)
    run = approval.run_id
    if status is ApprovalStatus.PENDING:
        if _now() >= approval.expires_at:
            raise Gone(
                f"the approval of run {run} timed out at {_when(approval.expires_at)}: "
                "a missing decision is a rejection, nothing was decided"
            )
        return
    if status is ApprovalStatus.EXPIRED:
        raise Gone(f"the approval of run {run} timed out: the run was rejected, nothing was decided")
    done = (
        f"run {run} was already {status.value} by {approval.decided_by} at {_when(approval.decided_at)} "
        f"(via {approval.decision_via})"
    )
    if status is ApprovalStatus.CLOSED:
        done = f"the approval request of run {run} was closed ({approval.comment or 'the run ended'})"
    if link:
        raise Gone(f"this approval link was already used or is no longer valid: {done}")
    raise Conflict(done)


@dataclass(frozen=True)
class DecisionMade:
    approved: bool
    actor: str
    via: Via
    comment: str | None
    details: dict[str, Any]


async def decide(
    session: AsyncSession, approval: Approval, decision: DecisionMade, answerer: TaskAnswerer, *, link: bool
) -> Approval:
    """Decide a pending approval, locked by the caller (`latest(..., for_update=True)` or
    `for_link`): answer the workflow, then record the decision and its audit row."""
    check_open(approval, link=link)
    token = approval.task_token
    assert token is not None, "a pending approval keeps its task token"
    output = {
        "approved": decision.approved,
        "approver": decision.actor,
        "registry_approver": registry_approver(decision.actor),
        "comment": workflow_comment(decision.comment),
    }
    try:
        await answerer.succeed(token, output)
    except NoLongerWaiting as exc:
        # The workflow stopped waiting (timeout): record that, never the decision.
        verb = "approve" if decision.approved else "reject"
        note = (
            f"the workflow no longer waits for a decision (Step Functions: {exc.code}); "
            f"{decision.actor}'s attempt to {verb} via {decision.via.value} was not applied"
        )
        _finish(approval, ApprovalStatus.EXPIRED, by=TIMEOUT_APPROVER, via=Via.TIMEOUT, comment=note)
        _audit(
            session,
            approval,
            AuditAction.TIMED_OUT,
            actor=TIMEOUT_APPROVER,
            via=Via.TIMEOUT,
            comment=note,
            details={
                "refused_attempt": {
                    "actor": decision.actor,
                    "approved": decision.approved,
                    **decision.details,
                }
            },
        )
        await session.commit()
        log.warning("run %s: decision refused by Step Functions (%s)", approval.run_id, exc.code)
        raise Gone(f"the approval of run {approval.run_id} timed out: {note}") from exc
    except WorkflowUnavailable as exc:
        await session.rollback()
        raise Unavailable(f"{exc}: nothing was decided, try again") from exc

    status = ApprovalStatus.APPROVED if decision.approved else ApprovalStatus.REJECTED
    _finish(approval, status, by=decision.actor, via=decision.via, comment=decision.comment)
    _audit(
        session,
        approval,
        AuditAction.APPROVED if decision.approved else AuditAction.REJECTED,
        actor=decision.actor,
        via=decision.via,
        comment=decision.comment,
        details={"execution_arn": approval.execution_arn, **decision.details},
    )
    await session.commit()
    log.info(
        "run %s %s by %s via %s",
        approval.run_id,
        status.value,
        decision.actor,
        decision.via.value,
        extra={"run_id": approval.run_id, "execution_arn": approval.execution_arn},
    )
    return approval


async def for_api_decision(session: AsyncSession, run_id: int, runs: RunLookup) -> Approval:
    """The run's approval to decide, locked; 404 for an unknown run, 409 when nothing waits."""
    run = await runs(session, run_id)
    approval = await latest(session, run_id, for_update=True)
    if approval is None:
        raise Conflict(f"run {run_id} has no approval request (status '{run.status}'): nothing to decide")
    return approval


async def for_link(session: AsyncSession, approval_id: int, run_id: int, nonce: str) -> Approval:
    """The approval an authentic link names, locked. A link that outlived its approval is gone."""
    approval = (
        await session.execute(select(Approval).where(Approval.id == approval_id).with_for_update())
    ).scalar_one_or_none()
    if (
        approval is None
        or approval.run_id != run_id
        or not secrets.compare_digest(approval.link_nonce, nonce)
    ):
        raise Gone("this approval link is no longer valid")
    return approval


DECISIONS = (RunStatus.APPROVED, RunStatus.REJECTED)


def _refuse_foreign_outcome(
    run: RunFacts,
    change: RunStatusChanged,
    principal: Principal,
    waiting: Sequence[Approval],
    approver: str | None,
) -> None:
    """A run becomes approved or rejected only from a decision the API made (its approval is then no
    longer pending) or from the workflow's own result, which the projector applies with the event's
    execution and id: never from a status change that merely names an approver (#23). Raises
    Forbidden; the caller's transaction is rolled back, so nothing changes."""
    target = f"run {run.id} cannot be set to '{change.status.value}'"
    if Permission.RECORD_OUTCOME not in ROLE_PERMISSIONS[principal.role]:
        raise Forbidden(
            f"{target} by role '{principal.role}': only the projector records the workflow's outcome; "
            f"people decide through POST /runs/{run.id}/approve, /reject or an approval link"
        )
    if not change.execution_arn or not change.event_id:
        raise Forbidden(f"{target} without the workflow's event: its execution_arn and event_id are required")
    for approval in waiting:
        if not (change.status is RunStatus.REJECTED and approver == TIMEOUT_APPROVER):
            raise Forbidden(
                f"{target}: its approval {approval.id} still waits for a decision, which only "
                f"POST /runs/{run.id}/approve, /reject or an approval link can take"
            )
        if approval.execution_arn and approval.execution_arn != change.execution_arn:
            raise Forbidden(
                f"{target}: the timeout of execution {change.execution_arn} does not end approval "
                f"{approval.id} of execution {approval.execution_arn}"
            )


async def on_run_status_changed(
    session: AsyncSession, run: RunFacts, change: RunStatusChanged, principal: Principal
) -> None:
    """Hook of runs.service.change_status (wired by mlops_api.flows), in its transaction: when the run
    ends while an approval still waits, close it - a timeout (the workflow's rejection with approver
    'timeout'), or the run failing or being cancelled. Links die with it. An approved / rejected
    status that does not come from the API's decision or the workflow's own result is refused."""
    if change.status not in TERMINAL_STATUSES:
        return
    waiting = (
        (
            await session.execute(
                select(Approval)
                .where(Approval.run_id == run.id, Approval.status == ApprovalStatus.PENDING.value)
                .with_for_update()
            )
        )
        .scalars()
        .all()
    )
    raw = change.data.get("approval")
    info: dict[str, Any] = raw if isinstance(raw, dict) else {}
    approver = info.get("approver") if isinstance(info.get("approver"), str) else None
    comment = info.get("comment") if isinstance(info.get("comment"), str) and info.get("comment") else None
    if change.status in DECISIONS:
        _refuse_foreign_outcome(run, change, principal, waiting, approver)
    details = {
        "event_id": change.event_id,
        "execution_arn": change.execution_arn,
        "reported_by": principal.name,
    }
    for approval in waiting:
        if change.status is RunStatus.REJECTED and approver == TIMEOUT_APPROVER:
            note = comment or change.reason or "no decision within the approval timeout"
            _finish(approval, ApprovalStatus.EXPIRED, by=TIMEOUT_APPROVER, via=Via.TIMEOUT, comment=note)
            _audit(
                session,
                approval,
                AuditAction.TIMED_OUT,
                actor=TIMEOUT_APPROVER,
                via=Via.TIMEOUT,
                comment=note,
                details=details,
            )
        else:
            note = change.reason or f"the run ended: {change.status.value}"
            _finish(approval, ApprovalStatus.CLOSED, by=principal.name, via=Via.WORKFLOW, comment=note)
            _audit(
                session,
                approval,
                AuditAction.CLOSED,
                actor=principal.name,
                via=Via.WORKFLOW,
                comment=note,
                details=details,
            )
