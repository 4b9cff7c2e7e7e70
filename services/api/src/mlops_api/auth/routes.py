from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request, status
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from mlops_api.auth.deps import current_principal, require, role_permissions
from mlops_api.auth.keys import Principal, create_key
from mlops_api.auth.models import ApiKey
from mlops_api.auth.roles import Permission, Role
from mlops_api.deps import get_session
from mlops_api.errors import Conflict, NotFound
from mlops_api.schemas import documented, error_responses

router = APIRouter(prefix="/api-keys", tags=["api keys"])

Session = Annotated[AsyncSession, Depends(get_session)]
Admin = Annotated[Principal, Depends(require(Permission.MANAGE_KEYS))]


_DOCS = documented(
    {
        "id": ("The key's id", 3),
        "key_id": ("The API key's id; null for a signed-in person", 3),
        "name": ("A name for people: who or what holds the key", "ci-evaluations"),
        "role": (
            "What the key may do: viewer, operator, approver, admin or a worker's service role",
            "operator",
        ),
        "key_prefix": (
            "The key's first characters, to recognise it (the key itself is never stored)",
            "mlk_3f1c9a52",
        ),
        "created_at": ("When it was created (RFC 3339)", "2026-12-07T04:00:00Z"),
        "revoked_at": ("When it was revoked (RFC 3339); null while it works", None),
        "key": (
            "The key itself: shown once, store it now",
            "mlk_3f1c9a52cwUX5-3l-nQimRL-XwQC7_hkA7tf5yJvBKsIVC",
        ),
        "subject": ("A signed-in person's subject (sub claim)", "4f1c2e0a-91b3-4c55-8d0e-7a6b5c4d3e2f"),
        "email": ("A signed-in person's e-mail", "jane@example.com"),
        "permissions": (
            "What this role may do",
            ["read runs and datasets", "launch runs", "upload datasets"],
        ),
    }
)


class ApiKeyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra=_DOCS)

    name: str = Field(min_length=1, max_length=128, pattern=r"^[\w][\w .@:-]*$")
    role: Role


class ApiKeyOut(BaseModel):
    model_config = ConfigDict(from_attributes=True, json_schema_extra=_DOCS)

    id: int
    name: str
    role: Role
    key_prefix: str
    created_at: datetime
    revoked_at: datetime | None


class ApiKeyCreated(ApiKeyOut):
    key: str = Field(description="The key itself: shown once, store it now")


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=ApiKeyCreated,
    responses=error_responses(400, 401, 403, 422),
)
async def create_api_key(body: ApiKeyCreate, session: Session, _: Admin) -> ApiKeyCreated:
    row, plain = await create_key(session, name=body.name, role=body.role)
    await session.commit()
    return ApiKeyCreated(**ApiKeyOut.model_validate(row).model_dump(), key=plain)


@router.get("", response_model=list[ApiKeyOut], responses=error_responses(401, 403))
async def list_api_keys(session: Session, _: Admin) -> list[ApiKeyOut]:
    rows = (await session.execute(select(ApiKey).order_by(ApiKey.id))).scalars().all()
    return [ApiKeyOut.model_validate(r) for r in rows]


@router.delete("/{key_id}", response_model=ApiKeyOut, responses=error_responses(401, 403, 404, 409, 422))
async def revoke_api_key(
    key_id: Annotated[int, Path(ge=1, le=2**63 - 1)], request: Request, session: Session, _: Admin
) -> ApiKeyOut:
    row = await session.get(ApiKey, key_id)
    if row is None:
        raise NotFound(f"API key {key_id} not found")
    if row.revoked_at is None and row.role == Role.ADMIN:
        await _keep_one_admin(session, key_id)
    if row.revoked_at is None:
        row.revoked_at = datetime.now(UTC)
        await session.commit()
    request.app.state.key_verifier.forget_all()
    return ApiKeyOut.model_validate(row)


async def _keep_one_admin(session: AsyncSession, revoking: int) -> None:
    """Refuse to revoke the last active admin key: nobody could create or revoke keys after it."""
    # FOR UPDATE on every active admin key: two concurrent revocations of the last two admins
    # are serialised, and the second one sees that only one is left.
    active = select(ApiKey.id).where(ApiKey.role == Role.ADMIN, ApiKey.revoked_at.is_(None)).with_for_update()
    others = [key for key in (await session.execute(active)).scalars() if key != revoking]
    if not others:
        raise Conflict(
            f"API key {revoking} is the last active admin key: create another admin key first "
            "(POST /api-keys or `mlops-api create-key --role admin`), then revoke this one"
        )


class WhoAmI(BaseModel):
    model_config = ConfigDict(json_schema_extra=_DOCS)

    key_id: int | None = Field(description="The API key's id; null for a signed-in person")
    name: str = Field(description="The key's name, or the signed-in person's e-mail (else subject)")
    role: Role
    subject: str | None = Field(default=None, description="A signed-in person's subject (sub claim)")
    email: str | None = Field(default=None, description="A signed-in person's e-mail")
    permissions: list[str] = Field(description="What this role may do")


me_router = APIRouter(tags=["api keys"])


@me_router.get(
    "/me",
    response_model=WhoAmI,
    responses=error_responses(401),
    summary="Who calls: the API key or signed-in person, with role and permissions",
)
async def who_am_i(request: Request, principal: Annotated[Principal, Depends(current_principal)]) -> WhoAmI:
    allowed = role_permissions(request.app.state, principal.role)
    return WhoAmI(
        key_id=principal.key_id,
        name=principal.name,
        role=principal.role,
        subject=principal.subject,
        email=principal.email,
        permissions=[p.value for p in Permission if p in allowed],
    )
