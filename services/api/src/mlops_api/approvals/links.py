"""Signed approval links (docs/decisions/0008-security.md): bound to the run, the approval and the
decision, expiring with the approval's timeout, single use (the approval they decide is decided once).

The signing key is APPROVAL_SIGNING_KEY or, in production, the Secrets Manager secret
APPROVAL_SIGNING_SECRET_ID (cached for a few minutes, so a rotated key is picked up)."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from itsdangerous import BadSignature, URLSafeSerializer

from mlops_api.config import Settings
from mlops_api.errors import Forbidden, Gone, Unavailable
from mlops_contracts.secrets import read_secret

log = logging.getLogger(__name__)

SALT = "mlops.approval-link.v1"
MIN_KEY_LENGTH = 32
Decision = Literal["approve", "reject"]


@dataclass(frozen=True)
class LinkClaims:
    run_id: int
    approval_id: int
    decision: Decision
    nonce: str
    expires_at: datetime


class SigningKeys:
    """Resolves the signing key on first use (not at start-up: the rest of the API works without
    it) and says clearly what to configure when there is none."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._cached: tuple[str, float] | None = None
        self._lock = asyncio.Lock()

    def _missing(self, why: str) -> Unavailable:
        return Unavailable(
            f"approval links are unavailable: {why}. Set APPROVAL_SIGNING_KEY (at least "
            f"{MIN_KEY_LENGTH} characters, e.g. `openssl rand -hex 32`) or put the key in the Secrets "
            "Manager secret named by APPROVAL_SIGNING_SECRET_ID"
        )

    async def get(self) -> str:
        direct = self._settings.approval_signing_key
        if direct is not None:
            return direct.get_secret_value()
        secret_id = self._settings.approval_signing_secret_id
        if not secret_id:
            raise self._missing("no signing key is configured")
        async with self._lock:
            if self._cached is not None and time.monotonic() < self._cached[1]:
                return self._cached[0]
            try:
                value = await asyncio.to_thread(self._fetch, secret_id)
            except Exception as exc:  # any failure: the links stay unavailable, the API stays up
                code = getattr(exc, "response", {}).get("Error", {}).get("Code") or type(exc).__name__
                log.warning("approval signing key: secret '%s' unreadable: %s", secret_id, code)
                raise self._missing(f"the secret '{secret_id}' cannot be read ({code})") from exc
            if len(value) < MIN_KEY_LENGTH:
                raise self._missing(f"the secret '{secret_id}' holds a key shorter than {MIN_KEY_LENGTH}")
            self._cached = (value, time.monotonic() + self._settings.approval_signing_key_cache_seconds)
            return value

    def _fetch(self, secret_id: str) -> str:
        return read_secret(secret_id, region=self._settings.aws_region, max_attempts=2).strip()


def sign(key: str, claims: LinkClaims) -> str:
    payload = {
        "r": claims.run_id,
        "a": claims.approval_id,
        "d": claims.decision,
        "n": claims.nonce,
        "e": int(claims.expires_at.timestamp()),
    }
    return URLSafeSerializer(key, salt=SALT).dumps(payload)


def verify(key: str, token: str, *, run_id: int, now: datetime | None = None) -> LinkClaims:
    """The claims of an authentic, unexpired link for this run. Forged or altered: Forbidden;
    expired: Gone. Whether it is still unused is the approval's state (the caller checks)."""
    try:
        payload = URLSafeSerializer(key, salt=SALT).loads(token)
    except BadSignature as exc:
        raise Forbidden(
            "this approval link is not valid: it was not issued by this platform or was altered"
        ) from exc
    try:
        claims = LinkClaims(
            run_id=int(payload["r"]),
            approval_id=int(payload["a"]),
            decision=_decision(payload["d"]),
            nonce=str(payload["n"]),
            expires_at=datetime.fromtimestamp(int(payload["e"]), UTC),
        )
    except (KeyError, TypeError, ValueError) as exc:  # signed by us, but not a link
        raise Forbidden("this approval link is not valid") from exc
    if claims.run_id != run_id:
        raise Forbidden("this approval link is not valid for this run")
    if (now or datetime.now(UTC)) >= claims.expires_at:
        raise Gone(
            f"this approval link expired at {claims.expires_at:%Y-%m-%d %H:%M} UTC: "
            "the approval timed out and nothing can be decided with it"
        )
    return claims


def _decision(value: object) -> Decision:
    if value == "approve":
        return "approve"
    if value == "reject":
        return "reject"
    raise ValueError(f"unknown decision {value!r}")
