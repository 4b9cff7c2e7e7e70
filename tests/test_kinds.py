"""Each test's kind (mlops_testkit.kinds), the rule `make test-fast` (`pytest -m unit`) relies on, proven
on a small test tree of its own: server fixtures (directly or through another fixture) make a test
`integration`, tests/e2e makes it `e2e`, a hand-made mark wins, everything else is `unit`."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

CONFTEST = """
import pytest

pytest_plugins = ["mlops_testkit.kinds"]


@pytest.fixture
def pg_admin_url():
    return "postgresql://"


@pytest.fixture
def database(pg_admin_url):  # a fixture on a server fixture: what the tests usually request
    return pg_admin_url
"""

TESTS = """
import pytest


def test_pure():
    pass


def test_with_tmp_path(tmp_path):
    pass


def test_on_a_server(pg_admin_url):
    pass


def test_on_a_fixture_of_a_server(database):
    pass


@pytest.mark.integration
def test_that_starts_a_process_of_its_own():
    pass
"""


@pytest.fixture
def tree(pytester: pytest.Pytester) -> pytest.Pytester:
    # the repository's own marker registration, so --strict-markers checks it as `make test` does
    markers = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["pytest"]["ini_options"]["markers"]
    pytester.makeini(
        "[pytest]\naddopts = --strict-markers\nmarkers =\n" + "".join(f"    {m}\n" for m in markers)
    )
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_kinds_sample=TESTS)
    e2e = pytester.mkdir("tests").joinpath("e2e")
    e2e.mkdir()
    e2e.joinpath("test_kinds_release.py").write_text("def test_release():\n    pass\n")
    return pytester


def selected(tree: pytest.Pytester, kind: str) -> list[str]:
    result = tree.runpytest_inprocess("--collect-only", "-q", "-m", kind, "-p", "no:cacheprovider")
    return sorted(line.split("::", 1)[1] for line in result.outlines if "::" in line)


def test_server_fixtures_make_a_test_integration_even_through_another_fixture(tree: pytest.Pytester) -> None:
    assert selected(tree, "integration") == [
        "test_on_a_fixture_of_a_server",
        "test_on_a_server",
        "test_that_starts_a_process_of_its_own",
    ]


def test_the_rest_is_unit(tree: pytest.Pytester) -> None:
    assert selected(tree, "unit") == ["test_pure", "test_with_tmp_path"]


def test_tests_under_tests_e2e_are_e2e(tree: pytest.Pytester) -> None:
    assert selected(tree, "e2e") == ["test_release"]


def test_two_kinds_on_one_test_are_refused(tree: pytest.Pytester) -> None:
    tree.makepyfile(
        test_twice="import pytest\n\n@pytest.mark.unit\n@pytest.mark.integration\ndef test_both():\n    pass\n"
    )
    result = tree.runpytest_inprocess("--collect-only", "-q", "-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*test_both: marked unit and integration; a test has one kind*"])
