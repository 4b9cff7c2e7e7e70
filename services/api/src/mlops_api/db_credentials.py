"""Database credentials from a Secrets Manager secret: in production the RDS-managed master secret
(JSON `{"username", "password"}`), which RDS rotates every 30 days.

The secret is read when a connection is opened, never per query, and cached. When PostgreSQL refuses
the cached password (a rotation happened), it is read again once and the connection retried: the API
follows a rotation without a restart, and connections already open are unaffected (a password
change does not end sessions). The read blocks (in the event loop, for the async engine): it happens
at the first connection and after a rotation only."""

from __future__ import annotations

import json
import logging
import threading
from dataclasses import dataclass
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Dialect, Engine
from sqlalchemy.pool import ConnectionPoolEntry

from mlops_contracts.secrets import read_secret

log = logging.getLogger(__name__)

SQLSTATE_INVALID_AUTH = "28P01"  # PostgreSQL's SQLSTATE for "password authentication failed"


class DatabaseSecretError(ValueError):
    pass


@dataclass(frozen=True)
class Credentials:
    username: str
    password: str


class SecretCredentials:
    """The cached content of one secret. Thread-safe: sync engines connect from several threads."""

    def __init__(self, secret_id: str) -> None:
        self.secret_id = secret_id
        self._lock = threading.Lock()
        self._cached: Credentials | None = None

    def current(self) -> Credentials:
        with self._lock:
            if self._cached is None:
                self._cached = self._read()
            return self._cached

    def refresh(self, refused: Credentials) -> Credentials:
        """Read the secret again, unless another connection already did since `refused` was read
        (connections refused together read it once)."""
        with self._lock:
            if self._cached is None or self._cached == refused:
                self._cached = self._read()
            return self._cached

    def _read(self) -> Credentials:
        try:
            value = json.loads(read_secret(self.secret_id))
            return Credentials(username=str(value["username"]), password=str(value["password"]))
        except (ValueError, KeyError, TypeError) as exc:
            raise DatabaseSecretError(
                f"the database secret '{self.secret_id}' is not JSON with a username and a password"
            ) from exc


def is_invalid_password(exc: BaseException) -> bool:
    # asyncpg's InvalidPasswordError carries the SQLSTATE; a psycopg connection error has only
    # libpq's message (libpq gives no SQLSTATE before a connection is made).
    if getattr(exc, "sqlstate", None) == SQLSTATE_INVALID_AUTH:
        return True
    return "password authentication failed" in str(exc)


def authenticate_with(engine: Engine, credentials: SecretCredentials) -> None:
    """Log every new connection of `engine` (the sync engine of an AsyncEngine too) in with the
    secret's credentials."""

    def connect(
        dialect: Dialect, record: ConnectionPoolEntry, cargs: tuple[Any, ...], cparams: dict[str, Any]
    ) -> Any:
        # A copy per attempt: SQLAlchemy shares `cparams` between all the engine's connections.
        used = credentials.current()
        try:
            return dialect.connect(*cargs, **{**cparams, "user": used.username, "password": used.password})
        except Exception as exc:
            if not is_invalid_password(exc):
                raise
        log.warning("the database refused the password: reading secret '%s' again", credentials.secret_id)
        fresh = credentials.refresh(used)
        return dialect.connect(*cargs, **{**cparams, "user": fresh.username, "password": fresh.password})

    event.listen(engine, "do_connect", connect)
