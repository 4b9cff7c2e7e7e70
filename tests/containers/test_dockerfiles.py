"""Every Dockerfile: hadolint clean, multi-stage, pinned base, non-root, copies only its part and libs/,
and the build context (.dockerignore) sends what the COPYs need and nothing heavy."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
Dockerfile = Any  # conftest.Dockerfile

PARTS = {
    "services/api/Dockerfile": "services/api",
    "services/ui/Dockerfile": "services/ui",
    "workers/training/Dockerfile": "workers/training",
    "workers/evaluation/Dockerfile": "workers/evaluation",
    "workers/approval/Dockerfile": "workers/approval",
    "workers/projector/Dockerfile": "workers/projector",
}
WORKERS = [p for p in PARTS if p.startswith("workers/")]
# What a worker image adds to its part and libs/: the runner (not the development stack) and the
# event-source mappings it plays.
RUNTIME = "runtime"
MAPPINGS = "terraform/lambda_mappings.json"
PYTHON_BASE = re.compile(r"^python:3\.11\.\d+-slim-bookworm$")
CUDA_BASE = re.compile(r"^pytorch/pytorch:\d+\.\d+\.\d+-cuda\d+\.\d+-cudnn\d+-runtime$")


@pytest.mark.integration  # runs hadolint
def test_hadolint_is_the_pinned_binary(hadolint: Path) -> None:
    out = subprocess.run([str(hadolint), "--version"], capture_output=True, text=True, check=True).stdout
    assert "2.15.1" in out


@pytest.mark.integration  # runs hadolint
def test_hadolint_catches_a_bad_dockerfile(hadolint: Path, tmp_path: Path) -> None:
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python\nRUN pip install requests\n")
    result = subprocess.run([str(hadolint), "--no-color", str(bad)], capture_output=True, text=True)
    assert result.returncode == 1
    assert "DL3006" in result.stdout
    assert "DL3013" in result.stdout


@pytest.mark.parametrize("path", sorted(PARTS))
@pytest.mark.integration  # runs hadolint
def test_hadolint_finds_nothing(path: str, hadolint: Path) -> None:
    result = subprocess.run(
        [
            str(hadolint),
            "--no-color",
            "--failure-threshold",
            "style",
            "--trusted-registry",
            "docker.io",
            str(REPO / path),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("path", sorted(PARTS))
def test_multi_stage_pinned_and_non_root(path: str, dockerfiles: dict[str, Dockerfile]) -> None:
    dockerfile = dockerfiles[path]
    assert len(dockerfile.stages) >= 2, "multi-stage: build the venv, copy it into a clean stage"
    base = CUDA_BASE if path == "workers/training/Dockerfile" else PYTHON_BASE
    for stage in dockerfile.stages:
        assert base.match(stage.base), f"{stage.base} is not the pinned base {base.pattern}"
    final = dockerfile.final
    users = final.all("USER")
    assert users, "the final stage sets no USER (it would run as root)"
    user = users[-1].args.split(":")[0]
    assert user not in ("root", "0"), "the final stage runs as root"
    assert user.isdigit(), "a numeric USER (Kubernetes runAsNonRoot can verify it)"
    # the runtime stage gets the built venv, not the sources
    assert any("--from=" in c.args and "/opt/venv" in c.args for c in final.all("COPY"))
    assert not [c for c in final.all("COPY") if "--from=" not in c.args]


@pytest.mark.parametrize("path", sorted(PARTS))
def test_copies_only_its_part_and_the_shared_libs(path: str, dockerfiles: dict[str, Dockerfile]) -> None:
    part = PARTS[path]
    allowed = {"libs", part} | ({RUNTIME, MAPPINGS} if path in WORKERS else set())
    sources = []
    for stage in dockerfiles[path].stages:
        for copy in stage.all("COPY"):
            if "--from=" in copy.args:
                continue
            *srcs, _dest = copy.args.split()
            sources += srcs
    roots = set()
    for source in sources:
        assert (REPO / source).exists(), f"COPY {source}: not in the repository"
        owner = next((a for a in allowed if source.rstrip("/") == a or source.startswith(a + "/")), None)
        assert owner, f"COPY {source} is outside {sorted(allowed)}"
        assert "/tests" not in source, "tests do not belong in an image"
        assert not source.startswith("devstack"), "the development stack does not belong in an image"
        roots.add(owner)
    assert roots == allowed
    installed = dockerfiles[path].pip_install_args()
    assert {a.strip('"').split("[")[0].removeprefix("./") for a in installed} == allowed - {MAPPINGS}


@pytest.mark.parametrize("path", sorted(PARTS))
def test_installs_from_its_lock(path: str, dockerfiles: dict[str, Dockerfile]) -> None:
    """Third-party packages come from the part's lock (tests/test_lock_files.py keeps it current),
    then the platform's own packages its requirements.in names, without dependencies."""
    dockerfile = dockerfiles[path]
    assert dockerfile.lock_file() == f"{PARTS[path]}/requirements.lock"
    source = (REPO / PARTS[path] / "requirements.in").read_text().splitlines()
    assert dockerfile.pip_install_args() == [line for line in source if line.startswith("./")]


@pytest.mark.parametrize("path", WORKERS)
def test_workers_find_the_mappings_they_carry(path: str, dockerfiles: dict[str, Dockerfile]) -> None:
    dockerfile = dockerfiles[path]
    (copy,) = [c for stage in dockerfile.stages for c in stage.all("COPY") if c.args.startswith(MAPPINGS)]
    destination = copy.args.split()[-1]
    assert destination.startswith("/opt/venv/"), "copied into the venv, the one thing the runtime stage gets"
    environment = " ".join(e.args for e in dockerfile.final.all("ENV"))
    assert f"LAMBDA_MAPPINGS_FILE={destination}" in environment


@pytest.mark.parametrize("path", sorted(PARTS))
def test_health_and_entrypoint(path: str, dockerfiles: dict[str, Dockerfile]) -> None:
    dockerfile = dockerfiles[path]
    entrypoint = dockerfile.exec_form("ENTRYPOINT")
    if path == "workers/training/Dockerfile":
        # SageMaker's training contract: `docker run <image> train`
        assert entrypoint == ["python", "-m", "mlops_training"]
        assert dockerfile.exec_form("CMD") == ["train"]
        assert (REPO / "workers/training/src/mlops_training/__main__.py").is_file()
        assert not dockerfile.final.all("HEALTHCHECK"), "a training job has no health endpoint"
        return
    checks = dockerfile.final.all("HEALTHCHECK")
    assert checks
    assert "CMD" in checks[-1].args
    if path in WORKERS:
        assert entrypoint[:3] == ["python", "-m", "mlops_sqs_runtime.runner"]
        assert "--heartbeat-file" in entrypoint
        assert "--check-heartbeat" in checks[-1].args


def _dockerignore_patterns() -> list[tuple[bool, re.Pattern[str]]]:
    patterns = []
    for raw in (REPO / ".dockerignore").read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        negated = line.startswith("!")
        glob = line.lstrip("!").strip("/")
        regex = re.escape(glob).replace(r"\*\*/", "(?:.*/)?").replace(r"\*", "[^/]*").replace(r"\?", "[^/]")
        patterns.append((negated, re.compile(f"^{regex}$")))
    return patterns


def _ignored(path: str, patterns: list[tuple[bool, re.Pattern[str]]]) -> bool:
    """Docker's rule: the last pattern matching the path or one of its parents decides."""
    parts = path.strip("/").split("/")
    candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    ignored = False
    for negated, pattern in patterns:
        if any(pattern.match(c) for c in candidates):
            ignored = not negated
    return ignored


def test_dockerignore_sends_what_the_copies_need_and_nothing_heavy(
    dockerfiles: dict[str, Dockerfile],
) -> None:
    patterns = _dockerignore_patterns()
    for dockerfile in dockerfiles.values():
        for stage in dockerfile.stages:
            for copy in stage.all("COPY"):
                if "--from=" in copy.args:
                    continue
                for source in copy.args.split()[:-1]:
                    root = REPO / source
                    for file in [f for f in root.rglob("*") if f.is_file()] if root.is_dir() else [root]:
                        rel = str(file.relative_to(REPO))
                        if "__pycache__" not in rel:  # package data (py.typed ...) included
                            assert not _ignored(rel, patterns), f"{rel} is needed but .dockerignore drops it"
    for heavy in [".venv/bin/python", ".local/postgres", ".git/HEAD", "terraform/envs/local/main.tf"]:
        assert _ignored(heavy, patterns), f"{heavy} would be sent to the Docker daemon"
    for unwanted in ["workers/training/tests/test_data.py", "services/api/src/mlops_api/__pycache__/app.pyc"]:
        assert _ignored(unwanted, patterns), unwanted


def test_ui_image_serves_the_dashboard_page(dockerfiles: dict[str, Dockerfile]) -> None:
    import tomllib

    entrypoint = dockerfiles["services/ui/Dockerfile"].exec_form("ENTRYPOINT")
    assert entrypoint[:4] == ["python", "-m", "streamlit", "run"]
    page = entrypoint[4].removeprefix("/opt/venv/lib/python3.11/site-packages/")
    dependencies = tomllib.loads((REPO / "services/ui/pyproject.toml").read_text())["project"]["dependencies"]
    assert any(re.match(r"^streamlit\b", d) for d in dependencies), "mlops-ui does not depend on streamlit"
    assert (REPO / "services/ui/src" / page).is_file(), f"services/ui/src/{page} does not exist"


# -- the emulator image (docker-compose.yml's default AWS endpoint) --------------------------------
EMULATOR = "devstack/emulator/Dockerfile"


@pytest.mark.integration  # runs hadolint
def test_the_emulator_image_is_hadolint_clean(hadolint: Path) -> None:
    result = subprocess.run(
        [
            str(hadolint),
            "--no-color",
            "--failure-threshold",
            "style",
            "--trusted-registry",
            "docker.io",
            str(REPO / EMULATOR),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_emulator_image_builds_the_devstack_from_its_lock_and_runs_unprivileged(
    dockerfiles: dict[str, Dockerfile],
) -> None:
    dockerfile = dockerfiles[EMULATOR]
    assert len(dockerfile.stages) >= 2
    assert all(PYTHON_BASE.match(stage.base) for stage in dockerfile.stages)
    assert dockerfile.final.all("USER")[-1].args == "10001"
    assert not [c for c in dockerfile.final.all("COPY") if "--from=" not in c.args]
    assert dockerfile.lock_file() == "devstack/emulator/requirements.lock"
    source = (REPO / "devstack/emulator/requirements.in").read_text().splitlines()
    assert dockerfile.pip_install_args() == [line for line in source if line.startswith("./")]
    assert "./devstack" in dockerfile.pip_install_args()
    # only the emulator's packages: moto with its server and strict mode's `regex`, no dev stack extras
    third_party = {
        line.split("=")[0].split(">")[0] for line in source if line and not line.startswith(("#", "./"))
    }
    assert third_party == {"moto[server]", "regex"}
    copied = {
        c.args.split()[0] for stage in dockerfile.stages for c in stage.all("COPY") if "--from=" not in c.args
    }
    assert {c.split("/")[0] for c in copied} == {"libs", "runtime", "devstack"}
    assert not [c for c in copied if "/tests" in c]
    assert dockerfile.final.all("HEALTHCHECK")
