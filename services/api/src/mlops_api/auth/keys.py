"""API key creation and verification.

Keys are 256-bit random tokens, so a fast SHA-256 digest is enough to store them (a slow KDF
protects low-entropy passwords, not random tokens - the approach of GitHub's and Stripe's tokens).
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from cachetools import TTLCache
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from mlops_api.auth.models import ApiKey
from mlops_api.auth.roles import Role

KEY_PREFIX = "mlk_"


@dataclass(frozen=True)
class Principal:
    """Who calls: an API key (key_id), or a person signed in at the load balancer (subject, email;
    mlops_api.auth.identity). `name` is what records show: the key's name, or the person's e-mail."""

    key_id: int | None
    name: str
    role: Role
    subject: str | None = None
    email: str | None = None

    @property
    def is_person(self) -> bool:
        return self.subject is not None

    def audit_details(self) -> dict[str, str | int | None]:
        """Who decided, for an audit entry: the key's id, or the token's subject and e-mail."""
        if self.is_person:
            return {"identity": "oidc", "subject": self.subject, "email": self.email}
        return {"api_key_id": self.key_id}


def generate_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


async def create_key(session: AsyncSession, *, name: str, role: Role) -> tuple[ApiKey, str]:
    """Store a new key; the plain key is returned once and never stored."""
    plain = generate_key()
    row = ApiKey(name=name, role=role.value, key_prefix=plain[:12], key_hash=hash_key(plain))
    session.add(row)
    await session.flush()
    return row, plain


class KeyVerifier:
    """Resolves a presented key to its principal, caching hits for a short TTL so that a request
    does not pay a database round-trip for authentication."""

    def __init__(self, ttl_seconds: float) -> None:
        self._cache: TTLCache[str, Principal] | None = (
            TTLCache(maxsize=4096, ttl=ttl_seconds) if ttl_seconds > 0 else None
        )

    async def verify(self, engine: AsyncEngine, presented: str) -> Principal | None:
        """`engine` lends a connection only on a cache miss, for the one query."""
        digest = hash_key(presented)
        if self._cache is not None and (hit := self._cache.get(digest)) is not None:
            return hit
        query = select(ApiKey.id, ApiKey.name, ApiKey.role).where(
            ApiKey.key_hash == digest, ApiKey.revoked_at.is_(None)
        )
        async with engine.connect() as connection:
            row = (await connection.execute(query)).one_or_none()
        if row is None:
            return None
        principal = Principal(key_id=row.id, name=row.name, role=Role(row.role))
        if self._cache is not None:
            self._cache[digest] = principal
        return principal

    def forget_all(self) -> None:
        if self._cache is not None:
            self._cache.clear()
