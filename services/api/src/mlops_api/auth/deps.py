"""FastAPI dependencies for authentication (401) and authorization (403)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import APIKeyHeader

from mlops_api.auth.keys import KeyVerifier, Principal
from mlops_api.auth.roles import ROLE_PERMISSIONS, Permission, roles_with

api_key_header = APIKeyHeader(
    name="X-API-Key", auto_error=False, description="An API key created by `mlops-api create-key`"
)


async def current_principal(
    request: Request, presented: Annotated[str | None, Depends(api_key_header)]
) -> Principal:
    if not presented:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            detail="missing API key: send it in the X-API-Key header",
            headers={"WWW-Authenticate": "APIKey"},
        )
    verifier: KeyVerifier = request.app.state.key_verifier
    # a key lookup is one read: no transaction needed
    principal = await verifier.verify(request.app.state.autocommit_engine, presented)
    if principal is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            detail="invalid or revoked API key",
            headers={"WWW-Authenticate": "APIKey"},
        )
    return principal


def require(permission: Permission) -> Callable[..., Awaitable[Principal]]:
    async def dependency(
        principal: Annotated[Principal, Depends(current_principal)],
    ) -> Principal:
        if permission not in ROLE_PERMISSIONS[principal.role]:
            allowed = ", ".join(roles_with(permission))
            raise HTTPException(
                status.HTTP_403_FORBIDDEN,
                detail=f"role '{principal.role}' may not {permission}; this needs one of: {allowed}",
            )
        return principal

    return dependency
