"""Every lock file still covers what its environment declares, so a forgotten `make lock` fails here.

Each lock is resolved from an input: requirements-dev.txt (.venv), requirements-bench.txt
(.venv-bench), and one `requirements.in` per image beside its Dockerfile. An input names
third-party requirements and the platform's own packages (paths, with extras); the dependencies of
those are read from their pyproject.toml, following local dependencies (mlops-contracts ...) to
their own pyproject.toml. Every third-party requirement reached must be pinned in the lock, at a
version its specifier accepts. Markers are evaluated for this interpreter: the locks are made for
CPython 3.11 on linux x86_64, which this machine and the images are (`make lock` checks it)."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
DEV_LOCK = ROOT / "requirements-dev.lock"


def in_repository(pattern: str) -> list[Path]:
    """The matches outside hidden folders (.venv, .venv-bench ...), as make's wildcard finds them."""
    return sorted(
        p for p in ROOT.glob(pattern) if not any(part.startswith(".") for part in p.relative_to(ROOT).parts)
    )


IMAGE_INPUTS = in_repository("*/*/requirements.in")
LOCKS = {
    ROOT / "requirements-dev.txt": DEV_LOCK,
    ROOT / "requirements-bench.txt": ROOT / "requirements-bench.lock",
    **{path: path.with_suffix(".lock") for path in IMAGE_INPUTS},
}


@dataclass(frozen=True)
class Project:
    """One of the platform's own packages: its directory and its pyproject.toml's [project] table."""

    path: Path
    table: dict[str, object]

    @property
    def name(self) -> str:
        return canonicalize_name(str(self.table["name"]))

    def requirements(self, extras: set[str]) -> list[Requirement]:
        declared = [Requirement(r) for r in self.table.get("dependencies", [])]  # type: ignore[attr-defined]
        optional: dict[str, list[str]] = self.table.get("optional-dependencies", {})  # type: ignore[assignment]
        for extra in sorted(extras):
            assert extra in optional, f"{self.path}: no extra [{extra}]"
            declared += [Requirement(r) for r in optional[extra]]
        return [r for r in declared if r.marker is None or r.marker.evaluate({"extra": ""})]


def local_projects() -> dict[str, Project]:
    projects = {}
    for pyproject in in_repository("*/pyproject.toml") + in_repository("*/*/pyproject.toml"):
        table = tomllib.loads(pyproject.read_text()).get("project")
        if table:
            project = Project(pyproject.parent, table)
            projects[project.name] = project
    return projects


PROJECTS = local_projects()


def read_input(path: Path) -> tuple[list[Requirement], list[tuple[Path, set[str]]]]:
    """An input's third-party requirements, and its local packages (directory, extras)."""
    third_party, local = [], []
    for raw in path.read_text().splitlines():
        line = raw.split(" #")[0].strip()
        if not line or line.startswith("#"):
            continue
        line = line.removeprefix("-e ").strip()
        assert not line.startswith("-"), f"{path}: an option this check does not read: {line}"
        if line.startswith("."):
            directory, _, extras = line.partition("[")
            local.append((ROOT / directory, set(filter(None, extras.rstrip("]").split(",")))))
        else:
            third_party.append(Requirement(line))
    return third_party, local


def declared(path: Path) -> list[Requirement]:
    """Every third-party requirement of an input, its local packages' dependencies included."""
    third_party, local = read_input(path)
    by_path = {p.path: p for p in PROJECTS.values()}
    pending = [(by_path[directory.resolve()], extras) for directory, extras in local]
    seen: set[tuple[str, frozenset[str]]] = set()
    while pending:
        project, extras = pending.pop()
        if (project.name, frozenset(extras)) in seen:
            continue
        seen.add((project.name, frozenset(extras)))
        for requirement in project.requirements(extras):
            name = canonicalize_name(requirement.name)
            if name in PROJECTS:
                pending.append((PROJECTS[name], set(requirement.extras)))
            else:
                third_party.append(requirement)
    return [r for r in third_party if r.marker is None or r.marker.evaluate()]


def read_lock(path: Path) -> dict[str, Version]:
    """The pins of a pip-compile lock (`name==version \\` lines; hashes and comments skipped)."""
    pins: dict[str, Version] = {}
    for line in path.read_text().splitlines():
        if line[:1].isalnum():
            requirement = Requirement(line.removesuffix("\\").strip())
            (specifier,) = requirement.specifier
            assert specifier.operator == "==", f"{path}: {line} is not a pin"
            pins[canonicalize_name(requirement.name)] = Version(specifier.version)
    return pins


def uncovered(requirements: list[Requirement], pins: dict[str, Version]) -> list[str]:
    """The requirements a lock does not satisfy, each with the reason."""
    problems = []
    for requirement in requirements:
        pinned = pins.get(canonicalize_name(requirement.name))
        if pinned is None:
            problems.append(f"{requirement}: not in the lock")
        elif not requirement.specifier.contains(pinned, prereleases=True):
            problems.append(f"{requirement}: the lock pins {pinned}")
    return problems


@pytest.mark.parametrize("source", sorted(LOCKS), ids=lambda p: str(p.relative_to(ROOT)))
def test_the_lock_covers_every_declared_dependency(source: Path) -> None:
    lock = LOCKS[source]
    assert lock.is_file(), f"{lock.relative_to(ROOT)} is missing: run `make lock`"
    problems = uncovered(declared(source), read_lock(lock))
    assert not problems, f"{lock.relative_to(ROOT)} is out of date, run `make lock`:\n" + "\n".join(problems)


@pytest.mark.parametrize("lock", sorted(set(LOCKS.values())), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_lock_pins_the_platforms_own_packages(lock: Path) -> None:
    """They install after the lock, with --no-deps (editable in .venv)."""
    assert not set(read_lock(lock)) & set(PROJECTS)


def test_every_image_has_a_lock() -> None:
    dockerfiles = [p.parent for p in in_repository("*/*/Dockerfile")]
    assert dockerfiles == sorted(p.parent for p in IMAGE_INPUTS)


@pytest.mark.parametrize("source", IMAGE_INPUTS, ids=lambda p: str(p.parent.relative_to(ROOT)))
def test_an_image_runs_the_versions_the_tests_ran(source: Path) -> None:
    """The images' locks are constrained by the dev lock (`make lock`); torch is each image's own
    (its requirements.in names it: the CUDA build from PyPI, or the base image's)."""
    own = {canonicalize_name(r.name) for r in read_input(source)[0]}
    dev = {name: version.public for name, version in read_lock(DEV_LOCK).items()}
    image = {name: version.public for name, version in read_lock(source.with_suffix(".lock")).items()}
    shared = image.keys() & dev.keys() - own
    differ = {name: (image[name], dev[name]) for name in sorted(shared) if image[name] != dev[name]}
    assert not differ, f"{source.parent.relative_to(ROOT)}: image vs dev lock {differ}: run `make lock`"


def test_a_dependency_missing_from_the_lock_is_reported(tmp_path: Path) -> None:
    """The check is not vacuous: a dependency of a local package left out of the lock, and a floor
    raised past the pin, are both reported."""
    source = tmp_path / "requirements.in"
    source.write_text("./libs\nrich>=14\n")
    requirements = declared(source)
    pins = {canonicalize_name(r.name): Version("99") for r in requirements} | {"rich": Version("13.9.0")}
    del pins["pydantic"]
    problems = sorted(uncovered(requirements, pins))
    assert len(problems) == 2
    assert problems[0].startswith("pydantic")
    assert problems[0].endswith(": not in the lock")
    assert problems[1] == "rich>=14: the lock pins 13.9.0"
