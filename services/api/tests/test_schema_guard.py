"""Schema only through migrations: the API refuses an un-migrated database, and the migrations
produce exactly the models' schema."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import psycopg
import pytest
from sqlalchemy import create_engine, pool
from sqlalchemy.engine import make_url

from mlops_api.db import sync_url
from mlops_api.migrate import MIGRATION_LOCK, current_revision, head_revision, upgrade
from mlops_devstack.postgres import drop_database, scratch_database
from mlops_testkit.api import libpq, start_api


@pytest.fixture
def empty_database(pg_admin_url: str) -> Iterator[str]:
    url = scratch_database(pg_admin_url, "empty")
    yield url
    drop_database(pg_admin_url, make_url(url).database or "")


def test_api_refuses_to_start_unmigrated(empty_database: str, tmp_path: str) -> None:
    with pytest.raises(RuntimeError) as info:
        start_api(empty_database, str(tmp_path))
    message = str(info.value)
    assert "database schema is not migrated" in message
    assert "make migrate" in message


def test_cli_says_what_to_do_on_an_unmigrated_database(empty_database: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "mlops_api", "create-key", "--name", "x"],
        env={**os.environ, "DATABASE_URL": empty_database},
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2
    assert "make migrate" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.integration  # runs the API's CLI
def test_non_postgres_urls_are_refused() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "mlops_api", "migrate"],
        env={**os.environ, "DATABASE_URL": "sqlite:///x.db"},
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2
    assert "PostgreSQL only" in result.stderr


def test_migrations_match_the_models_and_downgrade(empty_database: str) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    from mlops_api.models import Base

    upgrade(empty_database)
    assert current_revision(empty_database) == head_revision()
    engine = create_engine(sync_url(empty_database), poolclass=pool.NullPool)
    with engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    engine.dispose()
    assert diff == []
    from alembic import command

    from mlops_api.migrate import alembic_config

    command.downgrade(alembic_config(empty_database), "base")
    assert current_revision(empty_database) is None
    upgrade(empty_database)
    assert current_revision(empty_database) == head_revision()


def test_instances_starting_together_migrate_once(empty_database: str) -> None:
    """Two upgrades at once (two API instances starting with MIGRATE_ON_START): one migrates, the
    other waits on the advisory lock, then finds the schema at head."""
    with psycopg.connect(libpq(empty_database), autocommit=True) as holder, ThreadPoolExecutor(2) as executor:
        # Hold the lock first, so that both upgrades are certainly waiting at the same time.
        holder.execute("SELECT pg_advisory_lock(%s)", (MIGRATION_LOCK,))
        upgrades = [executor.submit(upgrade, empty_database) for _ in range(2)]
        time.sleep(1.0)
        assert not any(u.done() for u in upgrades), "an upgrade ran without the lock"
        assert current_revision(empty_database) is None
        holder.execute("SELECT pg_advisory_unlock(%s)", (MIGRATION_LOCK,))
        before = sorted((u.result(timeout=120) or "" for u in upgrades), key=len)
    assert before == ["", head_revision()]  # one found an empty database, the other a migrated one
    assert current_revision(empty_database) == head_revision()


def test_migrate_command_says_when_there_is_nothing_to_do(empty_database: str) -> None:
    def migrate() -> str:
        result = subprocess.run(
            [sys.executable, "-m", "mlops_api", "migrate"],
            env={**os.environ, "DATABASE_URL": empty_database},
            capture_output=True,
            text=True,
        )
        assert result.returncode == 0, result.stderr
        return result.stdout

    assert f"database migrated: empty -> {head_revision()}" in migrate()
    assert f"database already at {head_revision()}" in migrate()
