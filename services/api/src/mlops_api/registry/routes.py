from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request
from sqlalchemy.ext.asyncio import AsyncSession

from mlops_api.auth.deps import require
from mlops_api.auth.keys import Principal
from mlops_api.auth.roles import Permission
from mlops_api.config import Settings
from mlops_api.deps import get_session
from mlops_api.registry import service
from mlops_api.registry.schemas import ModelGroupList, ModelVersionList
from mlops_api.runs.schemas import MODEL_NAME_PATTERN
from mlops_api.schemas import error_responses

router = APIRouter(prefix="/models", tags=["model registry"])

Reader = Annotated[Principal, Depends(require(Permission.READ))]


def registry_reader(request: Request) -> service.RegistryReader:
    settings: Settings = request.app.state.settings
    return service.RegistryReader(settings.aws_region)


Registry = Annotated[service.RegistryReader, Depends(registry_reader)]


@router.get(
    "",
    response_model=ModelGroupList,
    responses=error_responses(401, 403, 503),
    summary="Model package groups of the registry, with their version counts and latest status",
)
async def list_models(_: Reader, registry: Registry) -> ModelGroupList:
    groups = await registry.groups()
    packages = await asyncio.gather(*(registry.packages(g["ModelPackageGroupName"]) for g in groups))
    return ModelGroupList(
        items=[service.summarize_group(g, p) for g, p in zip(groups, packages, strict=True)]
    )


@router.get(
    "/{name}/versions",
    response_model=ModelVersionList,
    responses=error_responses(401, 403, 404, 422, 503),
    summary="A package group's versions: approval status, metadata (the verdict) and MLScore (oldest first)",
)
async def list_versions(
    name: Annotated[str, Path(pattern=MODEL_NAME_PATTERN, max_length=63)],
    _: Reader,
    registry: Registry,
    session: Annotated[AsyncSession, Depends(get_session)],
    limit: Annotated[int, Query(ge=1, le=200, description="The newest versions, at most")] = 100,
) -> ModelVersionList:
    group = await registry.group(name)
    packages = (await registry.packages(name))[-limit:]
    return ModelVersionList(
        name=name,
        description=group.get("ModelPackageGroupDescription") or None,
        items=await service.versions(session, registry, packages),
    )
