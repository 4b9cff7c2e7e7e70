"""Production's database settings: no DATABASE_URL, the credentials in the RDS-managed secret, which
RDS rotates. Against a real PostgreSQL that checks passwords and the emulator's Secrets Manager."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from mlops_api import db_credentials
from mlops_api.config import Settings
from mlops_api.db import DatabaseUrlError, create_engine, sync_engine
from mlops_api.migrate import current_revision, head_revision
from mlops_contracts.aws import aws_client
from mlops_devstack.emulator import Emulator
from mlops_testkit.api import libpq, start_api

# Roles in this group must log in with their password, even where the test server trusts the rest.
PASSWORD_GROUP = "mlops_password_auth"


@pytest.fixture(scope="session")
def password_auth(pg_admin_url: str) -> Iterator[None]:
    """Make PostgreSQL check the passwords of PASSWORD_GROUP's members. The embedded server trusts
    every local connection: a pg_hba.conf line for the group goes first while the tests run."""
    with psycopg.connect(libpq(pg_admin_url), autocommit=True) as admin:
        admin.execute(f"DROP ROLE IF EXISTS {PASSWORD_GROUP}")
        admin.execute(f"CREATE ROLE {PASSWORD_GROUP} NOLOGIN")
        hba = Path(str(admin.execute("SHOW hba_file").fetchone()[0]))
        original = hba.read_text() if hba.is_file() else None
        if original is not None:
            lines = [
                f"{kind} all +{PASSWORD_GROUP} {'all ' if kind == 'host' else ''}scram-sha-256\n"
                for kind in ("local", "host")
            ]
            hba.write_text("".join(lines) + original)
            admin.execute("SELECT pg_reload_conf()")
        try:
            yield
        finally:
            if original is not None:
                hba.write_text(original)
                admin.execute("SELECT pg_reload_conf()")
            admin.execute(f"DROP ROLE IF EXISTS {PASSWORD_GROUP}")


@dataclass
class PasswordRole:
    name: str
    database: str
    admin_url: str
    secret_arn: str

    def rotate(self, password: str) -> None:
        """What RDS's rotation does: a new password in PostgreSQL, then in the secret."""
        with psycopg.connect(libpq(self.admin_url), autocommit=True) as admin:
            admin.execute(f"ALTER ROLE {self.name} PASSWORD '{password}'")
        aws_client("secretsmanager").put_secret_value(
            SecretId=self.secret_arn, SecretString=json.dumps({"username": self.name, "password": password})
        )

    def env(self) -> dict[str, str]:
        url = make_url(self.admin_url)
        return {
            "DATABASE_URL": "",
            "DATABASE_HOST": url.host or str(url.query["host"]),  # the embedded server: a socket dir
            "DATABASE_PORT": str(url.port or 5432),
            "DATABASE_NAME": self.database,
            "DATABASE_SECRET_ARN": self.secret_arn,
        }

    def settings(self) -> Settings:
        return Settings(**self.env())


@pytest.fixture
def password_role(pg_admin_url: str, password_auth: None, emulator: Emulator) -> Iterator[PasswordRole]:
    """A login role with a password, owning an empty database, its credentials in a secret."""
    name = f"mlops_app_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(libpq(pg_admin_url), autocommit=True) as admin:
        admin.execute(f"CREATE ROLE {name} LOGIN PASSWORD 'first-password' IN ROLE {PASSWORD_GROUP}")
        admin.execute(f'CREATE DATABASE "{name}" OWNER {name}')
    secret = aws_client("secretsmanager").create_secret(
        Name=f"rds!db-{uuid.uuid4()}",
        SecretString=json.dumps({"username": name, "password": "first-password"}),
    )
    role = PasswordRole(name, name, pg_admin_url, secret["ARN"])
    url = make_url(pg_admin_url).set(username=name, password="wrong", database=name)
    with pytest.raises(psycopg.OperationalError):  # the server really checks this role's password
        psycopg.connect(libpq(url.render_as_string(hide_password=False))).close()
    yield role
    with psycopg.connect(libpq(pg_admin_url), autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f"DROP ROLE IF EXISTS {name}")


@pytest.fixture
def secret_reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The secret ids read for database credentials, in order (the reads themselves still happen)."""
    reads: list[str] = []
    real = db_credentials.read_secret

    def counting(secret_id: str) -> str:
        reads.append(secret_id)
        return real(secret_id)

    monkeypatch.setattr(db_credentials, "read_secret", counting)
    return reads


def test_new_connections_follow_a_rotation_without_a_restart(
    password_role: PasswordRole, secret_reads: list[str]
) -> None:
    target = password_role.settings().database_target()
    engine = create_engine(target, pool_size=1)

    async def whoami() -> Any:
        async with engine.connect() as connection:
            return (await connection.execute(text("SELECT current_user"))).scalar()

    async def scenario() -> None:
        assert await whoami() == password_role.name
        assert await whoami() == password_role.name  # the pooled connection: no new read
        assert secret_reads == [password_role.secret_arn]

        password_role.rotate("second-password")
        assert await whoami() == password_role.name  # open connections outlive the rotation
        assert len(secret_reads) == 1

        await engine.dispose()  # the next connection is a new login, with the cached (old) password
        assert await whoami() == password_role.name  # refused, the secret read again, retried
        assert secret_reads == [password_role.secret_arn] * 2
        await engine.dispose()

    asyncio.run(scenario())
    # The migration engine shares the target's cache: it logs in with the new password at once.
    with sync_engine(target).connect() as connection:
        assert connection.execute(text("SELECT current_user")).scalar() == password_role.name
    assert len(secret_reads) == 2


def test_a_wrong_secret_still_fails_after_one_reread(
    password_role: PasswordRole, secret_reads: list[str]
) -> None:
    target = password_role.settings().database_target()
    with psycopg.connect(libpq(password_role.admin_url), autocommit=True) as admin:
        admin.execute(f"ALTER ROLE {password_role.name} PASSWORD 'not-in-the-secret'")
    with pytest.raises(Exception, match="password authentication failed"):
        sync_engine(target).connect()
    assert len(secret_reads) == 2  # the first login, then one re-read: no loop


def test_serve_migrates_an_empty_database_with_the_secrets_credentials(
    password_role: PasswordRole, tmp_path: Path
) -> None:
    """Production's start: DATABASE_HOST/NAME/SECRET_ARN and MIGRATE_ON_START, nothing migrated yet."""
    server = start_api("", str(tmp_path), MIGRATE_ON_START="true", **password_role.env())
    try:
        assert httpx.get(f"{server.base_url}/openapi.json", timeout=10).status_code == 200
    finally:
        server.stop()
    assert "database migrated: empty -> " in server.log()
    assert current_revision(password_role.settings().database_target()) == head_revision()


@pytest.mark.integration  # runs the API's CLI
def test_incomplete_settings_say_what_is_missing() -> None:
    partial = Settings(DATABASE_URL="", DATABASE_HOST="db.internal", DATABASE_NAME="", DATABASE_SECRET_ARN="")
    with pytest.raises(DatabaseUrlError, match=r"missing: DATABASE_NAME, DATABASE_SECRET_ARN"):
        partial.database_target()
    with pytest.raises(DatabaseUrlError, match="no database configured: set DATABASE_URL"):
        Settings(DATABASE_URL="", DATABASE_HOST="", DATABASE_SECRET_ARN="").database_target()
    # DATABASE_URL wins: local development and tests are unchanged.
    mixed = Settings(DATABASE_URL="postgresql://u:p@h/d", DATABASE_HOST="db.internal")
    assert mixed.database_target().credentials is None
    result = subprocess.run(
        [sys.executable, "-m", "mlops_api", "migrate"],
        env={**os.environ, "DATABASE_URL": "", "DATABASE_HOST": "db.internal", "DATABASE_NAME": "mlops"},
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2
    assert "missing: DATABASE_SECRET_ARN" in result.stderr
    assert "Traceback" not in result.stderr
