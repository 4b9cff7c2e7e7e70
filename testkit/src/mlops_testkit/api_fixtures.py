"""API fixtures (a pytest plugin, registered in the root conftest.py, so every test folder can run
against the live API): the API runs as a real server process against a real PostgreSQL and the
AWS emulator; tests talk HTTP to it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from mlops_devstack.dev_signer import DevSigner, DevSignInServer
from mlops_devstack.emulator import Emulator
from mlops_testkit.api import (
    EVAL_ROW,
    QA_ROW,
    ApiServer,
    AwsFixture,
    Clients,
    identity_env,
    jsonl,
    libpq,
    make_key,
    start_api,
    upload,
)


@pytest.fixture(scope="session")
def aws(emulator: Emulator) -> AwsFixture:
    fixture = AwsFixture(emulator)
    fixture.provision()
    return fixture


@pytest.fixture(scope="session")
def dev_sign_in() -> Iterator[DevSignInServer]:
    """The development signer (mlops_devstack.dev_signer): the API fetches its public key as it
    fetches the ALB's, so people's identities are verified with real signatures."""
    server = DevSignInServer(DevSigner(), allowed_next=("http://127.0.0.1:",)).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def api_server(
    migrated_database_url: str,
    aws: AwsFixture,
    dev_sign_in: DevSignInServer,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[ApiServer]:
    env: dict[str, Any] = identity_env(dev_sign_in)
    server = start_api(migrated_database_url, str(tmp_path_factory.mktemp("api")), **env)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def db(migrated_database_url: str) -> Iterator[psycopg.Connection[Any]]:
    """A direct connection, for assertions on what is (not) stored."""
    with psycopg.connect(libpq(migrated_database_url), autocommit=True) as conn:
        yield conn


@pytest.fixture(autouse=False)
def clean(db: psycopg.Connection[Any], aws: AwsFixture) -> None:
    db.execute(
        "TRUNCATE run_results, run_events, pipeline_runs, datasets, outbox, deployments RESTART IDENTITY CASCADE"
    )
    aws.purge()


@pytest.fixture(scope="session")
def clients(api_server: ApiServer, db: psycopg.Connection[Any], dev_sign_in: DevSignInServer) -> Clients:
    roles = [
        "viewer",
        "operator",
        "approver",
        "service",
        "admin",
        "projector",
        "evaluator",
        "approval-worker",
        "trainer",
        "deployer",
    ]
    keys = {role: make_key(db, role) for role in roles}
    return Clients(api_server.base_url, keys, signer=dev_sign_in.signer)


@pytest.fixture
def datasets(clients: Clients, clean: None) -> dict[str, int]:
    with clients.as_("operator") as op:
        train = upload(op, "train-set", "train", jsonl(QA_ROW, QA_ROW))
        evaluation = upload(op, "eval-set", "eval", jsonl(EVAL_ROW))
    assert train.status_code == 201, train.text
    assert evaluation.status_code == 201, evaluation.text
    return {"train": train.json()["id"], "eval": evaluation.json()["id"]}
