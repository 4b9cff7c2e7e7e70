"""The local stack's own credentials, made on first start and kept in `.local/` (mode 0600):

- `admin-api-key`: the admin key printed by `make dev`;
- `projector-api-key`, `evaluator-api-key`, `approval-worker-api-key`, `trainer-api-key`: each worker's own key, of its
  own role, which the local runner gives it as `<ROLE>_API_KEY` (issue #23: one shared key could fake
  approvals);
- `approval-signing-key`: the key that signs approval links. It is put into the Secrets Manager secret
  `mlops/approval-signing-key` that terraform/envs/local declares, which is where the API reads it, as
  in production (docs/decisions/0008-security.md: no secret in code or in the Terraform state).

A key file that does not match the database (the database was removed, DATABASE_URL points elsewhere,
the key was revoked) is stale: a new key is made, with a message.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy.engine import make_url

APPROVAL_SIGNING_SECRET_ID = "mlops/approval-signing-key"  # noqa: S105 (a secret name, not a value)
MIN_SIGNING_KEY_LENGTH = 32


class LocalSecretError(RuntimeError):
    pass


def write_private(path: Path, value: str, *, append: bool = False) -> None:
    """Write (or append) `value` to a file only its owner may read, made so before the first byte."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600, exist_ok=True)
    path.chmod(0o600)
    if append:
        with path.open("a") as out:
            out.write(value)
    else:
        path.write_text(value + "\n")


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip() or None
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise LocalSecretError(
            f"cannot read {path} ({exc.strerror or exc}); `make clean` resets .local/"
        ) from exc


def key_role(database_url: str, key: str) -> str | None:
    """The role of an active key in the database, None when the database does not know it."""
    from mlops_api.auth.keys import hash_key

    libpq = make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(libpq, connect_timeout=10) as conn:
        row = conn.execute(
            "SELECT role FROM api_keys WHERE key_hash = %s AND revoked_at IS NULL", (hash_key(key),)
        ).fetchone()
    return str(row[0]) if row else None


def create_key(database_url: str, *, name: str, role: str) -> str:
    """A new key, made by the API's own command (`mlops-api create-key`)."""
    result = subprocess.run(
        [sys.executable, "-m", "mlops_api", "create-key", "--name", name, "--role", role, "--quiet"],
        env={**os.environ, "DATABASE_URL": database_url},
        capture_output=True,
        text=True,
        check=False,
    )
    lines = result.stdout.strip().splitlines()
    if result.returncode != 0 or not lines:
        raise LocalSecretError(f"creating the {role} key '{name}' failed:\n{result.stderr.strip()[-2000:]}")
    return lines[-1].strip()


def api_key(
    database_url: str, path: Path, *, name: str, role: str, say: Callable[[str], None] = lambda _: None
) -> str:
    """The key kept in `path`, made (again) when missing or stale."""
    key = _read(path)
    if key is not None:
        found = key_role(database_url, key)
        if found == role:
            return key
        why = "is not in this database" if found is None else f"has the role {found}, not {role}"
        say(f"the key in {path} {why} (stale .local/ state or another DATABASE_URL): making a new one")
    key = create_key(database_url, name=name, role=role)
    write_private(path, key)
    return key


def approval_signing_key(path: Path, say: Callable[[str], None] = lambda _: None) -> str:
    """The link signing key kept in `path`, generated on first start."""
    key = _read(path)
    if key is not None and len(key) >= MIN_SIGNING_KEY_LENGTH:
        return key
    if key is not None:
        say(f"{path} holds a key shorter than {MIN_SIGNING_KEY_LENGTH} characters: generating a new one")
    key = secrets.token_urlsafe(48)
    write_private(path, key)
    return key


def put_secret_value(secretsmanager: Any, value: str, secret_id: str = APPROVAL_SIGNING_SECRET_ID) -> None:
    """Store `value` as the value of the Terraform-declared secret `secret_id`."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        secretsmanager.put_secret_value(SecretId=secret_id, SecretString=value)
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        if code == "ResourceNotFoundException":
            raise LocalSecretError(
                f"the secret '{secret_id}' does not exist in the emulator: terraform/modules/secrets "
                "declares it; was it removed from terraform/?"
            ) from exc
        raise LocalSecretError(f"storing a value in the secret '{secret_id}' failed ({code})") from exc
    except BotoCoreError as exc:
        raise LocalSecretError(f"storing a value in the secret '{secret_id}' failed ({exc})") from exc
