"""How fast the release workflow moves a run on the emulator: time from `POST /runs` to
`awaiting_approval` with instant training/evaluation handlers (mlops_testkit.e2e_handlers), p50/p95
over 20 runs, and the per-state latency read from each execution's history. Target: p50 < 1.5 s.

Same pieces as the end-to-end tests: Terraform's envs/local on its own emulator process, the API on
an embedded PostgreSQL, the local runner with the real projector and approval worker.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import httpx
import psycopg

from mlops_api.migrate import upgrade
from mlops_devstack.emulator import EmulatorProcess, free_port
from mlops_devstack.postgres import create_database, start_embedded
from mlops_devstack.terraform import LocalStack, write_env_file
from mlops_testkit.api import EVAL_ROW, QA_ROW, jsonl, libpq, make_key, start_api, upload
from mlops_testkit.release import SIGNING_KEY, Release, start_runner
from mlops_testkit.servers import ProvisionedStack


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def state_latencies(release: Release, execution_arn: str) -> dict[str, float]:
    """Seconds spent in each state until the approval wait started, from the execution history."""
    history = release.stack.client("stepfunctions").get_execution_history(
        executionArn=execution_arn, maxResults=1000
    )["events"]
    entered: dict[str, float] = {}
    spent: dict[str, float] = {}
    for event in history:
        name = (event.get("stateEnteredEventDetails") or event.get("stateExitedEventDetails") or {}).get(
            "name"
        )
        if not name:
            continue
        at = event["timestamp"].timestamp()
        if event["type"].endswith("StateEntered"):
            entered[name] = at
        elif event["type"].endswith("StateExited") and name in entered:
            spent[name] = at - entered[name]
    return spent


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-workflow-") as tmp_dir:
        tmp = Path(tmp_dir)
        print("applying terraform/envs/local to a fresh emulator (about 80 s)...", flush=True)
        emulator = EmulatorProcess(port=free_port()).start()
        api = runner = None
        try:
            env = LocalStack(state_dir=tmp / "tf").apply(emulator.endpoint, emulator.region, fresh=True)
            stack = ProvisionedStack(
                emulator.endpoint, emulator.region, env, tmp / "tf", write_env_file(env, tmp / "stack.env")
            )
            (tmp / "pg").mkdir()
            (tmp / "pg").chmod(0o755)
            database = create_database(start_embedded(tmp / "pg" / "data"), "bench_workflow")
            upgrade(database)
            api = start_api(
                database, str(tmp), **env, APPROVAL_SIGNING_KEY=SIGNING_KEY, OUTBOX_POLL_SECONDS="0.1"
            )
            with psycopg.connect(libpq(database), autocommit=True) as conn:
                roles = ("viewer", "operator", "projector", "evaluator", "approval-worker")
                keys = {role: make_key(conn, role) for role in roles}
            with httpx.Client(base_url=api.base_url, headers={"X-API-Key": keys["operator"]}) as op:
                train = upload(op, "bench-train", "train", jsonl(QA_ROW)).json()["id"]
                evaluation = upload(op, "bench-eval", "eval", jsonl(EVAL_ROW)).json()["id"]
            handlers = {
                "training": "mlops_testkit.e2e_handlers:training",
                "evaluation": "mlops_testkit.e2e_handlers:evaluation",
            }
            runner = start_runner(stack, api, keys, tmp, handlers)
            assert runner.log is not None
            release = Release(stack, api, keys, {"train": train, "eval": evaluation}, "", runner.log)

            totals: list[float] = []
            per_state: dict[str, list[float]] = defaultdict(list)
            for i in range(args.runs + 1):  # the first run warms every process up and is not counted
                started = time.perf_counter()
                run_id = release.launch(f"bench-model-{i}")
                run = release.wait_for(run_id, "awaiting_approval", timeout=60)
                elapsed = time.perf_counter() - started
                if i == 0:
                    continue
                totals.append(elapsed)
                for state, seconds in state_latencies(release, run["execution_arn"]).items():
                    per_state[state].append(seconds)
                with release.client("projector") as svc:
                    svc.patch(f"/runs/{run_id}/status", json={"status": "cancelled", "reason": "benchmark"})
        finally:
            if runner is not None:
                runner.stop(timeout=15)
            if api is not None:
                api.stop()
            emulator.stop()

    p50, p95 = percentile(totals, 0.5), percentile(totals, 0.95)
    print(f"\nPOST /runs -> awaiting_approval, instant workers, {len(totals)} runs:")
    print(f"  p50 {p50 * 1000:7.0f} ms   p95 {p95 * 1000:7.0f} ms   max {max(totals) * 1000:7.0f} ms")
    print("\nper state (from the execution history), ms:")
    print(f"  {'state':<24}{'p50':>8}{'p95':>8}")
    for state, values in sorted(per_state.items(), key=lambda kv: -statistics.median(kv[1])):
        print(f"  {state:<24}{percentile(values, 0.5) * 1000:8.0f}{percentile(values, 0.95) * 1000:8.0f}")
    verdict = "PASS" if p50 < 1.5 else "FAIL"
    print(f"\n{verdict}  p50 {p50:.2f} s (target < 1.5 s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
