"""Recording deployments and announcing each change through the outbox
(docs/decisions/0006-transactional-outbox.md). The API never calls SageMaker's endpoint APIs: a
deployment is requested on the bus and carried out by the release state machine's Deploy stage and
the deployer worker, which reports back here (docs/decisions/0001-one-orchestrator.md)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from mlops_api.auth.keys import Principal
from mlops_api.deployments.models import ENDED, TRANSITIONS, Deployment, DeploymentStatus
from mlops_api.deployments.schemas import DeploymentIn, DeploymentStatusIn, ReleaseDeploymentIn, SmokeQuestion
from mlops_api.errors import Conflict, NotFound
from mlops_api.outbox.service import enqueue
from mlops_api.registry.service import RegistryReader, metadata_of
from mlops_api.runs import result_uris, samples
from mlops_api.runs.service import get_run, results
from mlops_contracts.events import DeploymentEventDetail, DeploymentEventType

APPROVED = "Approved"


def endpoint_name_of(model_name: str) -> str:
    """One endpoint per model, updated in place (blue/green) by each deployment."""
    return model_name


def _detail(deployment: Deployment, previous: str | None) -> DeploymentEventDetail:
    return DeploymentEventDetail(
        deployment_id=deployment.id,
        model_name=deployment.model_name,
        model_package_arn=deployment.model_package_arn,
        version=deployment.version,
        run_id=deployment.run_id,
        status=deployment.status,
        previous_status=previous,
        endpoint_name=deployment.endpoint_name,
        requested_by=deployment.requested_by,
        reason=deployment.reason,
    )


def _announce(session: AsyncSession, deployment: Deployment, previous: str | None) -> None:
    kind = DeploymentEventType.REQUESTED if previous is None else DeploymentEventType.STATUS_CHANGED
    enqueue(session, kind, _detail(deployment, previous))


async def approved_package(registry: RegistryReader, model_name: str, version: int | None) -> dict[str, Any]:
    """The registry's description of the version to deploy; a Conflict unless it is Approved (read
    from the registry, as GET /models/{name}/versions reads it)."""
    packages = await registry.packages(model_name)
    if version is None:
        approved = [p for p in packages if p.get("ModelApprovalStatus") == APPROVED]
        if not approved:
            raise Conflict(f"model '{model_name}' has no approved version to deploy")
        chosen = approved[-1]
    else:
        found = [p for p in packages if int(p.get("ModelPackageVersion") or 0) == version]
        if not found:
            raise NotFound(f"model '{model_name}' has no version {version}")
        chosen = found[0]
    described = await registry.package(chosen["ModelPackageArn"])
    status = described.get("ModelApprovalStatus")
    if status != APPROVED:
        raise Conflict(
            f"version {chosen.get('ModelPackageVersion')} of '{model_name}' is {status}: "
            "only an Approved package can be deployed"
        )
    return described


async def _active(session: AsyncSession, model_name: str) -> list[Deployment]:
    query = select(Deployment).where(
        Deployment.model_name == model_name,
        Deployment.status.in_([DeploymentStatus.DEPLOYING.value, DeploymentStatus.IN_SERVICE.value]),
    )
    return list((await session.execute(query.with_for_update())).scalars())


def _run_id(metadata: dict[str, str]) -> int | None:
    text = metadata.get("run_id", "")
    return int(text) if text.isdigit() and len(text) < 19 else None


async def request(
    session: AsyncSession, registry: RegistryReader, body: DeploymentIn, principal: Principal
) -> Deployment:
    """POST /deployments: record the request and announce it (the state machine does the work)."""
    described = await approved_package(registry, body.model_name, body.version)
    return await _create(
        session,
        model_name=body.model_name,
        package_arn=described["ModelPackageArn"],
        version=int(described.get("ModelPackageVersion") or 0),
        run_id=_run_id(metadata_of(described)),
        requested_by=principal.name,
        reason=body.reason,
        origin="api",
    )


async def _create(
    session: AsyncSession,
    *,
    model_name: str,
    package_arn: str,
    version: int,
    run_id: int | None,
    requested_by: str,
    reason: str | None,
    origin: str,
) -> Deployment:
    busy = [d for d in await _active(session, model_name) if d.status == DeploymentStatus.DEPLOYING]
    if busy:
        raise Conflict(f"deployment {busy[0].id} of '{model_name}' is still deploying: wait for it to end")
    deployment = Deployment(
        model_name=model_name,
        model_package_arn=package_arn,
        version=version,
        run_id=run_id,
        endpoint_name=endpoint_name_of(model_name),
        status=DeploymentStatus.DEPLOYING.value,
        reason=reason,
        requested_by=requested_by,
        origin=origin,
    )
    session.add(deployment)
    await session.flush()
    if origin == "api":  # the release workflow already runs: only a request of the API starts one
        _announce(session, deployment, None)
    else:
        enqueue(session, DeploymentEventType.STATUS_CHANGED, _detail(deployment, None))
    await session.commit()
    await session.refresh(deployment)
    return deployment


async def register_release(session: AsyncSession, body: ReleaseDeploymentIn) -> tuple[Deployment, bool]:
    """The deployer's record of the deployment a release asked for; the same package again (a
    redelivered task) answers the record made the first time."""
    query = select(Deployment).where(
        Deployment.model_package_arn == body.model_package_arn, Deployment.origin == "release"
    )
    existing = (await session.execute(query)).scalars().first()
    if existing is not None:
        return existing, False
    deployment = await _create(
        session,
        model_name=body.model_name,
        package_arn=body.model_package_arn,
        version=body.version,
        run_id=body.run_id,
        requested_by=body.requested_by,
        reason=None,
        origin="release",
    )
    return deployment, True


async def get(session: AsyncSession, deployment_id: int, *, for_update: bool = False) -> Deployment:
    query = select(Deployment).where(Deployment.id == deployment_id)
    if for_update:
        query = query.with_for_update()
    deployment = (await session.execute(query)).scalars().first()
    if deployment is None:
        raise NotFound(f"deployment {deployment_id} not found")
    return deployment


def _move(
    session: AsyncSession, deployment: Deployment, status: DeploymentStatus, reason: str | None
) -> None:
    previous = deployment.status
    now = datetime.now(UTC)
    deployment.status = status.value
    deployment.reason = reason
    deployment.updated_at = now
    if status in ENDED:
        deployment.finished_at = now
    _announce(session, deployment, previous)


async def report(
    session: AsyncSession, deployment_id: int, body: DeploymentStatusIn
) -> tuple[Deployment, bool]:
    """The deployer's report. Returns (deployment, changed); the same report again changes nothing.
    A deployment in service retires the one it replaced."""
    deployment = await get(session, deployment_id, for_update=True)
    current, wanted = DeploymentStatus(deployment.status), DeploymentStatus(body.status)
    if current is wanted:
        await session.commit()
        return deployment, False
    if wanted not in TRANSITIONS[current]:
        raise Conflict(f"deployment {deployment_id} is '{current}': it cannot become '{wanted}'")
    if body.endpoint_url is not None:
        deployment.endpoint_url = body.endpoint_url
    if body.variant is not None:
        deployment.variant = body.variant
    if wanted is DeploymentStatus.IN_SERVICE:
        for other in await _active(session, deployment.model_name):
            if other.id != deployment.id and other.status == DeploymentStatus.IN_SERVICE:
                _move(session, other, DeploymentStatus.RETIRED, f"replaced by deployment {deployment.id}")
    # in service without a word of its own keeps the request's reason (why a rollback was asked for)
    kept = deployment.reason if wanted is DeploymentStatus.IN_SERVICE else None
    _move(session, deployment, wanted, body.reason or kept)
    await session.commit()
    await session.refresh(deployment)
    return deployment, True


async def retire(session: AsyncSession, deployment_id: int, principal: Principal) -> Deployment:
    """DELETE /deployments/{id}: the deployment stops serving (the local runner stops its process;
    docs/decisions/0021-deployments.md)."""
    deployment = await get(session, deployment_id, for_update=True)
    if deployment.status == DeploymentStatus.RETIRED:
        await session.commit()
        return deployment
    if deployment.status != DeploymentStatus.IN_SERVICE:
        raise Conflict(
            f"deployment {deployment_id} is '{deployment.status}': only one in service can be retired"
        )
    _move(session, deployment, DeploymentStatus.RETIRED, f"retired by {principal.name}")
    await session.commit()
    await session.refresh(deployment)
    return deployment


async def of_model(session: AsyncSession, model_name: str, limit: int) -> list[Deployment]:
    query = (
        select(Deployment)
        .where(Deployment.model_name == model_name)
        .order_by(Deployment.id.desc())
        .limit(limit)
    )
    return list((await session.execute(query)).scalars())


async def smoke_questions(
    session: AsyncSession, settings: Any, run_id: int | None, count: int
) -> list[SmokeQuestion]:
    """The first `count` questions of the run's evaluation samples (the file the evaluation wrote
    under the run's prefix); none when the run has no readable samples."""
    if run_id is None:
        return []
    try:
        run = await get_run(session, run_id)
    except NotFound:  # a package registered from another platform's run
        return []
    evaluation = next((r for r in await results(session, run_id) if r.stage == "evaluation"), None)
    await session.commit()  # done with the database before reading S3
    metrics = evaluation.metrics if evaluation else None
    uri = (metrics or {}).get("samples_uri")
    bucket = settings.model_outputs_bucket
    if not isinstance(uri, str) or not result_uris.under_run_prefix(
        uri, bucket=bucket, model_name=run.model_name, run_id=run_id
    ):  # as GET /runs/{id}/samples: only the file under the run's own prefix
        return []
    read = await samples.samples(metrics, region=settings.aws_region, limit=count)
    return [
        SmokeQuestion(
            question=str(item["question"]), contexts=[str(c) for c in item.get("contexts") or []][:8]
        )
        for item in read.items
        if item.get("question")
    ][:count]
