"""The pieces of `make dev` around the apply cache: ports, the local credentials, the services'
environment, the dashboard's script."""

from __future__ import annotations

import socket
import stat
from pathlib import Path

import pytest

from mlops_contracts.aws import aws_client
from mlops_devstack.emulator import Emulator, free_port
from mlops_devstack.local_secrets import (
    LocalSecretError,
    api_key,
    approval_signing_key,
    key_role,
    put_secret_value,
)
from mlops_devstack.stack import Ports, StackError, _service_environment, ui_app


def test_each_taken_port_gets_a_clear_message() -> None:
    with socket.socket() as api, socket.socket() as ui:
        for s in (api, ui):
            s.bind(("127.0.0.1", 0))
            s.listen()
        ports = Ports(api=api.getsockname()[1], emulator=free_port(), ui=ui.getsockname()[1])
        with pytest.raises(StackError) as caught:
            ports.check(with_ui=True)
        message = str(caught.value)
        assert f"port {ports.api} on 127.0.0.1 is taken (wanted for the API)" in message
        assert "API_PORT" in message
        assert f"port {ports.ui} on 127.0.0.1 is taken (wanted for the dashboard)" in message
        assert "UI_PORT" in message
        assert "EMULATOR_PORT" not in message
        # No dashboard to start (no mlops_ui/app.py): its port does not matter.
        Ports(api=free_port(), emulator=free_port(), ui=ports.ui).check(with_ui=False)
    with pytest.raises(StackError, match="the ports must differ"):
        Ports(api=18000, emulator=18000, ui=18501).check(with_ui=True)


def test_ports_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("API_PORT", "18001")
    monkeypatch.setenv("EMULATOR_PORT", "14567")
    monkeypatch.setenv("UI_PORT", "18502")
    assert Ports.resolve(None, None, None) == Ports(18001, 14567, 18502)
    assert Ports.resolve(1, 2, 3) == Ports(1, 2, 3)
    monkeypatch.setenv("UI_PORT", "dashboard")
    with pytest.raises(StackError, match="must be port numbers"):
        Ports.resolve(None, None, None)


def test_the_signing_key_is_made_once_private_and_renewed_when_too_short(tmp_path: Path) -> None:
    path = tmp_path / ".local" / "approval-signing-key"
    said: list[str] = []
    key = approval_signing_key(path, said.append)
    assert len(key) >= 48
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert approval_signing_key(path, said.append) == key
    assert said == []
    path.write_text("short\n")
    renewed = approval_signing_key(path, said.append)
    assert renewed != key
    assert len(renewed) >= 48
    assert "shorter than 32 characters" in said[0]


def test_the_signing_key_goes_into_the_declared_secret(emulator: Emulator) -> None:
    client = aws_client("secretsmanager")
    name = f"test/approval-signing-key-{free_port()}"
    client.create_secret(Name=name, Description="declared by Terraform in the real stack")
    put_secret_value(client, "k" * 64, secret_id=name)
    assert client.get_secret_value(SecretId=name)["SecretString"] == "k" * 64
    with pytest.raises(LocalSecretError, match="does not exist in the emulator"):
        put_secret_value(client, "k" * 64, secret_id=f"{name}-undeclared")


def test_a_stale_key_file_is_replaced(migrated_database_url: str, tmp_path: Path) -> None:
    path = tmp_path / "workers-api-key"
    path.write_text("mlk_a-key-of-another-database\n")
    said: list[str] = []
    key = api_key(migrated_database_url, path, name="local-workers", role="service", say=said.append)
    assert "is not in this database" in said[0]
    assert key_role(migrated_database_url, key) == "service"
    assert path.read_text().strip() == key
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert api_key(migrated_database_url, path, name="local-workers", role="service") == key  # kept

    said.clear()
    admin = api_key(migrated_database_url, path, name="local-admin", role="admin", say=said.append)
    assert "has the role service, not admin" in said[0]
    assert key_role(migrated_database_url, admin) == "admin"


def test_the_services_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("JUDGE", raising=False)
    monkeypatch.delenv("DASHBOARD_URL", raising=False)
    monkeypatch.delenv("EVALUATION_BACKEND", raising=False)
    monkeypatch.setenv("TRAINING_BACKEND", "sagemaker")  # what the developer set wins
    env = _service_environment(
        url="postgresql://db",
        stack_env={"STATE_MACHINE_ARN": "arn:sm", "AWS_ENDPOINT_URL": "http://127.0.0.1:14566"},
        ports=Ports(api=18000, emulator=14566, ui=18501),
        worker_keys={"projector": "mlk_p", "evaluator": "mlk_e", "approval-worker": "mlk_a"},
    )
    assert env["API_URL"] == env["PUBLIC_API_URL"] == "http://127.0.0.1:18000"
    # each worker its own key, by its role's variable; no shared key
    assert (env["PROJECTOR_API_KEY"], env["EVALUATOR_API_KEY"], env["APPROVAL_WORKER_API_KEY"]) == (
        "mlk_p",
        "mlk_e",
        "mlk_a",
    )
    assert "API_KEY" not in env
    assert env["DASHBOARD_URL"] == "http://127.0.0.1:18501"
    assert env["JUDGE"] == "local"
    assert env["TRAINING_BACKEND"] == "sagemaker"
    assert env["EVALUATION_BACKEND"] == "local"  # the evaluation job's entrypoint, as a subprocess
    assert env["APPROVAL_SIGNING_SECRET_ID"] == "mlops/approval-signing-key"
    assert env["STATE_MACHINE_ARN"] == "arn:sm"
    assert env["DATABASE_URL"] == "postgresql://db"


def test_the_dashboard_script_is_found() -> None:
    app = ui_app()
    assert app is not None
    assert app.name == "app.py"
    assert app.parent.name == "mlops_ui"
