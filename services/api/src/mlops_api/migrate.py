"""Running and checking migrations from code (`make migrate`, the API's start-up check)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, pool
from sqlalchemy.ext.asyncio import AsyncEngine

from mlops_api.db import sync_url

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


class SchemaNotCurrent(RuntimeError):
    pass


def alembic_config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option(
        "sqlalchemy.url", sync_url(database_url).render_as_string(hide_password=False).replace("%", "%%")
    )
    return config


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config("postgresql://x/y")).get_current_head()
    assert head is not None
    return head


def upgrade(database_url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(database_url), revision)


def current_revision(database_url: str) -> str | None:
    engine = create_engine(sync_url(database_url), poolclass=pool.NullPool)
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
            "(or `mlops-api migrate`) against DATABASE_URL first"
        )
