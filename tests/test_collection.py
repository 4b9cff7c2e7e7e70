"""`make test` collects every test module of the repository.

pytest merges overlapping `testpaths` into one directory node: with "tests/e2e" listed before
"tests", it collected tests/e2e alone and left tests/infra, tests/containers and tests/bench out
of every run without a word. This compares what pytest collects with the test files git knows, and
checks that tests on a server stay out of `make test-fast` (`-m unit`) in the repository itself."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# pytest runs here as a process of its own, over the whole repository.
pytestmark = pytest.mark.integration


def collected(*args: str) -> list[str]:
    """The test ids `pytest --collect-only` selects with `args`."""
    collection = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    selected_nothing = collection.returncode == pytest.ExitCode.NO_TESTS_COLLECTED
    assert collection.returncode == 0 or selected_nothing, (
        collection.stdout[-3000:] + collection.stderr[-3000:]
    )
    return [line for line in collection.stdout.splitlines() if "::" in line]


def test_every_test_module_is_collected() -> None:
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "test_*.py", "*/test_*.py"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    collected_modules = {test.split("::", 1)[0] for test in collected()}

    assert len(listed) > 50, listed  # the repository's own test files, not an empty listing
    assert sorted(set(listed) - collected_modules) == []


def test_tests_on_servers_are_not_unit() -> None:
    """The API's tests run on the live API (PostgreSQL, the emulator), the release tests on the whole
    local stack; a pure function's tests need nothing."""
    on_the_api = "services/api/tests/test_runs.py"
    release = "tests/e2e/test_release_workflow.py"
    pure = "libs/tests/test_status.py"

    unit = collected("-m", "unit", on_the_api, release, pure)
    assert unit, "the pure module's tests are unit"
    assert all(test.startswith(pure) for test in unit), unit
    assert collected("-m", "integration", on_the_api) == collected(on_the_api)
    assert collected("-m", "e2e", release) == collected(release)
