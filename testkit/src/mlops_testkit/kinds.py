"""Gives every collected test one kind, so `pytest -m unit` (`make test-fast`) runs only what needs no
server (a pytest plugin, registered in the root conftest.py).

A kind marked by hand (a module's `pytestmark`) stays. Else the test's place and fixtures decide:
under tests/e2e it is `e2e`; when it requests a fixture that starts a server, directly or through
another fixture, it is `integration`; the rest is `unit`. The rule reads fixtures rather than
file names, so a new test module needs no marking unless it starts a process of its own.
"""

from __future__ import annotations

from pathlib import Path

import pytest

KINDS = ("unit", "integration", "e2e")

# The fixtures that start a server: a real PostgreSQL, the AWS emulator, Terraform's local stack on
# an emulator of its own (mlops_testkit.servers). Every other server fixture (the database, the
# live API, a waiting task) requests one of them, and pytest's closure of a test's fixtures
# (`item.fixturenames`) holds the indirect ones too.
SERVER_FIXTURES = frozenset({"pg_admin_url", "emulator", "local_stack"})

E2E_FOLDER = ("tests", "e2e")


def kind_of(item: pytest.Item) -> str:
    marked = [kind for kind in KINDS if item.get_closest_marker(kind) is not None]
    if len(marked) > 1:
        raise pytest.UsageError(f"{item.nodeid}: marked {' and '.join(marked)}; a test has one kind")
    if marked:
        return marked[0]
    if item.path.is_relative_to(item.config.rootpath / Path(*E2E_FOLDER)):
        return "e2e"
    if SERVER_FIXTURES.intersection(getattr(item, "fixturenames", ())):
        return "integration"
    return "unit"


@pytest.hookimpl(tryfirst=True)  # before `-m` deselects by these markers
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        kind = kind_of(item)
        if item.get_closest_marker(kind) is None:
            item.add_marker(kind)
