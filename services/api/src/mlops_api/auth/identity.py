"""People signed in at the load balancer: the ALB's signed identity header, verified here.

Behind the Application Load Balancer's `authenticate-oidc` action every request of a signed-in
person carries `x-amzn-oidc-data`: the person's claims (the IdP's user info) as a JWT that the ALB
signs with ES256. AWS's "user claims encoding and signature verification" says how to trust it:

- the JWT header names `kid`, `signer` (the ARN of the ALB that signed it) and `exp`; `signer` must
  be our ALB, or a token minted by any other ALB (anyone can create one) would be accepted;
- the public key of `kid` is PEM at `https://public-keys.auth.elb.{region}.amazonaws.com/{kid}`;
  a key never changes for its `kid`, so it is cached;
- the ALB pads its base64url segments with `=` (the JWT RFC omits them); PyJWT accepts both.

PyJWT (with `cryptography`) verifies the signature, only with ES256: `alg: none`, an HMAC "signed"
with the public key and a missing signature are all refused. The API verifies the header itself
rather than trusting that only the ALB can reach it (docs/decisions/0017-people-signed-in-at-the-load-balancer.md).

Roles of people come from a group claim, mapped in configuration (OIDC_ROLE_GROUPS).
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import aiohttp
import jwt
from cachetools import TTLCache
from jwt.utils import base64url_decode

from mlops_api.auth.roles import Role

IDENTITY_HEADER = "x-amzn-oidc-data"
# The roles a group may grant: people's roles, never a worker's.
PEOPLE_ROLES = (Role.ADMIN, Role.APPROVER, Role.OPERATOR, Role.VIEWER)
# A person in several mapped groups gets the first of these (one role per principal, as for keys).
ROLE_PRECEDENCE = PEOPLE_ROLES
# AWS's key ids are UUIDs; anything outside this alphabet never reaches a URL.
_KID = re.compile(r"^[A-Za-z0-9_-]{1,128}$")
MAX_TOKEN_BYTES = 16 * 1024  # the ALB refuses claims over 11 KB; a bigger header is not its


class IdentityRefused(Exception):
    """The header is not a valid signed identity of our load balancer (401)."""


class KeyUnavailable(Exception):
    """The public key could not be fetched (503: nobody is authenticated on a guess)."""


@dataclass(frozen=True)
class Person:
    subject: str
    email: str | None
    name: str | None
    groups: tuple[str, ...]


def _segment_json(segment: str, what: str) -> dict[str, Any]:
    try:
        value = json.loads(base64url_decode(segment))
    except (ValueError, UnicodeDecodeError) as exc:
        raise IdentityRefused(f"the identity token's {what} is not base64url JSON") from exc
    if not isinstance(value, dict):
        raise IdentityRefused(f"the identity token's {what} is not a JSON object")
    return value


def _groups(value: object) -> tuple[str, ...]:
    """A group claim as IdPs send it: a list, or one string of space- or comma-separated names."""
    if isinstance(value, str):
        return tuple(g for g in re.split(r"[,\s]+", value) if g)
    if isinstance(value, list):
        return tuple(str(g) for g in value if isinstance(g, str | int))
    return ()


class PublicKeys:
    """The ALB's public keys by `kid`, fetched from `base_url/{kid}` and kept (a key never changes
    for its kid). Concurrent first requests for one kid share one fetch."""

    def __init__(self, base_url: str, *, timeout: float = 5.0, max_keys: int = 64) -> None:
        self.base_url = base_url.rstrip("/")
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._keys: TTLCache[str, str] = TTLCache(maxsize=max_keys, ttl=24 * 3600)
        self._unknown: TTLCache[str, bool] = TTLCache(maxsize=1024, ttl=60)  # no refetch storm
        self._locks: dict[str, asyncio.Lock] = {}

    async def get(self, kid: str) -> str:
        if (pem := self._keys.get(kid)) is not None:
            return pem
        if kid in self._unknown:
            raise IdentityRefused(f"no public key for the identity token's kid {kid!r}")
        lock = self._locks.setdefault(kid, asyncio.Lock())
        try:
            async with lock:
                if (pem := self._keys.get(kid)) is not None:
                    return pem
                pem = await self._fetch(kid)
                self._keys[kid] = pem
                return pem
        finally:  # made-up kids must not grow the table of locks
            self._locks.pop(kid, None)

    async def _fetch(self, kid: str) -> str:
        url = f"{self.base_url}/{kid}"
        try:
            async with (
                aiohttp.ClientSession(timeout=self._timeout) as session,
                session.get(url) as response,
            ):
                body = await response.text()
                status = response.status
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise KeyUnavailable(f"the load balancer's public key could not be fetched from {url}") from exc
        if status in (403, 404):
            self._unknown[kid] = True
            raise IdentityRefused(f"no public key for the identity token's kid {kid!r}")
        if status != 200 or "BEGIN PUBLIC KEY" not in body:
            raise KeyUnavailable(f"{url} answered {status} without a PEM public key")
        return body


class IdentityVerifier:
    """Verifies `x-amzn-oidc-data` and maps the person's groups to a role."""

    def __init__(
        self,
        *,
        alb_arn: str,
        keys: PublicKeys,
        role_groups: Mapping[str, Role],
        groups_claim: str = "groups",
        leeway_seconds: float = 0.0,
    ) -> None:
        self.alb_arn = alb_arn
        self.keys = keys
        self.role_groups = dict(role_groups)
        self.groups_claim = groups_claim
        self.leeway_seconds = leeway_seconds

    async def verify(self, token: str) -> Person:
        if len(token) > MAX_TOKEN_BYTES:
            raise IdentityRefused("the identity token is too large")
        parts = token.split(".")
        if len(parts) != 3 or not all(parts):
            raise IdentityRefused("the identity token is not a signed JWT (header.payload.signature)")
        header = _segment_json(parts[0], "header")
        if header.get("alg") != "ES256":
            raise IdentityRefused(f"the identity token must be signed ES256, not {header.get('alg')!r}")
        if header.get("signer") != self.alb_arn:
            raise IdentityRefused("the identity token was not signed by this platform's load balancer")
        kid = header.get("kid")
        if not isinstance(kid, str) or not _KID.fullmatch(kid):
            raise IdentityRefused("the identity token's header has no valid kid")
        pem = await self.keys.get(kid)
        try:
            # the payload's exp too, where the IdP's claims carry one
            claims = jwt.decode(token, pem, algorithms=["ES256"], leeway=self.leeway_seconds)
        except jwt.ExpiredSignatureError as exc:
            raise IdentityRefused("the identity token has expired: sign in again") from exc
        except jwt.InvalidTokenError as exc:
            raise IdentityRefused(f"the identity token's signature is not valid ({exc})") from exc
        expires = header.get("exp")  # the ALB's own expiry is in the JWT header
        if not isinstance(expires, int | float) or isinstance(expires, bool):
            raise IdentityRefused("the identity token's header has no exp")
        if expires + self.leeway_seconds < time.time():
            raise IdentityRefused("the identity token has expired: sign in again")
        subject = claims.get("sub")
        if not isinstance(subject, str) or not subject:
            raise IdentityRefused("the identity token names no subject (sub)")
        email, name = claims.get("email"), claims.get("name")
        return Person(
            subject=subject,
            email=email if isinstance(email, str) and email else None,
            name=name if isinstance(name, str) and name else None,
            groups=_groups(claims.get(self.groups_claim)),
        )

    def role_of(self, person: Person) -> Role | None:
        """The first of admin, approver, operator, viewer that one of the person's groups maps to."""
        granted = {self.role_groups[g] for g in person.groups if g in self.role_groups}
        return next((role for role in ROLE_PRECEDENCE if role in granted), None)


def parse_role_groups(value: str | Mapping[str, str]) -> dict[str, Role]:
    """OIDC_ROLE_GROUPS: a JSON object of group -> role (viewer, operator, approver or admin)."""
    raw: object = json.loads(value) if isinstance(value, str) else dict(value)
    if not isinstance(raw, dict):
        raise ValueError(
            'OIDC_ROLE_GROUPS must be a JSON object of group -> role, e.g. {"mlops-approvers": "approver"}'
        )
    allowed = ", ".join(r.value for r in PEOPLE_ROLES)
    mapping: dict[str, Role] = {}
    for group, role in raw.items():
        if role not in {r.value for r in PEOPLE_ROLES}:
            raise ValueError(
                f"OIDC_ROLE_GROUPS maps group {group!r} to {role!r}: a person's role is one of {allowed}"
            )
        mapping[str(group)] = Role(role)
    return mapping


def presented_token(headers: Mapping[str, str], cookies: Mapping[str, str], dev_cookie: str) -> str | None:
    """The identity a request presents: the ALB's header, or (development only, where DEV cookie
    names one) the cookie the local sign-in page set - verified the same way."""
    token = headers.get(IDENTITY_HEADER)
    if token:
        return token
    if dev_cookie:
        return cookies.get(dev_cookie) or None
    return None


def cookie_values(raw: str) -> dict[str, str]:
    """Cookies of a `Cookie` header (the body guard sees raw headers)."""
    from http.cookies import SimpleCookie

    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(raw)
    except Exception:  # a malformed Cookie header presents no cookie
        return {}
    return {name: morsel.value for name, morsel in jar.items()}


def describe(groups: Sequence[str]) -> str:
    return ", ".join(groups) if groups else "no groups"
