"""Property-based API testing from the live OpenAPI schema with every check schemathesis has: no
input may cause a 5xx, every response matches the published schema, input the schema forbids is
refused and input it allows is accepted, 405 answers name the allowed methods, authentication is
not ignored."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import CHECKS as REGISTERED_CHECKS
from sqlalchemy.engine import make_url

from mlops_api.migrate import upgrade
from mlops_devstack.postgres import drop_database, scratch_database
from mlops_testkit.api import AwsFixture, libpq, make_key, start_api

CHECKS = REGISTERED_CHECKS.get_all()  # all of them (#22), not a chosen few


@pytest.fixture(scope="module")
def fuzz_target(
    pg_admin_url: str, aws: AwsFixture, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, str]]:
    """Its own database and API server: the fuzzer revokes keys and writes junk, which must not
    leak into the other tests."""
    url = scratch_database(pg_admin_url, "fuzz")
    upgrade(url)
    server = start_api(
        url, str(tmp_path_factory.mktemp("fuzz")), APPROVAL_SIGNING_KEY="fuzz-signing-key-" + "f" * 32
    )
    with psycopg.connect(libpq(url), autocommit=True) as conn:
        admin_key = make_key(conn, "admin", "fuzzer")
    yield server.base_url, admin_key
    server.stop()
    drop_database(pg_admin_url, make_url(url).database or "")


@pytest.fixture(scope="module")
def live_schema(fuzz_target: tuple[str, str]) -> schemathesis.BaseSchema:
    return schemathesis.openapi.from_url(f"{fuzz_target[0]}/openapi.json")


schema = schemathesis.pytest.from_fixture("live_schema")


@schema.parametrize()
@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_no_server_errors_and_no_schema_violations(
    case: schemathesis.Case, fuzz_target: tuple[str, str]
) -> None:
    # An admin key reaches every operation; 401/403 paths are covered by test_auth.py.
    case.call_and_validate(headers={"X-API-Key": fuzz_target[1]}, checks=CHECKS)
