from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Header, Path, Query, Request, Response, status
from pydantic import AwareDatetime
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from mlops_api.auth.deps import require
from mlops_api.auth.keys import Principal
from mlops_api.auth.roles import Permission
from mlops_api.deps import get_autocommit_engine, get_session
from mlops_api.errors import NotFound
from mlops_api.runs import (
    cancel,
    model_source,
    result_access,
    result_uris,
    runtime_budget,
    samples,
    service,
)
from mlops_api.runs.annotate import annotate
from mlops_api.runs.page import RunFilters, run_page_json
from mlops_api.runs.schemas import (
    MODEL_NAME_PATTERN,
    CancelIn,
    ClaimIn,
    ClaimOut,
    RunAnnotations,
    RunCreate,
    RunDetail,
    RunEventOut,
    RunOut,
    RunPage,
    RunResultIn,
    RunResultOut,
    StatusChange,
    Tag,
    TimelineEventIn,
)
from mlops_api.schemas import error_responses
from mlops_contracts.status import RunStatus

router = APIRouter(prefix="/runs", tags=["runs"])

Session = Annotated[AsyncSession, Depends(get_session)]
AutocommitEngine = Annotated[AsyncEngine, Depends(get_autocommit_engine)]  # one-statement endpoints
RunId = Annotated[int, Path(ge=1, le=2**63 - 1, description="Run id")]


def status_hooks(request: Request) -> Sequence[service.StatusHook]:
    """What other domains do when a run's status changes, put on the app by mlops_api.flows."""
    hooks: Sequence[service.StatusHook] = request.app.state.run_status_hooks
    return hooks


StatusHooks = Annotated[Sequence[service.StatusHook], Depends(status_hooks)]


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=RunOut,
    responses={
        200: {"model": RunOut, "description": "The run an earlier request with this Idempotency-Key created"},
        **error_responses(400, 401, 403, 422),
    },
    summary="Launch a run",
)
async def create_run(
    body: RunCreate,
    request: Request,
    response: Response,
    engine: AutocommitEngine,
    principal: Annotated[Principal, Depends(require(Permission.LAUNCH_RUN))],
    idempotency_key: Annotated[
        str | None,
        Header(
            alias="Idempotency-Key",
            min_length=1,
            max_length=255,
            pattern=r"^[\x21-\x7e]+$",
            description="Makes retries safe: a repeat with the same key and body answers the run the "
            "first request created (200); the same key with another body is refused (422). Keys are "
            "per caller and kept as long as their run (at least 24 h).",
            examples=["3f1c9a52-6d0e-4c1b-9a57-2b1f0c8e7d41"],
        ),
    ] = None,
) -> RunOut:
    settings = request.app.state.settings
    runtime_budget.require_within(
        body.hyperparameters.max_runtime_seconds, settings.max_training_runtime_seconds
    )
    model_source.require_readable(body.model_id, settings.readable_model_buckets)
    run, created = await service.create_run(engine, body, principal, idempotency_key)
    if created:
        request.app.state.notify_outbox()
    else:
        response.status_code = status.HTTP_200_OK
    response.headers["Location"] = f"/runs/{run.id}"
    return run


@router.get("", response_model=RunPage, responses=error_responses(401, 403, 422), summary="List runs")
async def list_runs(
    engine: AutocommitEngine,
    _: Annotated[Principal, Depends(require(Permission.READ))],
    status_: Annotated[
        list[RunStatus] | None, Query(alias="status", description="Repeat to match several")
    ] = None,
    model_name: Annotated[str | None, Query(pattern=MODEL_NAME_PATTERN, max_length=63)] = None,
    experiment_name: Annotated[
        str | None, Query(min_length=1, max_length=128, pattern=r"^[\w][\w .:/-]*$")
    ] = None,
    tag: Annotated[
        list[Tag] | None, Query(max_length=20, description="Runs with every tag given (repeat for several)")
    ] = None,
    min_ml_score: Annotated[
        float | None, Query(ge=0, le=1, description="Runs whose evaluation's MLScore is at least this")
    ] = None,
    max_ml_score: Annotated[
        float | None, Query(ge=0, le=1, description="Runs whose evaluation's MLScore is at most this")
    ] = None,
    created_after: Annotated[
        AwareDatetime | None, Query(description="Runs created at or after this time (ISO 8601, with zone)")
    ] = None,
    created_before: Annotated[
        AwareDatetime | None, Query(description="Runs created before this time (ISO 8601, with zone)")
    ] = None,
    cursor: Annotated[int | None, Query(ge=1, le=2**63 - 1)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> Response:
    # An empty range (min above max, after not before before) matches no run: an empty page, as
    # the database answers it (what the schema publishes is accepted: schemathesis checks it).
    # The page is written straight from the rows (see runs/page.py); `response_model` stays for
    # the OpenAPI schema, which the written page follows.
    body = await run_page_json(
        engine,
        statuses=status_ or [],
        model_name=model_name,
        experiment_name=experiment_name,
        filters=RunFilters(
            tags=tuple(dict.fromkeys(tag or [])),
            min_ml_score=min_ml_score,
            max_ml_score=max_ml_score,
            created_after=created_after,
            created_before=created_before,
        ),
        cursor=cursor,
        limit=limit,
    )
    return Response(body, media_type="application/json")


@router.patch(
    "/{run_id}",
    response_model=RunOut,
    responses=error_responses(400, 401, 403, 404, 422),
    summary="Tag a run or write its note (the fields given replace the run's; each change is "
    "recorded in its timeline)",
)
async def annotate_run(
    run_id: RunId,
    body: RunAnnotations,
    session: Session,
    principal: Annotated[Principal, Depends(require(Permission.ANNOTATE_RUN))],
) -> RunOut:
    run = await annotate(session, run_id, body, principal)
    return RunOut.model_validate(run)


@router.get(
    "/{run_id}",
    response_model=RunDetail,
    responses=error_responses(401, 403, 404, 422),
    summary="A run with its timeline and results",
)
async def get_run(
    run_id: RunId,
    session: Session,
    _: Annotated[Principal, Depends(require(Permission.READ))],
) -> RunDetail:
    run = await service.get_run(session, run_id)
    events = await service.timeline(session, run_id)
    results = await service.results(session, run_id)
    return RunDetail(
        **RunOut.model_validate(run).model_dump(),
        timeline=[RunEventOut.model_validate(e) for e in events],
        results=[RunResultOut.model_validate(r) for r in results],
    )


@router.patch(
    "/{run_id}/status",
    response_model=RunOut,
    responses=error_responses(400, 401, 403, 404, 409, 422),
    summary="Change a run's status (service role; the transition table decides)",
)
async def change_status(
    run_id: RunId,
    body: StatusChange,
    request: Request,
    response: Response,
    session: Session,
    hooks: StatusHooks,
    principal: Annotated[Principal, Depends(require(Permission.UPDATE_STATUS))],
) -> RunOut:
    run, changed = await service.change_status(session, run_id, body, principal, hooks)
    if changed:
        request.app.state.notify_outbox()
    response.headers["X-Status-Changed"] = "true" if changed else "false"
    return RunOut.model_validate(run)


def run_stopper(request: Request) -> cancel.RunStopper:
    """Stops a cancelled run's AWS work (mlops_api.runs.aws_stopper; put on the app by create_app)."""
    stopper: cancel.RunStopper = request.app.state.run_stopper
    return stopper


@router.post(
    "/{run_id}/cancel",
    response_model=RunOut,
    responses=error_responses(400, 401, 403, 404, 409, 422),
    summary="Cancel an active run: stops its workflow execution and training job, closes its approval, "
    "rejects its candidate package (idempotent; 409 on a run that ended otherwise)",
)
async def cancel_run(
    run_id: RunId,
    request: Request,
    response: Response,
    session: Session,
    hooks: StatusHooks,
    stopper: Annotated[cancel.RunStopper, Depends(run_stopper)],
    principal: Annotated[Principal, Depends(require(Permission.CANCEL_RUN))],
    body: CancelIn | None = None,
) -> RunOut:
    reason = body.reason if body is not None else None
    run, cancelled_now = await cancel.cancel(session, run_id, reason, principal, hooks, stopper)
    if cancelled_now:
        request.app.state.notify_outbox()
    response.headers["X-Status-Changed"] = "true" if cancelled_now else "false"
    return RunOut.model_validate(run)


@router.post(
    "/{run_id}/claim",
    response_model=ClaimOut,
    responses=error_responses(400, 401, 403, 404, 422),
    summary="Claim a pending run for a workflow execution (the workflow's first step; the first claim wins)",
)
async def claim_run(
    run_id: RunId,
    body: ClaimIn,
    session: Session,
    _: Annotated[Principal, Depends(require(Permission.CLAIM_RUN))],
) -> ClaimOut:
    owner = await service.claim(session, run_id, body.execution_arn)
    return ClaimOut(claimed=owner == body.execution_arn, execution_arn=owner)


@router.post(
    "/{run_id}/events",
    status_code=status.HTTP_201_CREATED,
    response_model=RunEventOut,
    responses={
        200: {"model": RunEventOut, "description": "Already recorded (same event_id)"},
        **error_responses(400, 401, 403, 404, 409, 422),
    },
    summary="Add a timeline step that does not change the status (service role; idempotent)",
)
async def add_event(
    run_id: RunId,
    body: TimelineEventIn,
    response: Response,
    session: Session,
    principal: Annotated[Principal, Depends(require(Permission.UPDATE_STATUS))],
) -> RunEventOut:
    row, created = await service.record_event(session, run_id, body, principal)
    response.status_code = status.HTTP_201_CREATED if created else status.HTTP_200_OK
    return RunEventOut.model_validate(row)


@router.put(
    "/{run_id}/results/{stage}",
    response_model=RunResultOut,
    responses=error_responses(400, 401, 403, 404, 422),
    summary="Record the result summary of a stage (service role)",
)
async def put_result(
    run_id: RunId,
    stage: Literal["training", "evaluation"],
    body: RunResultIn,
    request: Request,
    session: Session,
    _: Annotated[Principal, Depends(result_access.result_writer)],
) -> RunResultOut:
    run = await service.get_run(session, run_id)
    bucket = request.app.state.settings.model_outputs_bucket
    result_uris.check(body.metrics, bucket=bucket, model_name=run.model_name, run_id=run_id)
    row = await service.record_result(session, run_id, stage, body)
    return RunResultOut.model_validate(row)


@router.get(
    "/{run_id}/samples",
    response_model=samples.SamplesOut,
    responses=error_responses(401, 403, 404, 422, 503),
    summary="The evaluation's per-sample rows (question, answer, each metric), as the worker stored them",
)
async def get_samples(
    run_id: RunId,
    request: Request,
    session: Session,
    _: Annotated[Principal, Depends(require(Permission.READ))],
    limit: Annotated[int, Query(ge=1, le=10000)] = 2000,
) -> samples.SamplesOut:
    run = await service.get_run(session, run_id)
    evaluation = next((r for r in await service.results(session, run_id) if r.stage == "evaluation"), None)
    await session.commit()  # done with the database before reading S3
    metrics = evaluation.metrics if evaluation else None
    uri = (metrics or {}).get("samples_uri")
    bucket = request.app.state.settings.model_outputs_bucket
    if isinstance(uri, str) and not result_uris.under_run_prefix(
        uri, bucket=bucket, model_name=run.model_name, run_id=run_id
    ):  # recorded before URIs were checked: never served
        raise NotFound(f"the evaluation's samples are not under run {run_id}'s prefix ({uri})")
    return await samples.samples(
        metrics,
        region=request.app.state.settings.aws_region,
        limit=limit,
    )
