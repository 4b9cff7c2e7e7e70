"""FastAPI dependencies for authentication (401) and authorization (403): an API key (X-API-Key)
or a person signed in at the load balancer (mlops_api.auth.identity)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import APIKeyHeader

from mlops_api.auth.identity import (
    IdentityRefused,
    IdentityVerifier,
    KeyUnavailable,
    describe,
    presented_token,
)
from mlops_api.auth.keys import KeyVerifier, Principal
from mlops_api.auth.roles import Permission, Role, permissions_of, roles_with

api_key_header = APIKeyHeader(
    name="X-API-Key", auto_error=False, description="An API key created by `mlops-api create-key`"
)


async def authenticate(app_state: Any, presented: str | None, identity: str | None = None) -> Principal:
    """The principal of a request: a valid API key or a valid signed identity of our load balancer,
    never both and never a header that merely looks like one; 401 otherwise (403: a person whose
    groups map to no role)."""
    if presented and identity:
        raise _unauthorized("send either an API key or a signed-in identity, not both")
    if identity:
        return await authenticate_person(app_state, identity)
    if not presented:
        raise _unauthorized("missing API key: send it in the X-API-Key header")
    verifier: KeyVerifier = app_state.key_verifier
    # a key lookup is one read: no transaction needed
    principal = await verifier.verify(app_state.autocommit_engine, presented)
    if principal is None:
        raise _unauthorized("invalid or revoked API key")
    return principal


async def authenticate_person(app_state: Any, token: str) -> Principal:
    """A person from the ALB's signed identity header (mlops_api.auth.identity)."""
    verifier: IdentityVerifier | None = getattr(app_state, "identity_verifier", None)
    if verifier is None:
        raise _unauthorized("signed-in identities are not accepted here (OIDC_ALB_ARN is not set)")
    try:
        person = await verifier.verify(token)
    except IdentityRefused as exc:
        raise _unauthorized(str(exc)) from None
    except KeyUnavailable as exc:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, detail=str(exc)) from None
    role = verifier.role_of(person)
    who = person.email or person.subject
    if role is None:
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            detail=f"{who} is signed in, but none of their groups ({describe(person.groups)}) grants a "
            "role here: ask an admin to add you to a group OIDC_ROLE_GROUPS maps",
        )
    return Principal(key_id=None, name=who, role=role, subject=person.subject, email=person.email)


def presented_identity(request: Request) -> str | None:
    """The request's signed identity: the ALB's header (or, in development, the sign-in cookie)."""
    return presented_token(request.headers, request.cookies, request.app.state.settings.oidc_dev_cookie)


def _unauthorized(detail: str) -> HTTPException:
    return HTTPException(status.HTTP_401_UNAUTHORIZED, detail=detail, headers={"WWW-Authenticate": "APIKey"})


async def current_principal(
    request: Request, presented: Annotated[str | None, Depends(api_key_header)]
) -> Principal:
    # The body guard (mlops_api.auth.body_guard) already checked the key of a request with a body.
    checked: Principal | None = getattr(request.state, "principal", None)
    if checked is not None:
        return checked
    return await authenticate(request.app.state, presented, presented_identity(request))


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
