"""The release workflow end to end: Terraform's local stack on the emulator, the API on a real
PostgreSQL, and the local runner playing the workers (projector and approval worker for real,
training and evaluation through mlops_testkit.e2e_handlers unless a test plugs the real workers in)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from sqlalchemy.engine import make_url

from mlops_api.migrate import upgrade
from mlops_contracts.secrets import WORKER_ROLES
from mlops_devstack.dev_signer import DevSignInServer
from mlops_devstack.postgres import drop_database, scratch_database
from mlops_devstack.processes import ChildProcess
from mlops_testkit.api import EVAL_ROW, QA_ROW, identity_env, jsonl, libpq, make_key, start_api, upload
from mlops_testkit.release import SIGNING_KEY, Release, start_runner
from mlops_testkit.servers import ProvisionedStack


@pytest.fixture(scope="session")
def release_factory(
    local_stack: ProvisionedStack,
    pg_admin_url: str,
    dev_sign_in: DevSignInServer,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Callable[[dict[str, str]], Release]]:
    """Builds the whole platform around the Terraform stack, once per set of worker handlers, and
    hands out the one whose workers poll the queues now.

    The queues belong to the one Terraform stack: only one set of workers may poll them, so taking
    one set stops the others' runner, and a set taken again gets its runner back (tests of either
    kind may come in any order: an earlier test of the other kind must not leave this one without
    workers)."""
    built: dict[tuple[tuple[str, str], ...], tuple[Release, list[ChildProcess], str, Path]] = {}

    def activate(handlers: dict[str, str]) -> Release:
        key = tuple(sorted(handlers.items()))
        for other, (_, runners, _, _) in built.items():
            if other != key and runners[-1].running:
                runners[-1].stop(timeout=15)
        if key in built:
            existing, runners, _, tmp = built[key]
            if not runners[-1].running:
                runners.append(start_runner(local_stack, existing.api, existing.keys, tmp, handlers))
            return existing
        return build(key, handlers)

    def build(key: tuple[tuple[str, str], ...], handlers: dict[str, str]) -> Release:
        tmp = tmp_path_factory.mktemp("release")
        database = scratch_database(pg_admin_url, "e2e")
        upgrade(database)
        api_env: dict[str, Any] = {
            **local_stack.env,
            "APPROVAL_SIGNING_KEY": SIGNING_KEY,
            "OUTBOX_POLL_SECONDS": "0.1",
            **identity_env(dev_sign_in),  # people signed in by the development signer
        }
        # with its access log on, as in production: no approval token may reach it
        api = start_api(database, str(tmp), access_log=True, **api_env)
        with psycopg.connect(libpq(database), autocommit=True) as conn:
            keys = {
                role: make_key(conn, role)
                for role in ("viewer", "operator", "approver", "admin", *WORKER_ROLES)
            }
        with httpx.Client(base_url=api.base_url, headers={"X-API-Key": keys["operator"]}) as op:
            train = upload(op, "e2e-train", "train", jsonl(*[QA_ROW] * 8))
            evaluation = upload(op, "e2e-eval", "eval", jsonl(*[EVAL_ROW] * 4))
        assert train.status_code == 201, train.text
        assert evaluation.status_code == 201, evaluation.text
        # A test-only tap: every workflow fact is also copied to a queue of the test's own.
        sqs, events = local_stack.client("sqs"), local_stack.client("events")
        tap_url = sqs.create_queue(QueueName=f"e2e-tap-{uuid.uuid4().hex[:6]}")["QueueUrl"]
        tap_arn = sqs.get_queue_attributes(QueueUrl=tap_url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        rule = f"e2e-tap-{uuid.uuid4().hex[:6]}"
        events.put_rule(
            Name=rule,
            EventBusName=local_stack.env["EVENT_BUS_NAME"],
            EventPattern=json.dumps({"source": ["mlops.workflow"]}),
        )
        events.put_targets(
            Rule=rule, EventBusName=local_stack.env["EVENT_BUS_NAME"], Targets=[{"Id": "tap", "Arn": tap_arn}]
        )
        runner = start_runner(local_stack, api, keys, tmp, handlers)
        assert runner.log is not None
        release = Release(
            local_stack,
            api,
            keys,
            {"train": train.json()["id"], "eval": evaluation.json()["id"]},
            tap_url,
            runner.log,
            database_url=database,
            api_env=api_env,
        )
        built[key] = (release, [runner], database, tmp)
        return release

    yield activate
    for release, runners, database, _ in built.values():
        runners[-1].stop(timeout=15)
        release.api.stop()
        drop_database(pg_admin_url, make_url(database).database or "")


@pytest.fixture
def release(release_factory: Callable[[dict[str, str]], Release]) -> Release:
    return release_factory(
        {
            "training": "mlops_testkit.e2e_handlers:training",
            "evaluation": "mlops_testkit.e2e_handlers:evaluation",
        }
    )


@pytest.fixture
def real_release(release_factory: Callable[[dict[str, str]], Release]) -> Release:
    """The platform with the real training and evaluation workers (test_real_workers, test_demo)."""
    return release_factory(
        {
            "training": "mlops_training.dispatch.handler:handler",
            "evaluation": "mlops_evaluation.handler:handler",
        }
    )
