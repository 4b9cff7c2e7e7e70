"""scripts/deploy.sh (`make plan|deploy ENV=prod`) fails clearly when something it needs is missing,
before it builds or applies anything."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration  # runs scripts/deploy.sh

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "deploy.sh"


def _fake_bin(tmp_path: Path, **tools: str) -> Path:
    """A PATH directory with the given tools as shell scripts (name => body)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name in ("git", "sed", "dirname", "bash", "env", "cat"):
        real = subprocess.run(
            ["bash", "-c", f"command -v {name}"], capture_output=True, text=True
        ).stdout.strip()
        (bin_dir / name).symlink_to(real)
    for name, body in tools.items():
        path = bin_dir / name
        path.write_text(f"#!/bin/bash\n{body}\n")
        path.chmod(0o755)
    return bin_dir


def _run(bin_dir: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(SCRIPT), *args],
        env={"PATH": str(bin_dir), "HOME": str(bin_dir.parent), **env},
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )


def test_usage_and_unknown_environment(tmp_path: Path) -> None:
    bin_dir = _fake_bin(tmp_path)
    assert "usage" in _run(bin_dir).stderr
    result = _run(bin_dir, "deploy", "local")
    assert result.returncode != 0
    assert "no deployable environment terraform/envs/local" in result.stderr
    assert "no deployable environment" in _run(bin_dir, "plan", "staging").stderr


def test_missing_tools_are_named(tmp_path: Path) -> None:
    result = _run(_fake_bin(tmp_path), "plan", "prod")
    assert result.returncode != 0
    assert "terraform is not installed" in result.stderr


def test_missing_docker_fails_the_deploy(tmp_path: Path) -> None:
    result = _run(_fake_bin(tmp_path, terraform="exit 0", aws="exit 0"), "deploy", "prod")
    assert result.returncode != 0
    assert "docker is not installed" in result.stderr


def test_missing_credentials_fail_before_anything_runs(tmp_path: Path) -> None:
    backend = tmp_path / "backend.hcl"
    backend.write_text('bucket = "b"\n')
    calls = tmp_path / "terraform-calls"
    bin_dir = _fake_bin(
        tmp_path,
        terraform=f'echo "$@" >> {calls}',
        aws='echo "Unable to locate credentials" >&2; exit 255',
    )
    result = _run(bin_dir, "plan", "prod", BACKEND_CONFIG=str(backend))
    assert result.returncode != 0
    assert "no usable AWS credentials" in result.stderr
    assert "Unable to locate credentials" in result.stderr
    assert not calls.exists(), "terraform ran without credentials"


def test_missing_backend_config_is_explained(tmp_path: Path) -> None:
    bin_dir = _fake_bin(tmp_path, terraform="exit 0", aws="exit 0")
    result = _run(bin_dir, "plan", "prod", BACKEND_CONFIG=str(tmp_path / "nowhere.hcl"))
    assert result.returncode != 0
    assert "backend.hcl.example" in result.stderr
    assert os.access(SCRIPT, os.X_OK)


MIGRATION = ROOT / "scripts" / "run_migration.sh"
FAKE_TERRAFORM_OUTPUTS = """
echo "terraform $*" >> "$CALLS"
case "$*" in
  *"output -raw ecs_cluster_name"*) printf mlops ;;
  *"output -raw migrate_task_definition"*) printf 'arn:aws:ecs:eu-west-1:123456789012:task-definition/mlops-migrate:7' ;;
  *"output -raw migrate_network_configuration"*) printf '{"awsvpcConfiguration":{"subnets":["subnet-1"]}}' ;;
esac
"""


def _fake_aws(exit_code: str) -> str:
    """The AWS CLI answering as ECS does: run-task starts a task, the waiter returns, describe-tasks
    reports the migrate container's exit code."""
    return f"""
echo "aws $*" >> "$CALLS"
case "$*" in
  "sts get-caller-identity"*) echo '{{"Account": "123456789012"}}' ;;
  "ecr describe-images"*) exit 1 ;;  # not pushed yet
  "ecs run-task"*) echo arn:aws:ecs:eu-west-1:123456789012:task/mlops/abc ;;
  "ecs wait tasks-stopped"*) ;;
  "ecs describe-tasks"*"exitCode"*) echo {exit_code} ;;
  "ecs describe-tasks"*"stoppedReason"*) echo "Essential container in task exited" ;;
  "configure get region") echo eu-west-1 ;;
esac
"""


@pytest.mark.parametrize("exit_code", ["0", "1"])
def test_the_migration_runs_once_as_an_ecs_task_and_its_exit_code_decides(
    tmp_path: Path, exit_code: str
) -> None:
    calls = tmp_path / "calls"
    bin_dir = _fake_bin(tmp_path, terraform=FAKE_TERRAFORM_OUTPUTS, aws=_fake_aws(exit_code))
    result = subprocess.run(
        ["bash", str(MIGRATION), "terraform/envs/prod"],
        env={"PATH": str(bin_dir), "HOME": str(tmp_path), "CALLS": str(calls)},
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    aws = [line for line in calls.read_text().splitlines() if line.startswith("aws ")]
    (run_task,) = [line for line in aws if line.startswith("aws ecs run-task")]
    assert "--cluster mlops" in run_task
    assert "--task-definition arn:aws:ecs:eu-west-1:123456789012:task-definition/mlops-migrate:7" in run_task
    assert "--launch-type FARGATE" in run_task
    assert '--network-configuration {"awsvpcConfiguration":{"subnets":["subnet-1"]}}' in run_task
    assert any(line.startswith("aws ecs wait tasks-stopped --cluster mlops --tasks arn:") for line in aws)
    if exit_code == "0":
        assert result.returncode == 0, result.stderr
        assert "migration: done" in result.stdout
    else:
        assert result.returncode != 0
        assert "failed (exit code 1" in result.stderr
        assert "the API's service was not updated" in result.stderr


def test_deploy_migrates_before_the_service_update(tmp_path: Path) -> None:
    """`make deploy`: images pushed, the migration task registered and run, then the full apply."""
    calls = tmp_path / "calls"
    backend = tmp_path / "backend.hcl"
    backend.write_text('bucket = "b"\n')
    bin_dir = _fake_bin(
        tmp_path, terraform=FAKE_TERRAFORM_OUTPUTS, aws=_fake_aws("0"), docker='echo "docker $*" >> "$CALLS"'
    )
    result = _run(
        bin_dir, "deploy", "prod", BACKEND_CONFIG=str(backend), CALLS=str(calls), ALLOW_DIRTY="1", CI="true"
    )
    assert result.returncode == 0, result.stderr
    lines = calls.read_text().splitlines()
    applies = [n for n, line in enumerate(lines) if " apply " in line]
    run_task = next(n for n, line in enumerate(lines) if line.startswith("aws ecs run-task"))
    last_push = max(n for n, line in enumerate(lines) if line.startswith("docker push"))
    targeted, full = applies[-2], applies[-1]
    assert "-target=aws_ecs_task_definition.migrate" in lines[targeted]
    # on a first deploy too: what the task runs on, never the services themselves
    for needed in (
        "module.network",
        "module.database",
        "aws_ecs_cluster.this",
        "aws_iam_role_policy.migrate",
    ):
        assert f"-target={needed} " in lines[targeted] + " ", needed
    assert "aws_ecs_service" not in lines[targeted]
    assert "-target=module.api " not in lines[targeted] + " "
    assert "-target" not in lines[full]
    assert last_push < targeted < run_task < full
