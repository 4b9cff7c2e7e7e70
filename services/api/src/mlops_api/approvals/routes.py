from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, HTTPException, Path, Request, Response, status
from fastapi.responses import HTMLResponse
from sqlalchemy.ext.asyncio import AsyncSession

from mlops_api.approvals import links, pages, service
from mlops_api.approvals.models import Via
from mlops_api.approvals.ports import RunLookup
from mlops_api.approvals.schemas import (
    ApprovalOut,
    ApprovalRegistered,
    ApprovalRequestIn,
    ApproveIn,
    AuditEntryOut,
    RejectIn,
    api_errors,
    html_responses,
)
from mlops_api.approvals.workflow import TaskAnswerer
from mlops_api.auth.deps import authenticate_person, presented_identity, require, role_permissions
from mlops_api.auth.keys import Principal
from mlops_api.auth.roles import Permission
from mlops_api.config import Settings
from mlops_api.deps import get_session
from mlops_api.errors import ApiError, Gone

router = APIRouter(prefix="/runs", tags=["approvals"])

Session = Annotated[AsyncSession, Depends(get_session)]
RunId = Annotated[int, Path(ge=1, le=2**63 - 1, description="Run id")]
LinkToken = Annotated[
    str,
    Path(
        min_length=16,
        max_length=2048,
        pattern=r"^[A-Za-z0-9_.-]+$",
        description="The signed token of an approval link",
    ),
]
Approver = Annotated[Principal, Depends(require(Permission.APPROVE))]
Reader = Annotated[Principal, Depends(require(Permission.READ))]


def signing_keys(request: Request) -> links.SigningKeys:
    state = request.app.state
    if not hasattr(state, "approval_signing_keys"):
        state.approval_signing_keys = links.SigningKeys(state.settings)
    keys: links.SigningKeys = state.approval_signing_keys
    return keys


def task_answerer(request: Request) -> TaskAnswerer:
    settings: Settings = request.app.state.settings
    return TaskAnswerer(settings.aws_region)


def run_lookup(request: Request) -> RunLookup:
    """The runs domain's `get_run`, put on the app by mlops_api.flows (approvals never import runs)."""
    runs: RunLookup = request.app.state.run_lookup
    return runs


Keys = Annotated[links.SigningKeys, Depends(signing_keys)]
Runs = Annotated[RunLookup, Depends(run_lookup)]
Answerer = Annotated[TaskAnswerer, Depends(task_answerer)]


def _client(request: Request) -> dict[str, str | None]:
    return {
        "client_ip": request.client.host if request.client else None,
        "forwarded_for": (request.headers.get("x-forwarded-for") or "")[:256] or None,
        "user_agent": (request.headers.get("user-agent") or "")[:256] or None,
    }


def _link(request: Request, run_id: int, token: str) -> str:
    settings: Settings = request.app.state.settings
    base = (settings.public_api_url or str(request.base_url)).rstrip("/")
    return f"{base}/runs/{run_id}/approval-links/{token}"


@router.post(
    "/{run_id}/approvals",
    status_code=status.HTTP_201_CREATED,
    response_model=ApprovalRegistered,
    responses={
        200: {"model": ApprovalRegistered, "description": "This task token was already registered"},
        **api_errors(400, 401, 403, 404, 409, 422, 503),
    },
    summary="Register the workflow's wait for a human decision (service role; idempotent per token)",
)
async def register_approval(
    run_id: RunId,
    body: ApprovalRequestIn,
    request: Request,
    response: Response,
    session: Session,
    keys: Keys,
    runs: Runs,
    principal: Annotated[Principal, Depends(require(Permission.REQUEST_APPROVAL))],
) -> ApprovalRegistered:
    key = await keys.get()  # first: without a key no link can be issued, so nothing is stored
    approval, created = await service.register(session, run_id, body, principal, runs)
    response.status_code = status.HTTP_201_CREATED if created else status.HTTP_200_OK

    def url(decision: links.Decision) -> str:
        claims = links.LinkClaims(
            run_id=approval.run_id,
            approval_id=approval.id,
            decision=decision,
            nonce=approval.link_nonce,
            expires_at=approval.expires_at,
        )
        return _link(request, run_id, links.sign(key, claims))

    return ApprovalRegistered(
        approval=ApprovalOut.model_validate(approval),
        created=created,
        approve_url=url("approve"),
        reject_url=url("reject"),
        expires_at=approval.expires_at,
    )


@router.get(
    "/{run_id}/approval",
    response_model=ApprovalOut,
    responses=api_errors(401, 403, 404, 422),
    summary="The run's latest approval request and its decision (never the task token)",
)
async def get_approval(run_id: RunId, session: Session, runs: Runs, _: Reader) -> ApprovalOut:
    return ApprovalOut.model_validate(await service.current(session, run_id, runs))


async def _decide_api(
    session: AsyncSession,
    run_id: int,
    runs: RunLookup,
    *,
    approved: bool,
    comment: str | None,
    principal: Principal,
    request: Request,
    answerer: TaskAnswerer,
) -> ApprovalOut:
    approval = await service.for_api_decision(session, run_id, runs)
    decision = service.DecisionMade(
        approved=approved,
        actor=principal.name,
        via=Via.API,  # the route decides how the decision arrived, never the body
        comment=comment,
        details={**principal.audit_details(), **_client(request)},
    )
    decided = await service.decide(session, approval, decision, answerer, link=False)
    return ApprovalOut.model_validate(decided)


@router.post(
    "/{run_id}/approve",
    response_model=ApprovalOut,
    responses=api_errors(400, 401, 403, 404, 409, 410, 422, 503),
    summary="Approve the run for production (approver role); answers the workflow",
)
async def approve(
    run_id: RunId,
    request: Request,
    session: Session,
    answerer: Answerer,
    runs: Runs,
    principal: Approver,
    body: ApproveIn | None = None,
) -> ApprovalOut:
    body = body or ApproveIn()
    return await _decide_api(
        session,
        run_id,
        runs,
        approved=True,
        comment=body.comment,
        principal=principal,
        request=request,
        answerer=answerer,
    )


@router.post(
    "/{run_id}/reject",
    response_model=ApprovalOut,
    responses=api_errors(400, 401, 403, 404, 409, 410, 422, 503),
    summary="Reject the run (approver role; a comment is required); answers the workflow",
)
async def reject(
    run_id: RunId,
    body: RejectIn,
    request: Request,
    session: Session,
    answerer: Answerer,
    runs: Runs,
    principal: Approver,
) -> ApprovalOut:
    return await _decide_api(
        session,
        run_id,
        runs,
        approved=False,
        comment=body.comment,
        principal=principal,
        request=request,
        answerer=answerer,
    )


@router.get(
    "/{run_id}/audit",
    response_model=list[AuditEntryOut],
    responses=api_errors(401, 403, 404, 422),
    summary="The run's approval audit trail: who decided what, when, how, on which MLScore",
)
async def get_audit(run_id: RunId, session: Session, runs: Runs, _: Reader) -> list[AuditEntryOut]:
    return [AuditEntryOut.model_validate(row) for row in await service.audit_trail(session, run_id, runs)]


class _PageRefused(Exception):
    def __init__(self, page: HTMLResponse) -> None:
        self.page = page


async def _signed_in_approver(request: Request) -> Principal:
    """The person the load balancer signed in, with the approver role (docs/decisions/0017-people-signed-in-at-the-load-balancer.md):
    a link is a capability, but only a signed-in approver may use it, and the decision is theirs.
    An API key is not a person: it does not decide through a link."""
    settings: Settings = request.app.state.settings
    sign_in = _sign_in_link(settings.sign_in_url, request)
    token = presented_identity(request)
    if not token:
        raise _PageRefused(
            pages.problem(
                401,
                "Sign in to approve or reject: approval links are used by a signed-in approver.",
                sign_in_url=sign_in,
            )
        )
    try:
        principal = await authenticate_person(request.app.state, token)
    except HTTPException as exc:
        raise _PageRefused(
            pages.problem(
                exc.status_code, str(exc.detail), sign_in_url=sign_in if exc.status_code == 401 else ""
            )
        ) from None
    if Permission.APPROVE not in role_permissions(request.app.state, principal.role):
        raise _PageRefused(
            pages.problem(
                403,
                f"{principal.name} is signed in as {principal.role}: only approvers decide releases.",
            )
        )
    return principal


def _sign_in_link(sign_in_url: str, request: Request) -> str:
    if not sign_in_url:
        return ""  # behind the ALB: its OIDC action signs people in before the page is reached
    return f"{sign_in_url}?{urlencode({'next': str(request.url)})}"


@router.get(
    "/{run_id}/approval-links/{token}",
    response_class=HTMLResponse,
    responses={200: {"description": "The confirmation page"}, **html_responses(401, 403, 410, 503)},
    summary="An approval link: shows a signed-in approver a confirmation page, never decides",
)
async def open_link(
    run_id: RunId, token: LinkToken, request: Request, session: Session, keys: Keys, runs: Runs
) -> HTMLResponse:
    try:
        person = await _signed_in_approver(request)
    except _PageRefused as refused:
        return refused.page
    try:
        claims = links.verify(await keys.get(), token, run_id=run_id)
        approval = await service.for_link(session, claims.approval_id, run_id, claims.nonce)
        service.check_open(approval, link=True)
        run = await service.run_of(session, approval, runs)
    except ApiError as exc:
        await session.rollback()
        return pages.problem(exc.status_code, str(exc.detail))
    await session.commit()  # nothing written: ends the transaction, releases the row lock
    return pages.confirm(run, approval, claims.decision, person=person.name)


@router.post(
    "/{run_id}/approval-links/{token}",
    response_class=HTMLResponse,
    responses={200: {"description": "The decision is recorded"}, **html_responses(400, 401, 403, 410, 503)},
    summary="Confirm an approval link's decision (the form of its page; a signed-in approver); works once",
)
async def confirm_link(
    run_id: RunId,
    token: LinkToken,
    request: Request,
    session: Session,
    keys: Keys,
    answerer: Answerer,
    runs: Runs,
    comment: Annotated[
        str, Form(description="Required to reject", examples=["Answers cite the wrong runbook"])
    ] = "",
) -> HTMLResponse:
    # Who decides is the signed identity, checked first: nothing is read or recorded for anyone else.
    # A form field naming someone is ignored.
    try:
        person = await _signed_in_approver(request)
    except _PageRefused as refused:
        return refused.page
    try:
        claims = links.verify(await keys.get(), token, run_id=run_id)
        approval = await service.for_link(session, claims.approval_id, run_id, claims.nonce)
        service.check_open(approval, link=True)
        run = await service.run_of(session, approval, runs)
        comment = comment.strip()
        problem = _form_problem(comment, claims.decision)
        if problem:
            await session.commit()  # nothing written; commit keeps the rows loaded for the page
            return pages.confirm(
                run,
                approval,
                claims.decision,
                person=person.name,
                comment=comment,
                problem=problem,
                status_code=400,
            )
        decision = service.DecisionMade(
            approved=claims.decision == "approve",
            actor=person.name,
            via=Via.LINK,
            comment=comment or None,
            details={**person.audit_details(), **_client(request)},
        )
        decided = await service.decide(session, approval, decision, answerer, link=True)
    except ApiError as exc:
        await session.rollback()
        status_code = exc.status_code if exc.status_code in (403, 410, 503) else Gone.status_code
        return pages.problem(status_code, str(exc.detail))
    return pages.decided(run, decided)


def _form_problem(comment: str, decision: links.Decision) -> str | None:
    if len(comment) > 4000 or "\x00" in comment:
        return "The comment must be at most 4000 characters."
    if decision == "reject" and not comment:
        return "Please say why the model is rejected."
    return None
