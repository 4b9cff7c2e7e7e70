"""The `mlops` command against the live API: each command's table and --json output, and the exit
codes. Most checks run the command's Typer app in this process (Typer's CliRunner: the app the
entry point runs, without a Python start per command); the exit codes a shell or CI sees are also
checked through the installed entry point, in a subprocess."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from mlops_client.cli import app
from mlops_testkit.api import EVAL_ROW, Clients, jsonl, run_body

MLOPS = shutil.which("mlops", path=str(Path(sys.executable).parent))  # the venv's entry point


@dataclass(frozen=True)
class Ran:
    returncode: int
    stdout: str
    stderr: str


def _environment(clients: Clients, role: str, env: dict[str, str] | None) -> dict[str, str]:
    return {"MLOPS_API_URL": clients.base_url, "MLOPS_API_KEY": clients.keys[role], **(env or {})}


def mlops(clients: Clients, *args: str, role: str = "operator", env: dict[str, str] | None = None) -> Ran:
    """The command in this process; an exception the command does not turn into an exit code fails
    the test as it is."""
    environment: dict[str, str | None] = {"MLOPS_SESSION_COOKIE": None, **_environment(clients, role, env)}
    result = CliRunner().invoke(app, list(args), env=environment, catch_exceptions=False)
    return Ran(result.exit_code, result.stdout, result.stderr)


def mlops_script(
    clients: Clients, *args: str, role: str = "operator", env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """The command through its installed entry point, as a shell or CI runs it."""
    assert MLOPS, "the mlops entry point is not installed (make setup)"
    environment = {**os.environ, **_environment(clients, role, env)}
    environment.pop("MLOPS_SESSION_COOKIE", None)
    return subprocess.run([MLOPS, *args], capture_output=True, text=True, env=environment, timeout=60)


def _set(clients: Clients, run_id: int, *statuses: str) -> None:
    """Move a run as the workflow's projector would (its execution, an event id per step)."""
    arn = f"arn:aws:states:us-east-1:123456789012:execution:release:run-{run_id}"
    with clients.as_("projector") as projector:
        for status in statuses:
            body = {"status": status, "execution_arn": arn, "event_id": f"{arn}:{status}"}
            changed = projector.patch(f"/runs/{run_id}/status", json=body)
            assert changed.status_code == 200, changed.text


def _config(tmp_path: Path, datasets: dict[str, int], **overrides: Any) -> Path:
    path = tmp_path / "run.yaml"
    body = run_body(datasets, model_name="cli-model", **overrides)
    path.write_text("\n".join(f"{k}: {json.dumps(v)}" for k, v in body.items()) + "\n")
    return path


def test_runs_launch_get_list_and_cancel(clients: Clients, datasets: dict[str, int], tmp_path: Path) -> None:
    launched = mlops(clients, "runs", "launch", "--config", str(_config(tmp_path, datasets)), "--json")
    assert launched.returncode == 0, launched.stderr
    run = json.loads(launched.stdout)
    assert run["status"] == "pending"
    assert run["model_name"] == "cli-model"

    table = mlops(clients, "runs", "get", str(run["id"]))
    assert table.returncode == 0, table.stderr
    assert f"run {run['id']}" in table.stdout
    assert "pending" in table.stdout
    assert "cli-model (mistralai/Mistral-7B-v0.1)" in table.stdout

    listed = mlops(clients, "runs", "list", "--model", "cli-model", "--json")
    assert [r["id"] for r in json.loads(listed.stdout)] == [run["id"]]
    listed_table = mlops(clients, "runs", "list", "--status", "pending")
    assert listed_table.returncode == 0, listed_table.stderr
    assert "cli-model" in listed_table.stdout
    assert "experiment" in listed_table.stdout  # the header
    assert "MLScore" in listed_table.stdout
    with clients.as_("evaluator") as evaluator:
        evaluator.put(f"/runs/{run['id']}/results/evaluation", json={"metrics": {}, "ml_score": 0.8125})
    assert "0.812" in mlops(clients, "runs", "list", "--model", "cli-model").stdout  # the evaluation's

    cancelled = mlops(clients, "runs", "cancel", str(run["id"]), "--reason", "wrong data", "--json")
    assert cancelled.returncode == 0, cancelled.stderr
    assert json.loads(cancelled.stdout)["status"] == "cancelled"
    waited = mlops(clients, "runs", "wait", str(run["id"]), "--timeout", "1")
    assert waited.returncode == 1  # cancelled
    assert "cancelled" in waited.stderr


def test_wait_exit_codes(clients: Clients, datasets: dict[str, int], tmp_path: Path) -> None:
    with clients.as_("operator") as op:
        ids = [op.post("/runs", json=run_body(datasets)).json()["id"] for _ in range(4)]
    awaiting, rejected, failed, stuck = ids
    _set(clients, awaiting, "training", "evaluating", "awaiting_approval")
    _set(clients, rejected, "training", "evaluating", "rejected")
    _set(clients, failed, "failed")

    # through the installed entry point: the exit codes a shell or CI job reads
    assert mlops_script(clients, "runs", "wait", str(awaiting), "--timeout", "5").returncode == 0
    assert mlops(clients, "runs", "wait", str(rejected), "--timeout", "5").returncode == 1
    assert mlops(clients, "runs", "wait", str(failed), "--timeout", "5").returncode == 1
    timed_out = mlops_script(clients, "runs", "wait", str(stuck), "--timeout", "0.5", "--json")
    assert timed_out.returncode == 3
    assert json.loads(timed_out.stdout)["status"] == "pending"
    assert "still 'pending'" in timed_out.stderr


def test_launch_with_wait_and_fail_on_reject(
    clients: Clients, datasets: dict[str, int], tmp_path: Path
) -> None:
    config = _config(tmp_path, datasets)
    # a rejection by the workflow: the projector moves the run while the CLI waits
    proc = subprocess.Popen(
        [
            MLOPS or "mlops",
            "runs",
            "launch",
            "-c",
            str(config),
            "--wait",
            "--fail-on-reject",
            "--timeout",
            "30",
            "--json",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "MLOPS_API_URL": clients.base_url, "MLOPS_API_KEY": clients.keys["operator"]},
    )
    with clients.as_("viewer") as viewer:
        for _ in range(100):
            items = viewer.get("/runs").json()["items"]
            if items:
                break
            subprocess.run(["sleep", "0.1"], check=True)
    _set(clients, items[0]["id"], "training", "evaluating", "rejected")
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 1, err
    assert json.loads(out)["status"] == "rejected"

    # without --fail-on-reject a rejection is an answer, not a failure; the same key is the same run
    config2 = _config(tmp_path, datasets, experiment_name="second")
    launch = ("runs", "launch", "-c", str(config2), "--idempotency-key", "ci-42", "--json")
    run_id = json.loads(mlops(clients, *launch).stdout)["id"]
    _set(clients, run_id, "training", "evaluating", "rejected")
    again = mlops(clients, *launch, "--wait", "--timeout", "10")
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["id"] == run_id
    assert json.loads(again.stdout)["status"] == "rejected"


def test_launch_usage_errors_exit_2(clients: Clients, datasets: dict[str, int], tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("model_name: x\ntask_type: finetune\n")
    refused = mlops(clients, "runs", "launch", "--config", str(bad))
    assert refused.returncode == 2
    assert "train_dataset_id" in refused.stderr
    unknown = mlops(
        clients, "runs", "launch", "--config", str(_config(tmp_path, datasets, eval_dataset_id=999999))
    )
    assert unknown.returncode == 2
    assert "eval_dataset_id 999999: no such dataset" in unknown.stderr
    assert mlops(clients, "runs", "frobnicate").returncode == 2
    assert mlops_script(clients, "runs", "frobnicate").returncode == 2  # usage, as the shell sees it
    no_key = mlops(clients, "runs", "list", env={"MLOPS_API_KEY": "", "API_KEY": ""})
    assert no_key.returncode == 2
    assert "MLOPS_API_KEY" in no_key.stderr


def test_datasets_upload_and_list(clients: Clients, clean: None, tmp_path: Path) -> None:
    good = tmp_path / "questions.jsonl"
    good.write_bytes(jsonl(EVAL_ROW, EVAL_ROW, EVAL_ROW))
    uploaded = mlops(clients, "datasets", "upload", str(good), "--kind", "eval")
    assert uploaded.returncode == 0, uploaded.stderr
    assert "questions" in uploaded.stdout
    listed = json.loads(mlops(clients, "datasets", "list", "--json").stdout)
    assert [(d["name"], d["row_count"]) for d in listed] == [("questions", 3)]
    assert "questions" in mlops(clients, "datasets", "list", "--kind", "eval").stdout

    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(jsonl(EVAL_ROW) + b"{oops\n")
    refused = mlops(clients, "datasets", "upload", str(bad))
    assert refused.returncode == 1
    assert "line 2:" in refused.stderr


@pytest.mark.parametrize("verb", ["approve", "reject"])
def test_a_decision_the_api_refuses_exits_1_with_its_reason(
    verb: str, clients: Clients, datasets: dict[str, int]
) -> None:
    """Deciding is shown end to end in tests/e2e/test_sdk_release.py (it needs a workflow waiting)."""
    with clients.as_("operator") as op:
        run_id = op.post("/runs", json=run_body(datasets)).json()["id"]
    not_approver = mlops(clients, verb, str(run_id), "--comment", "no")
    assert not_approver.returncode == 1
    assert "approver" in not_approver.stderr  # 403: this needs one of: approver
    nothing = mlops(clients, verb, str(run_id), "--comment", "no", role="approver")
    assert nothing.returncode == 1
    assert f"run {run_id}" in nothing.stderr


def test_models_list(clients: Clients, clean: None) -> None:
    listed = mlops(clients, "models", "list", "--json", role="viewer")
    assert listed.returncode == 0, listed.stderr
    assert isinstance(json.loads(listed.stdout), list)
    table = mlops(clients, "models", "list", role="viewer")
    assert "model" in table.stdout
    assert "versions" in table.stdout


def test_shell_completion_script(clients: Clients) -> None:
    shown = mlops_script(clients, "--show-completion", "bash", env={"SHELL": "/bin/bash"})
    assert shown.returncode == 0, shown.stderr
    assert "_MLOPS_COMPLETE" in shown.stdout
