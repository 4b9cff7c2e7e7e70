"""Running and checking migrations from code (`make migrate`, `mlops-api migrate`, `serve --migrate`,
the API's start-up check)."""

from __future__ import annotations

import logging
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, text
from sqlalchemy.ext.asyncio import AsyncEngine

from mlops_api.db import Database, DatabaseTarget, sync_engine

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
# The advisory lock every migrating process takes: an arbitrary key ("mlops_db"), the same everywhere.
MIGRATION_LOCK = 0x6D6C6F70735F6462

log = logging.getLogger(__name__)


class SchemaNotCurrent(RuntimeError):
    pass


def alembic_config(database: Database) -> Config:
    target = DatabaseTarget.of(database)
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    url = target.url.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    # env.py connects through the target: its credentials may be a secret's, not in the URL.
    config.attributes["database"] = target
    return config


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config("postgresql://x/y")).get_current_head()
    assert head is not None
    return head


def upgrade(database: Database, revision: str = "head") -> str | None:
    """Upgrade under a PostgreSQL advisory lock, so that instances starting together migrate once:
    the first one migrates, the others wait for it and find nothing left to do. Returns the
    revision the database was at once the lock was held."""
    target = DatabaseTarget.of(database)
    engine = sync_engine(target)
    try:
        # No pool: closing this connection ends the session, which releases the lock (on error too).
        with engine.connect() as connection:
            _wait_for_lock(connection)
            before = MigrationContext.configure(connection).get_current_revision()
            connection.commit()  # the session-level lock stays; Alembic runs its own transaction
            config = alembic_config(target)
            config.attributes["connection"] = connection
            command.upgrade(config, revision)
            return before
    finally:
        engine.dispose()


def _wait_for_lock(connection: Connection) -> None:
    key = {"key": MIGRATION_LOCK}
    if not connection.execute(text("SELECT pg_try_advisory_lock(:key)"), key).scalar():
        log.info("another process is migrating the database: waiting for it to finish")
        connection.execute(text("SELECT pg_advisory_lock(:key)"), key)


def current_revision(database: Database) -> str | None:
    engine = sync_engine(database)
    try:
        with engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()
    finally:
        engine.dispose()


async def ensure_schema_current(engine: AsyncEngine) -> None:
    """Refuse to serve on a database whose schema is not the one this code was written for."""
    async with engine.connect() as connection:
        current = await connection.run_sync(
            lambda sync: MigrationContext.configure(sync).get_current_revision()
        )
    expected = head_revision()
    if current != expected:
        state = "not migrated (no schema)" if current is None else f"at revision {current}"
        raise SchemaNotCurrent(
            f"database schema is {state}, this API needs revision {expected}: run `make migrate` "
            "(or `mlops-api migrate`) against DATABASE_URL first, or start with `mlops-api serve "
            "--migrate` (MIGRATE_ON_START=true)"
        )
