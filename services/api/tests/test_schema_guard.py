"""Schema only through migrations: the API refuses an un-migrated database, and the migrations
produce exactly the models' schema."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator

import pytest
from api_testkit import start_api
from sqlalchemy import create_engine, pool
from sqlalchemy.engine import make_url

from mlops_api.db import sync_url
from mlops_api.migrate import current_revision, head_revision, upgrade
from mlops_devstack.postgres import drop_database, scratch_database


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
