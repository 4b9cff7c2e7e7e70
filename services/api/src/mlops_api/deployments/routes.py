from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request, Response, status
from sqlalchemy.ext.asyncio import AsyncSession

from mlops_api.auth.deps import require
from mlops_api.auth.keys import Principal
from mlops_api.auth.roles import Permission
from mlops_api.deployments import service
from mlops_api.deployments.invoker import EndpointInvoker
from mlops_api.deployments.models import DeploymentStatus
from mlops_api.deployments.schemas import (
    DeployerTaskOut,
    DeploymentIn,
    DeploymentList,
    DeploymentOut,
    DeploymentStatusIn,
    InvokeIn,
    InvokeOut,
    ReleaseDeploymentIn,
)
from mlops_api.deps import get_session
from mlops_api.errors import Conflict
from mlops_api.registry.routes import Registry
from mlops_api.runs.schemas import MODEL_NAME_PATTERN
from mlops_api.schemas import error_responses

router = APIRouter(tags=["deployments"])

Reader = Annotated[Principal, Depends(require(Permission.READ))]
Deployer = Annotated[Principal, Depends(require(Permission.DEPLOY))]
Worker = Annotated[Principal, Depends(require(Permission.UPDATE_DEPLOYMENT))]
Session = Annotated[AsyncSession, Depends(get_session)]
DeploymentId = Annotated[int, Path(ge=1, le=2**63 - 1)]


def endpoint_invoker(request: Request) -> EndpointInvoker:
    invoker: EndpointInvoker = getattr(request.app.state, "endpoint_invoker", None) or EndpointInvoker(
        request.app.state.settings.aws_region
    )
    return invoker


@router.get(
    "/models/{name}/deployments",
    response_model=DeploymentList,
    responses=error_responses(401, 403, 422),
    summary="A model's deployments, newest first, and the one in service",
)
async def list_deployments(
    name: Annotated[str, Path(pattern=MODEL_NAME_PATTERN, max_length=63)],
    _: Reader,
    session: Session,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> DeploymentList:
    items = [DeploymentOut.model_validate(d) for d in await service.of_model(session, name, limit)]
    serving = next((d for d in items if d.status is DeploymentStatus.IN_SERVICE), None)
    return DeploymentList(model_name=name, serving=serving, items=items)


@router.post(
    "/deployments",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=DeploymentOut,
    responses=error_responses(400, 401, 403, 404, 409, 422, 503),
    summary="Deploy an approved package version (the newest approved one unless `version` names an "
    "earlier one: a rollback); the release state machine does the work. 409 for a version that is "
    "not Approved in the registry",
)
async def create_deployment(
    body: DeploymentIn, principal: Deployer, session: Session, registry: Registry, request: Request
) -> DeploymentOut:
    deployment = await service.request(session, registry, body, principal)
    request.app.state.notify_outbox()
    return DeploymentOut.model_validate(deployment)


@router.post(
    "/deployments/release",
    response_model=DeploymentOut,
    status_code=status.HTTP_201_CREATED,
    responses={
        200: {"model": DeploymentOut, "description": "Already registered"},
        **error_responses(400, 401, 403, 409, 422),
    },
    summary="The deployer registers the deployment a release asked for (deployer role; idempotent per package)",
)
async def register_release_deployment(
    body: ReleaseDeploymentIn, _: Worker, session: Session, request: Request, response: Response
) -> DeploymentOut:
    deployment, created = await service.register_release(session, body)
    if created:
        request.app.state.notify_outbox()
    else:
        response.status_code = status.HTTP_200_OK
    return DeploymentOut.model_validate(deployment)


@router.get(
    "/deployments/{deployment_id}",
    response_model=DeploymentOut,
    responses=error_responses(401, 403, 404, 422),
    summary="One deployment",
)
async def get_deployment(deployment_id: DeploymentId, _: Reader, session: Session) -> DeploymentOut:
    return DeploymentOut.model_validate(await service.get(session, deployment_id))


@router.get(
    "/deployments/{deployment_id}/task",
    response_model=DeployerTaskOut,
    responses=error_responses(401, 403, 404, 422),
    summary="What the deployer needs: the deployment and its smoke questions (deployer role)",
)
async def deployer_task(
    deployment_id: DeploymentId,
    _: Worker,
    session: Session,
    request: Request,
    count: Annotated[int, Query(ge=1, le=20)] = 3,
) -> DeployerTaskOut:
    deployment = DeploymentOut.model_validate(await service.get(session, deployment_id))
    questions = await service.smoke_questions(session, request.app.state.settings, deployment.run_id, count)
    return DeployerTaskOut(deployment=deployment, smoke_questions=questions)


@router.patch(
    "/deployments/{deployment_id}/status",
    response_model=DeploymentOut,
    responses=error_responses(400, 401, 403, 404, 409, 422),
    summary="The deployer reports a deployment's progress (deployer role; in service retires the one it replaces)",
)
async def report_deployment(
    deployment_id: DeploymentId,
    body: DeploymentStatusIn,
    _: Worker,
    session: Session,
    request: Request,
    response: Response,
) -> DeploymentOut:
    deployment, changed = await service.report(session, deployment_id, body)
    response.headers["x-status-changed"] = "true" if changed else "false"
    if changed:
        request.app.state.notify_outbox()
    return DeploymentOut.model_validate(deployment)


@router.delete(
    "/deployments/{deployment_id}",
    response_model=DeploymentOut,
    responses=error_responses(401, 403, 404, 409, 422),
    summary="Retire a deployment in service (idempotent)",
)
async def retire_deployment(
    deployment_id: DeploymentId, principal: Deployer, session: Session, request: Request
) -> DeploymentOut:
    deployment = await service.retire(session, deployment_id, principal)
    request.app.state.notify_outbox()
    return DeploymentOut.model_validate(deployment)


@router.post(
    "/deployments/{deployment_id}/invoke",
    response_model=InvokeOut,
    responses=error_responses(400, 401, 403, 404, 409, 422, 503),
    summary="Try a deployment: one question forwarded to its endpoint, the answer and the latency",
)
async def invoke_deployment(
    deployment_id: DeploymentId,
    body: InvokeIn,
    _: Deployer,
    session: Session,
    invoker: Annotated[EndpointInvoker, Depends(endpoint_invoker)],
) -> InvokeOut:
    deployment = await service.get(session, deployment_id)
    if deployment.status != DeploymentStatus.IN_SERVICE:
        raise Conflict(f"deployment {deployment_id} is '{deployment.status}': only one in service answers")
    name, url = deployment.endpoint_name, deployment.endpoint_url
    await session.close()  # hold no connection while the model answers
    answer, latency_ms = await invoker.ask(name, url, body.model_dump())
    return InvokeOut(
        deployment_id=deployment_id, endpoint_name=name, answer=answer, latency_ms=round(latency_ms, 1)
    )
