"""The fault suite (`make test-fault`, marker `fault`): runs launched while the platform breaks.

200 POST /runs from 20 clients while the API process is killed and restarted and the emulator (the
bus, the queues and Step Functions) stalls for 40 s. Afterwards: every acknowledged run exists once
and has exactly one execution that does work, no outbox row is lost, and a sample of 10 runs (the
workers on) reaches a terminal or waiting state.
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import psycopg
import pytest

from mlops_testkit.api import libpq, start_api
from mlops_testkit.release import Release

pytestmark = pytest.mark.fault

CLIENTS, RUNS_PER_CLIENT = 20, 10
STALL_SECONDS = 40
SETTLED = {"awaiting_approval", "approved", "rejected", "failed", "cancelled"}


def restart_api(release: Release, tmp: Path) -> None:
    """Kill the API (SIGKILL: no shutdown, no last commit) and start it again on the same port."""
    port = urlsplit(release.api.base_url).port
    release.api.process.kill()
    release.api.process.wait(timeout=10)
    time.sleep(1.0)  # clients meet a closed port for a while
    # the environment it was started with: the identity verifier's settings included
    release.api = start_api(release.database_url, str(tmp), port=port, access_log=True, **release.api_env)


def launch_all(release: Release, prefix: str) -> tuple[list[int], int]:
    """20 clients x 10 POST /runs, spread over about 15 s. Returns the acknowledged run ids and how many
    requests got no answer (the API was down)."""
    acknowledged: list[int] = []
    lost = 0
    lock = threading.Lock()

    def client(n: int) -> None:
        nonlocal lost
        with release.client("operator") as op:
            for i in range(RUNS_PER_CLIENT):
                try:
                    response = op.post(
                        "/runs",
                        json={
                            "model_name": f"{prefix}-{n}-{i}",
                            "model_id": "mistralai/Mistral-7B-v0.1",
                            "task_type": "eval_only",
                            "experiment_name": "fault",
                            "eval_dataset_id": release.datasets["eval"],
                            "ml_score_threshold": 0.99,  # rejected at the gate: no approval to wait for
                        },
                    )
                except httpx.TransportError:
                    with lock:
                        lost += 1
                else:
                    assert response.status_code == 201, response.text
                    with lock:
                        acknowledged.append(int(response.json()["id"]))
                time.sleep(1.5)

    with ThreadPoolExecutor(CLIENTS) as pool:
        list(pool.map(client, range(CLIENTS)))
    return acknowledged, lost


def executions_by_run(release: Release, prefix: str) -> dict[int, list[dict[str, Any]]]:
    sfn = release.stack.client("stepfunctions")
    found: dict[int, list[dict[str, Any]]] = {}
    paginator = sfn.get_paginator("list_executions")
    for page in paginator.paginate(stateMachineArn=release.stack.env["STATE_MACHINE_ARN"]):
        for summary in page["executions"]:
            described = sfn.describe_execution(executionArn=summary["executionArn"])
            detail = json.loads(described["input"])["detail"]
            if detail["payload"]["model_name"].startswith(prefix):
                found.setdefault(int(detail["run_id"]), []).append(described)
    return found


def test_runs_launched_through_a_crash_and_a_stall_have_one_workflow_each(
    release: Release, tmp_path: Path
) -> None:
    prefix = f"fault-{uuid.uuid4().hex[:6]}"
    emulator = release.stack.emulator_pid
    assert emulator > 0

    def faults() -> None:
        time.sleep(2)
        stalled = time.monotonic()
        os.kill(emulator, signal.SIGSTOP)  # the bus, the queues and Step Functions stop answering
        try:
            time.sleep(3)
            restart_api(release, tmp_path)  # the outbox keeps what the killed process had not sent
        finally:
            time.sleep(max(0.0, STALL_SECONDS - (time.monotonic() - stalled)))
            os.kill(emulator, signal.SIGCONT)

    breaker = threading.Thread(target=faults)
    breaker.start()
    try:
        acknowledged, lost = launch_all(release, prefix)
    finally:
        breaker.join()

    assert len(acknowledged) + lost == CLIENTS * RUNS_PER_CLIENT
    assert len(set(acknowledged)) == len(acknowledged)
    assert lost < CLIENTS * RUNS_PER_CLIENT // 2, f"{lost} requests met the API down"

    with psycopg.connect(libpq(release.database_url), autocommit=True) as db:
        runs = dict(
            db.execute(
                "SELECT id, model_name FROM pipeline_runs WHERE model_name LIKE %s", (f"{prefix}-%",)
            ).fetchall()
        )
        # every acknowledged run exists, once (a name per request: a duplicate would repeat one)
        assert set(acknowledged) <= set(runs)
        assert len(set(runs.values())) == len(runs)
        # no outbox row is lost: each run's run.created is published once the platform recovered
        deadline = time.monotonic() + 180
        while True:
            pending = db.execute(
                "SELECT count(*) FROM outbox WHERE sent_at IS NULL AND event_type = 'run.created' "
                "AND (detail->>'run_id')::bigint = ANY(%s)",
                (list(runs),),
            ).fetchone()
            assert pending is not None
            if pending[0] == 0 or time.monotonic() > deadline:
                break
            time.sleep(1)
        assert pending[0] == 0, f"{pending[0]} run.created rows still unsent"
        created = Counter(
            row[0]
            for row in db.execute(
                "SELECT (detail->>'run_id')::bigint FROM outbox WHERE event_type = 'run.created' "
                "AND (detail->>'run_id')::bigint = ANY(%s)",
                (list(runs),),
            ).fetchall()
        )
        assert created == Counter(dict.fromkeys(runs, 1))

        # every run is claimed by exactly one execution; any other execution of it ends as a no-op
        deadline = time.monotonic() + 240
        while True:
            owners = dict(
                db.execute(
                    "SELECT id, execution_arn FROM pipeline_runs WHERE id = ANY(%s)", (list(runs),)
                ).fetchall()
            )
            if all(owners.values()) or time.monotonic() > deadline:
                break
            time.sleep(2)
    assert all(owners.values()), f"unclaimed runs: {[r for r, arn in owners.items() if not arn]}"
    executions = executions_by_run(release, prefix)
    assert set(executions) == set(runs)
    for run_id, found in executions.items():
        assert owners[run_id] in {e["executionArn"] for e in found}, run_id
        for execution in found:
            if execution["executionArn"] != owners[run_id]:
                assert execution["status"] in ("RUNNING", "SUCCEEDED"), execution
                history = release.stack.client("stepfunctions").get_execution_history(
                    executionArn=execution["executionArn"]
                )["events"]
                entered = {(e.get("stateEnteredEventDetails") or {}).get("name") for e in history}
                assert entered <= {None, "Route", "Init", "ClaimRun", "OwnsTheRun", "DuplicateExecution"}, (
                    entered
                )

    duplicates = sum(len(found) - 1 for found in executions.values())
    print(
        f"{len(runs)} runs, {lost} requests met the API down, {duplicates} duplicate executions ended as no-ops"
    )

    # a sample of 10 goes through the workers to a terminal or waiting state
    sample = sorted(acknowledged)[:10]
    deadline = time.monotonic() + 240
    while True:
        states = {run_id: release.run(run_id)["status"] for run_id in sample}
        if set(states.values()) <= SETTLED or time.monotonic() > deadline:
            break
        time.sleep(2)
    assert set(states.values()) <= SETTLED, states
