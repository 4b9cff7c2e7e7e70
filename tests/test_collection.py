"""`make test` collects every test module of the repository.

pytest merges overlapping `testpaths` into one directory node: with "tests/e2e" listed before
"tests", it collected tests/e2e alone and left tests/infra, tests/containers and tests/bench out
of every run without a word. This compares what pytest collects with the test files git knows."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_every_test_module_is_collected() -> None:
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "test_*.py", "*/test_*.py"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    collection = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert collection.returncode == 0, collection.stdout[-3000:] + collection.stderr[-3000:]
    collected = {line.split("::", 1)[0] for line in collection.stdout.splitlines() if "::" in line}

    assert len(listed) > 50, listed  # the repository's own test files, not an empty listing
    assert sorted(set(listed) - collected) == []
