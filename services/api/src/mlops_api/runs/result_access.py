"""Who may write a stage's result: WRITE_RESULTS writes any stage (the evaluator, the legacy service
key); the trainer's WRITE_TRAINING_RESULT writes only `training` (services/api auth/roles.py), so a
trainer key cannot put an evaluation result on a run."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import Depends, Request

from mlops_api.auth.deps import current_principal, require, role_permissions
from mlops_api.auth.keys import Principal
from mlops_api.auth.roles import Permission

Stage = Literal["training", "evaluation"]


async def result_writer(
    stage: Stage, request: Request, principal: Annotated[Principal, Depends(current_principal)]
) -> Principal:
    granted = role_permissions(request.app.state, principal.role)
    if stage == "training" and Permission.WRITE_TRAINING_RESULT in granted:
        return principal
    return await require(Permission.WRITE_RESULTS)(request, principal)
