"""FastAPI dependencies for authentication (401) and authorization (403)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import APIKeyHeader

from mlops_api.auth.keys import KeyVerifier, Principal
from mlops_api.auth.roles import Permission, Role, permissions_of, roles_with

api_key_header = APIKeyHeader(
    name="X-API-Key", auto_error=False, description="An API key created by `mlops-api create-key`"
)


async def authenticate(app_state: Any, presented: str | None) -> Principal:
    """The principal of a presented key; 401 when it is missing, unknown or revoked."""
    if not presented:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            detail="missing API key: send it in the X-API-Key header",
            headers={"WWW-Authenticate": "APIKey"},
        )
    verifier: KeyVerifier = app_state.key_verifier
    # a key lookup is one read: no transaction needed
    principal = await verifier.verify(app_state.autocommit_engine, presented)
    if principal is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            detail="invalid or revoked API key",
            headers={"WWW-Authenticate": "APIKey"},
        )
    return principal


async def current_principal(
    request: Request, presented: Annotated[str | None, Depends(api_key_header)]
) -> Principal:
    # The body guard (mlops_api.auth.body_guard) already checked the key of a request with a body.
    checked: Principal | None = getattr(request.state, "principal", None)
    if checked is not None:
        return checked
    return await authenticate(request.app.state, presented)


def role_permissions(app_state: Any, role: Role) -> frozenset[Permission]:
    """What `role` may do with this API's settings (ADMIN_MAY_APPROVE)."""
    return permissions_of(role, admin_may_approve=app_state.settings.admin_may_approve)


def require(permission: Permission) -> Callable[..., Awaitable[Principal]]:
    async def dependency(
        request: Request,
        principal: Annotated[Principal, Depends(current_principal)],
    ) -> Principal:
        if permission not in role_permissions(request.app.state, principal.role):
            may_approve = request.app.state.settings.admin_may_approve
            allowed = ", ".join(roles_with(permission, admin_may_approve=may_approve))
            raise HTTPException(
                status.HTTP_403_FORBIDDEN,
                detail=f"role '{principal.role}' may not {permission}; this needs one of: {allowed}",
            )
        return principal

    return dependency
