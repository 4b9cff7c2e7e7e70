"""Database engine and sessions. PostgreSQL only: asyncpg for the API, psycopg for Alembic."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import ClauseElement, DateTime, Engine, MetaData, func, pool
from sqlalchemy import create_engine as create_sync_engine
from sqlalchemy.dialects.postgresql import asyncpg as asyncpg_dialect
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.sql.compiler import SQLCompiler

from mlops_api.db_credentials import SecretCredentials, authenticate_with

# Deterministic constraint names, so Alembic migrations can refer to them.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class CreatedAtMixin:
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), nullable=False
    )


class DatabaseUrlError(ValueError):
    pass


def _parse(url: str) -> URL:
    if not url:
        raise DatabaseUrlError("DATABASE_URL is empty: set it, or start the stack with `make dev`")
    parsed = make_url(url)
    if parsed.get_backend_name() != "postgresql":
        raise DatabaseUrlError(
            f"DATABASE_URL must be a postgresql:// URL, got '{parsed.get_backend_name()}://' "
            "(the platform runs on PostgreSQL only)"
        )
    return parsed


def sync_url(url: str) -> URL:
    return _parse(url).set(drivername="postgresql+psycopg")


@dataclass(frozen=True)
class DatabaseTarget:
    """Where the database is and how to log in: with the URL's own user and password, or (in
    production) with those of a Secrets Manager secret, which `credentials` reads."""

    url: URL
    credentials: SecretCredentials | None = None

    @classmethod
    def of(cls, database: Database) -> DatabaseTarget:
        return database if isinstance(database, DatabaseTarget) else cls(_parse(database))

    def apply_credentials(self, engine: Engine) -> None:
        if self.credentials is not None:
            authenticate_with(engine, self.credentials)


# A plain DATABASE_URL, or a target built from the settings (`Settings.database_target()`).
Database = str | DatabaseTarget


def sync_engine(database: Database) -> Engine:
    """A psycopg engine without a pool, for Alembic and one-off checks."""
    target = DatabaseTarget.of(database)
    engine = create_sync_engine(target.url.set(drivername="postgresql+psycopg"), poolclass=pool.NullPool)
    target.apply_credentials(engine)
    return engine


# orjson is several times faster than the json module, but not a drop-in: it refuses integers
# beyond 64 bits, non-str keys and lone surrogates (json.dumps writes them), and it reads integers
# beyond 64 bits as floats. Those rare values keep the json module's exact behaviour.
_INTEGER_LIMIT_DIGITS = b"0" * 20  # 2**64 has 20 digits: shorter integers are exact in orjson
# maps ASCII digits to "0" and every other byte to " ": a long integer becomes a run of zeros,
# found at C speed (a regular expression takes several times longer than orjson's parse)
_DIGITS_TO_ZEROS = bytes(ord("0") if ord("0") <= b <= ord("9") else ord(" ") for b in range(256))


def json_text(value: Any) -> str:
    """JSON text as the engine writes JSON columns (orjson, with the json module's fallback)."""
    try:
        return orjson.dumps(value).decode()
    except TypeError:
        return json.dumps(value)


def _json_loads(text: str) -> Any:
    if _INTEGER_LIMIT_DIGITS not in text.encode().translate(_DIGITS_TO_ZEROS):
        try:
            return orjson.loads(text)
        except orjson.JSONDecodeError:  # e.g. 1e400: out of a double's range
            pass
    return json.loads(text)


def create_engine(database: Database, *, pool_size: int = 20) -> AsyncEngine:
    """At most `pool_size` connections per process, all kept open: keep workers * pool_size under
    PostgreSQL's max_connections (100 by default)."""
    target = DatabaseTarget.of(database)
    engine = create_async_engine(
        target.url.set(drivername="postgresql+asyncpg"),
        pool_size=pool_size,
        # No overflow: an overflow connection is closed when it is returned, so a load just above
        # the pool size opened and closed connections all the time (25 a second under the bench:
        # a backend fork, type introspection and re-prepared statements each). A request that
        # finds every connection busy waits for one; each is held for one statement or so.
        max_overflow=0,
        # No pre-ping: it costs BEGIN + ping + ROLLBACK on every checkout. A connection that died
        # (a database restart) fails one request, and SQLAlchemy then invalidates the whole pool;
        # recycling bounds a connection's age below the usual idle timeouts of proxies.
        pool_pre_ping=False,
        pool_recycle=1800,
        json_serializer=json_text,
        json_deserializer=_json_loads,
    )
    target.apply_credentials(engine.sync_engine)
    return engine


@dataclass(frozen=True)
class DriverStatement:
    """A Core statement compiled once, executed on the asyncpg connection under a pooled one.

    For the two hottest requests only, POST and GET /runs. SQLAlchemy's path for each execution -
    the cache key of the whole statement tree, parameter processing, the execution context, result
    processing - cost more CPU than asyncpg's own work (profiled: 0.9 ms against 0.5 ms per run
    created). Parameters go as asyncpg takes them: JSON and JSONB values as JSON text
    (`json_text`). SQLAlchemy does not see these statements, so it opens no transaction around
    them: run them on an autocommit engine (`autocommit`), where each commits by itself."""

    sql: str
    names: tuple[str, ...]  # the parameters, in the order of the SQL's $1, $2...
    compiled_values: dict[str, Any]  # values compiled into the statement (literals)

    @classmethod
    def compile(cls, statement: ClauseElement) -> DriverStatement:
        compiled = statement.compile(dialect=asyncpg_dialect.dialect())  # type: ignore[no-untyped-call]
        assert isinstance(compiled, SQLCompiler)
        assert compiled.positiontup is not None  # asyncpg's parameters are positional
        return cls(str(compiled), tuple(compiled.positiontup), dict(compiled.params))

    async def fetch(self, connection: AsyncConnection, params: dict[str, Any]) -> list[Any]:
        """The rows: asyncpg Records (sequences of values that also answer to column names)."""
        rows: list[Any] = await (await _driver(connection)).fetch(self.sql, *self._values(params))
        return rows

    async def fetchrow(self, connection: AsyncConnection, params: dict[str, Any]) -> Mapping[str, Any] | None:
        """The first row (an asyncpg Record), or None."""
        row: Mapping[str, Any] | None = await (await _driver(connection)).fetchrow(
            self.sql, *self._values(params)
        )
        return row

    def _values(self, params: dict[str, Any]) -> list[Any]:
        values = {**self.compiled_values, **params}
        return [values[name] for name in self.names]


async def _driver(connection: AsyncConnection) -> Any:
    """The asyncpg connection under a checked-out SQLAlchemy one."""
    driver = (await connection.get_raw_connection()).driver_connection
    assert driver is not None  # checked out, so connected
    return driver


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


def autocommit(engine: AsyncEngine) -> AsyncEngine:
    """The same pool, with each statement committing on its own: no BEGIN and no COMMIT or
    ROLLBACK round trips. For reads, and for writes that are one statement (atomic by itself)."""
    return engine.execution_options(isolation_level="AUTOCOMMIT")


async def session_scope(factory: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    async with factory() as session:
        yield session
