"""API keys and roles: 401 (who are you?) vs 403 (you may not), key management by admins."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest

from mlops_testkit.api import Clients, run_body


def test_missing_and_invalid_keys_are_401(clients: Clients, clean: None) -> None:
    with clients.anonymous() as anonymous:
        missing = anonymous.get("/runs")
        wrong = anonymous.get("/runs", headers={"X-API-Key": "mlk_not-a-real-key"})
        health = anonymous.get("/health")
    assert missing.status_code == 401
    assert missing.json()["detail"] == "missing API key: send it in the X-API-Key header"
    assert missing.headers["www-authenticate"] == "APIKey"
    assert wrong.status_code == 401
    assert wrong.json()["detail"] == "invalid or revoked API key"
    assert health.status_code == 200  # operations endpoints stay open for probes


@pytest.mark.parametrize(
    ("role", "method", "path", "allowed"),
    [
        ("viewer", "GET", "/runs", True),
        ("viewer", "POST", "/runs", False),
        ("approver", "POST", "/runs", False),
        ("service", "POST", "/runs", False),
        ("operator", "POST", "/runs", True),
        ("admin", "POST", "/runs", True),
        ("operator", "PATCH", "/runs/{id}/status", False),
        ("viewer", "PATCH", "/runs/{id}/status", False),
        ("service", "PATCH", "/runs/{id}/status", True),
        ("operator", "PUT", "/runs/{id}/results/training", False),
        ("service", "PUT", "/runs/{id}/results/training", True),
        # each worker's key does what its handler does, nothing else (#23)
        ("projector", "PATCH", "/runs/{id}/status", True),
        ("projector", "PUT", "/runs/{id}/results/training", False),
        ("projector", "GET", "/runs", False),
        ("evaluator", "PUT", "/runs/{id}/results/training", True),
        ("evaluator", "PATCH", "/runs/{id}/status", False),
        ("approval-worker", "PATCH", "/runs/{id}/status", False),
        ("approval-worker", "PUT", "/runs/{id}/results/training", False),
        # the trainer records the training result, and no other stage (#17.4)
        ("trainer", "PUT", "/runs/{id}/results/training", True),
        ("trainer", "PUT", "/runs/{id}/results/evaluation", False),
        ("trainer", "PATCH", "/runs/{id}/status", False),
        ("trainer", "GET", "/runs", False),
        ("admin", "PATCH", "/runs/{id}/status", False),
        ("operator", "GET", "/api-keys", False),
        ("admin", "GET", "/api-keys", True),
    ],
)
def test_roles(
    clients: Clients, datasets: dict[str, int], role: str, method: str, path: str, allowed: bool
) -> None:
    with clients.as_("operator") as op:
        run_id = op.post("/runs", json=run_body(datasets)).json()["id"]
    bodies: dict[str, Any] = {
        "/runs": run_body(datasets),
        "/runs/{id}/status": {"status": "training"},
        "/runs/{id}/results/training": {"metrics": {"loss": 0.4}},
        "/runs/{id}/results/evaluation": {"metrics": {}, "ml_score": 0.8, "passed": True},
    }
    with clients.as_(role) as client:
        response = client.request(method, path.format(id=run_id), json=bodies.get(path))
    if allowed:
        assert response.status_code in (200, 201), response.text
    else:
        assert response.status_code == 403
        detail = response.json()["detail"]
        assert detail.startswith(f"role '{role}' may not ")
        assert "this needs one of:" in detail


def test_admin_creates_lists_and_revokes_keys(clients: Clients, db: psycopg.Connection[Any]) -> None:
    with clients.as_("admin") as admin:
        created = admin.post("/api-keys", json={"name": "ci-bot", "role": "viewer"})
        assert created.status_code == 201, created.text
        key = created.json()["key"]
        assert key.startswith(created.json()["key_prefix"])
        listed = admin.get("/api-keys").json()
        assert all("key" not in k and "key_hash" not in k for k in listed)
        assert "ci-bot" in {k["name"] for k in listed}
        stored_hash = db.execute(
            "SELECT key_hash FROM api_keys WHERE id = %s", (created.json()["id"],)
        ).fetchone()
        assert stored_hash is not None
        assert key not in stored_hash[0]

        with clients.anonymous() as anonymous:
            assert anonymous.get("/runs", headers={"X-API-Key": key}).status_code == 200
            revoked = admin.delete(f"/api-keys/{created.json()['id']}")
            assert revoked.status_code == 200
            assert revoked.json()["revoked_at"] is not None
            after = anonymous.get("/runs", headers={"X-API-Key": key})
        assert after.status_code == 401
        assert admin.delete("/api-keys/999999").status_code == 404
        assert admin.post("/api-keys", json={"name": "x", "role": "root"}).status_code == 422


def test_cli_creates_the_first_admin_key(migrated_database_url: str, clients: Clients) -> None:
    import os
    import subprocess
    import sys

    out = subprocess.run(
        [sys.executable, "-m", "mlops_api", "create-key", "--name", "first-admin", "--quiet"],
        env={**os.environ, "DATABASE_URL": migrated_database_url},
        capture_output=True,
        text=True,
        check=True,
    )
    key = out.stdout.strip()
    with clients.anonymous() as anonymous:
        response = anonymous.get("/api-keys", headers={"X-API-Key": key})
    assert response.status_code == 200


def test_the_last_active_admin_key_cannot_be_revoked(clients: Clients, db: psycopg.Connection[Any]) -> None:
    """A schema fuzzer holding the admin key revoked it and locked every admin out of the API."""
    from mlops_testkit.api import make_key

    last = make_key(db, "admin", "last-admin")
    last_id = db.execute("SELECT id FROM api_keys WHERE name = 'last-admin'").fetchone()
    assert last_id is not None
    others = db.execute(
        "UPDATE api_keys SET revoked_at = now() WHERE role = 'admin' AND revoked_at IS NULL AND id <> %s "
        "RETURNING id",
        (last_id[0],),
    ).fetchall()
    try:
        with clients.anonymous() as client:
            client.headers["X-API-Key"] = last
            refused = client.delete(f"/api-keys/{last_id[0]}")
            assert refused.status_code == 409, refused.text
            assert refused.json()["detail"].startswith(f"API key {last_id[0]} is the last active admin key")
            assert client.get("/api-keys").status_code == 200  # still an admin

            second = client.post("/api-keys", json={"name": "second-admin", "role": "admin"}).json()
            assert client.delete(f"/api-keys/{last_id[0]}").status_code == 200
            client.headers["X-API-Key"] = second["key"]
            assert client.delete(f"/api-keys/{second['id']}").status_code == 409
    finally:
        db.execute("UPDATE api_keys SET revoked_at = NULL WHERE id = ANY(%s)", ([row[0] for row in others],))
        db.execute("UPDATE api_keys SET revoked_at = now() WHERE name IN ('last-admin', 'second-admin')")


def test_admins_approve_only_where_configured(clients: Clients) -> None:
    """Separation of duties: the admin role does not include approving unless ADMIN_MAY_APPROVE."""
    from mlops_api.auth.roles import Permission, Role, permissions_of, roles_with

    assert Permission.APPROVE not in permissions_of(Role.ADMIN, admin_may_approve=False)
    assert Permission.APPROVE in permissions_of(Role.ADMIN, admin_may_approve=True)
    assert roles_with(Permission.APPROVE, admin_may_approve=False) == [Role.APPROVER]
    assert roles_with(Permission.APPROVE, admin_may_approve=True) == [Role.APPROVER, Role.ADMIN]
    # no role but the projector records the workflow's outcome, whatever the setting
    for may_approve in (False, True):
        assert roles_with(Permission.RECORD_OUTCOME, admin_may_approve=may_approve) == [Role.PROJECTOR]
    with clients.as_("admin") as admin:  # this API runs with the default
        assert "approve or reject runs" not in admin.get("/me").json()["permissions"]


def test_the_workers_run_with_roles_of_this_table() -> None:
    """The local stack, compose and the tests give each worker a key of its role (libs' WORKER_ROLES)."""
    from mlops_api.auth.roles import ROLE_PERMISSIONS, Permission, Role
    from mlops_contracts.secrets import WORKER_ROLES

    human = {Permission.READ, Permission.LAUNCH_RUN, Permission.APPROVE, Permission.MANAGE_KEYS}
    for role in WORKER_ROLES:
        assert ROLE_PERMISSIONS[Role(role)], role
        assert not ROLE_PERMISSIONS[Role(role)] & human, role  # a worker's key reads and decides nothing
