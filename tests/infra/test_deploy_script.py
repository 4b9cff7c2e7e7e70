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
