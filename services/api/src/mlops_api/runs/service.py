"""Run use cases: create, list, read, change status, record results."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Sequence
from datetime import UTC, datetime
from typing import Any, Protocol, cast

from sqlalchemy import BigInteger, Select, Table, bindparam, func, literal, or_, select, true, update
from sqlalchemy.dialects.postgresql import JSONB, insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession

from mlops_api.auth.keys import Principal
from mlops_api.datasets.models import Dataset, DatasetKind
from mlops_api.db import DriverStatement, json_text
from mlops_api.errors import Conflict, NotFound, Unprocessable
from mlops_api.outbox.models import OutboxEvent
from mlops_api.outbox.service import enqueue
from mlops_api.runs import sizing
from mlops_api.runs.models import PipelineRun, RunEvent, RunResult
from mlops_api.runs.schemas import RunCreate, RunOut, RunResultIn, StatusChange, TimelineEventIn
from mlops_contracts.events import EVENT_SOURCE_API, EventType, RunEventDetail, RunPayload
from mlops_contracts.status import (
    TERMINAL_STATUSES,
    IllegalTransition,
    RunStatus,
    TaskType,
    check_transition,
)


def payload_of(run: PipelineRun) -> RunPayload:
    return RunPayload(
        model_name=run.model_name,
        model_id=run.model_id,
        task_type=TaskType(run.task_type),
        experiment_name=run.experiment_name,
    )


async def _check_datasets(session: AsyncSession | AsyncConnection, request: RunCreate) -> dict[int, str]:
    """Check that the datasets exist and have the right kind; returns their S3 URIs by id."""
    wanted: dict[int, tuple[str, DatasetKind]] = {
        request.eval_dataset_id: ("eval_dataset_id", DatasetKind.EVAL)
    }
    if request.train_dataset_id is not None:
        if request.train_dataset_id == request.eval_dataset_id:
            raise Unprocessable("train_dataset_id and eval_dataset_id must be different datasets")
        wanted[request.train_dataset_id] = ("train_dataset_id", DatasetKind.TRAIN)
    query = select(Dataset.id, Dataset.kind, Dataset.s3_uri).where(Dataset.id.in_(wanted))
    found = {row.id: row for row in (await session.execute(query)).all()}
    for dataset_id, (field, kind) in wanted.items():
        if dataset_id not in found:
            raise Unprocessable(f"{field} {dataset_id}: no such dataset")
        if found[dataset_id].kind != kind:
            raise Unprocessable(
                f"{field} {dataset_id}: dataset is a '{found[dataset_id].kind}' dataset, expected '{kind}'"
            )
    return {dataset_id: row.s3_uri for dataset_id, row in found.items()}


def _create_run_statement() -> Select[Any]:
    """The run, its `run.created` timeline step and its outbox row, written by ONE statement:
    atomic by itself (docs/decisions/0006-transactional-outbox.md holds without a transaction around
    it) and one round trip. The run is inserted only when both datasets exist with the right kind;
    their URIs go into the event.
    Built once, executed with bind parameters (SQLAlchemy caches its compiled form)."""
    runs, events, outbox, datasets = (
        cast(Table, model.__table__) for model in (PipelineRun, RunEvent, OutboxEvent, Dataset)
    )
    train_id = bindparam("train_dataset_id", type_=BigInteger)
    eval_id = bindparam("eval_dataset_id", type_=BigInteger)

    def uri_of(dataset_id: Any, kind: DatasetKind) -> Any:
        query = select(datasets.c.s3_uri).where(datasets.c.id == dataset_id, datasets.c.kind == kind.value)
        return query.scalar_subquery()

    chosen = select(
        uri_of(train_id, DatasetKind.TRAIN).label("train_uri"),
        uri_of(eval_id, DatasetKind.EVAL).label("eval_uri"),
    ).cte("chosen")
    run_columns = [
        "model_name",
        "model_id",
        "task_type",
        "experiment_name",
        "status",
        "train_dataset_id",
        "eval_dataset_id",
        "hyperparameters",
        "ml_score_threshold",
        "created_by",
    ]
    run_columns += ["idempotency_key", "request_hash"]
    new_run = (
        insert(runs)
        .from_select(
            run_columns,
            select(*(bindparam(c, type_=runs.c[c].type) for c in run_columns)).where(
                chosen.c.eval_uri.is_not(None), or_(train_id.is_(None), chosen.c.train_uri.is_not(None))
            ),
        )
        # A retried request with the same Idempotency-Key inserts nothing: the unique constraint
        # decides (a concurrent retry waits for the first insert's commit, then does nothing).
        .on_conflict_do_nothing(constraint="uq_pipeline_runs_created_by_idempotency_key")
        .returning(runs.c.id, runs.c.created_at, runs.c.updated_at)
        .cte("new_run")
    )
    created = literal(EventType.RUN_CREATED.value)
    source = literal(EVENT_SOURCE_API)
    new_event = (
        insert(events)
        .from_select(
            ["run_id", "event_type", "status", "source", "data", "occurred_at"],
            select(
                new_run.c.id,
                created,
                literal(RunStatus.PENDING.value),
                source,
                bindparam("event_data", type_=JSONB),
                bindparam("now", type_=events.c.occurred_at.type),
            ),
        )
        .cte("new_event")
    )
    # The detail is rendered in Python but for what the database decides: the run id and the
    # datasets' URIs (`||` replaces top-level keys). JSONB normalises key order, so the stored
    # detail is the same value the ORM path stored.
    data = bindparam("detail_data", type_=JSONB).op("||", return_type=JSONB)(
        func.jsonb_build_object(
            "train_dataset_uri", chosen.c.train_uri, "eval_dataset_uri", chosen.c.eval_uri
        )
    )
    detail = bindparam("detail", type_=JSONB).op("||", return_type=JSONB)(
        func.jsonb_build_object("run_id", new_run.c.id, "data", data)
    )
    new_outbox = (
        insert(outbox)
        .from_select(
            ["event_type", "source", "detail"],
            select(created, source, detail).select_from(new_run.join(chosen, true())),
        )
        .cte("new_outbox")
    )
    return select(new_run).add_cte(new_event, new_outbox)


_CREATE_RUN = DriverStatement.compile(_create_run_statement())


def request_hash(request: RunCreate) -> str:
    """The body's fingerprint for the Idempotency-Key check: its validated fields, defaults filled
    in, as canonical JSON (so key order and omitted defaults do not make two bodies differ)."""
    canonical = json.dumps(request.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


async def _run_of_key(connection: AsyncConnection, principal: Principal, key: str) -> Any:
    """The caller's run created with `key` (a row of pipeline_runs), or None."""
    runs = cast(Table, PipelineRun.__table__)
    query = select(runs).where(runs.c.created_by == principal.name, runs.c.idempotency_key == key)
    return (await connection.execute(query)).one_or_none()


async def create_run(
    engine: AsyncEngine, request: RunCreate, principal: Principal, idempotency_key: str | None = None
) -> tuple[RunOut, bool]:
    """Create a pending run: one statement, one round trip, committed by itself. Give it an
    autocommit engine (`db.autocommit`). Returns (run, created).

    With an `idempotency_key`, a caller's second request with that key returns the run the first
    created (created False) when the body is the same, and is refused (422) when it is not."""
    sizing.require_fit(request)  # a run that cannot fit its GPU is refused before anything is stored
    now = datetime.now(UTC)
    fingerprint = request_hash(request) if idempotency_key is not None else None
    hyperparameters = request.hyperparameters.model_dump()
    values: dict[str, Any] = {
        "model_name": request.model_name,
        "model_id": request.model_id,
        "task_type": request.task_type.value,
        "experiment_name": request.experiment_name,
        "status": RunStatus.PENDING.value,
        "train_dataset_id": request.train_dataset_id,
        "eval_dataset_id": request.eval_dataset_id,
        "hyperparameters": hyperparameters,
        "ml_score_threshold": request.ml_score_threshold,
        "created_by": principal.name,
    }
    detail = RunEventDetail(
        run_id=0,  # set by the statement
        timestamp=now,
        payload=RunPayload(
            model_name=request.model_name,
            model_id=request.model_id,
            task_type=request.task_type,
            experiment_name=request.experiment_name,
        ),
        status=RunStatus.PENDING,
    ).model_dump_json(exclude_none=True)
    params = {
        **values,
        "hyperparameters": json_text(hyperparameters),
        "event_data": json_text({"created_by": principal.name}),
        "now": now,
        "detail": detail,
        "idempotency_key": idempotency_key,
        "request_hash": fingerprint,
        # the workflow hands the URIs (added by the statement) to the workers
        "detail_data": json_text(
            {
                "train_dataset_id": request.train_dataset_id,
                "eval_dataset_id": request.eval_dataset_id,
                "hyperparameters": hyperparameters,
                "ml_score_threshold": request.ml_score_threshold,
            }
        ),
    }
    async with engine.connect() as connection:
        row = await _CREATE_RUN.fetchrow(connection, params)
        if row is None and idempotency_key is not None:
            existing = await _run_of_key(connection, principal, idempotency_key)
            if existing is not None:
                if existing.request_hash != fingerprint:
                    raise Unprocessable(
                        f"Idempotency-Key '{idempotency_key}' was already used for run {existing.id} "
                        "with a different request body: send that body again, or a new key"
                    )
                return RunOut.model_validate(existing), False
        if row is None:
            # Nothing inserted: a dataset is missing or of the wrong kind. Say which, as before.
            await _check_datasets(connection, request)
            # They are fine now: one was created in between (its id guessed). Once more.
            row = await _CREATE_RUN.fetchrow(connection, params)
            if row is None:
                raise Conflict("the run's datasets changed while it was being created; try again")
    return RunOut(
        **values,
        id=row["id"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        execution_arn=None,
        status_reason=None,
        started_at=None,
        finished_at=None,
    ), True


async def get_run(session: AsyncSession, run_id: int, *, for_update: bool = False) -> PipelineRun:
    query = select(PipelineRun).where(PipelineRun.id == run_id)
    if for_update:
        query = query.with_for_update()
    run = (await session.execute(query)).scalar_one_or_none()
    if run is None:
        raise NotFound(f"run {run_id} not found")
    return run


async def timeline(session: AsyncSession, run_id: int) -> Sequence[RunEvent]:
    query = select(RunEvent).where(RunEvent.run_id == run_id).order_by(RunEvent.id)
    return (await session.execute(query)).scalars().all()


async def results(session: AsyncSession, run_id: int) -> Sequence[RunResult]:
    query = select(RunResult).where(RunResult.run_id == run_id).order_by(RunResult.id)
    return (await session.execute(query)).scalars().all()


class StatusHook(Protocol):
    """Another domain's reaction to a status change, run in its transaction before the commit (the
    approvals close a wait the run outlived). mlops_api.flows wires them: runs import no domain."""

    def __call__(
        self, session: AsyncSession, run: PipelineRun, change: StatusChange, principal: Principal
    ) -> Awaitable[None]: ...


async def claim(session: AsyncSession, run_id: int, execution_arn: str) -> str | None:
    """Make `execution_arn` the one workflow execution of a pending run, atomically: the first claim
    wins and a repeated claim by the owner is answered the same. Returns the owner afterwards.

    The bus may start two executions for one run (at-least-once delivery of run.created); the
    workflow's first step claims, and an execution that does not own its run ends as a no-op."""
    owner = await session.scalar(
        update(PipelineRun)
        .where(
            PipelineRun.id == run_id,
            PipelineRun.execution_arn.is_(None),
            PipelineRun.status == RunStatus.PENDING.value,
        )
        .values(execution_arn=execution_arn)
        .returning(PipelineRun.execution_arn)
    )
    if owner is None:
        owner = (await get_run(session, run_id)).execution_arn  # 404 for an unknown run
    await session.commit()
    return owner


async def change_status(
    session: AsyncSession,
    run_id: int,
    change: StatusChange,
    principal: Principal,
    hooks: Sequence[StatusHook] = (),
) -> tuple[PipelineRun, bool]:
    """Apply a status change through the transition table. Returns (run, changed). A repeated
    transition or a repeated event id is an idempotent no-op; an illegal one is a Conflict.
    `hooks` run only for a change that happened, in its transaction."""
    run = await get_run(session, run_id, for_update=True)
    if change.event_id is not None:
        seen = await session.scalar(
            select(func.count()).select_from(RunEvent).where(RunEvent.event_id == change.event_id)
        )
        if seen:
            await session.commit()  # releases the row lock; commit (unlike rollback) keeps `run` loaded
            return run, False
    if change.execution_arn and run.execution_arn and change.execution_arn != run.execution_arn:
        raise Conflict(
            f"execution {change.execution_arn} does not own run {run_id} (its execution is {run.execution_arn})"
        )
    current = RunStatus(run.status)
    try:
        changed = check_transition(current, change.status)
    except IllegalTransition as exc:
        raise Conflict(str(exc)) from exc
    if not changed:
        await session.commit()
        return run, False

    now = datetime.now(UTC)
    occurred = change.occurred_at or now
    run.status = change.status.value
    run.updated_at = now
    run.status_reason = change.reason
    if change.execution_arn:
        run.execution_arn = change.execution_arn
    if current is RunStatus.PENDING and run.started_at is None:
        run.started_at = occurred
    if change.status in TERMINAL_STATUSES:
        run.finished_at = occurred
    session.add(
        RunEvent(
            run_id=run.id,
            event_type=EventType.RUN_STATUS_CHANGED.value,
            status=change.status.value,
            previous_status=current.value,
            reason=change.reason,
            execution_arn=change.execution_arn,
            source=principal.name,
            event_id=change.event_id,
            data=change.data,
            occurred_at=occurred,
        )
    )
    enqueue(
        session,
        EventType.RUN_STATUS_CHANGED,
        RunEventDetail(
            run_id=run.id,
            timestamp=occurred,
            payload=payload_of(run),
            status=change.status,
            previous_status=current,
            reason=change.reason,
            execution_arn=change.execution_arn,
        ),
    )
    for hook in hooks:
        await hook(session, run, change, principal)
    await session.commit()
    return run, True


async def record_event(
    session: AsyncSession, run_id: int, event: TimelineEventIn, principal: Principal
) -> tuple[RunEvent, bool]:
    """Add a timeline step without a status change. Returns (event, created); a repeated
    `event_id` returns the step already recorded."""
    await get_run(session, run_id)
    statement = (
        insert(RunEvent)
        .values(
            run_id=run_id,
            event_type=event.event_type,
            reason=event.reason,
            execution_arn=event.execution_arn,
            source=principal.name,
            event_id=event.event_id,
            data=event.data,
            occurred_at=event.occurred_at or datetime.now(UTC),
        )
        .on_conflict_do_nothing(index_elements=[RunEvent.event_id])
        .returning(RunEvent)
    )
    row = (await session.execute(statement)).scalar_one_or_none()
    created = row is not None
    if row is None:
        row = (
            await session.execute(select(RunEvent).where(RunEvent.event_id == event.event_id))
        ).scalar_one()
        if row.run_id != run_id:
            raise Conflict(f"event_id '{event.event_id}' is already recorded for run {row.run_id}")
    await session.commit()
    return row, created


async def record_result(session: AsyncSession, run_id: int, stage: str, result: RunResultIn) -> RunResult:
    await get_run(session, run_id)
    values: dict[str, Any] = {
        "run_id": run_id,
        "stage": stage,
        "metrics": result.metrics,
        "ml_score": result.ml_score,
        "passed": result.passed,
    }
    statement = (
        insert(RunResult)
        .values(**values)
        .on_conflict_do_update(
            constraint="uq_run_results_run_id_stage",
            set_={
                "metrics": result.metrics,
                "ml_score": result.ml_score,
                "passed": result.passed,
                "updated_at": func.now(),
            },
        )
        .returning(RunResult)
    )
    row = (await session.execute(statement)).scalar_one()
    await session.commit()
    return row
