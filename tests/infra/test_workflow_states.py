"""Static rules of the release workflow's states (#18): heartbeats below timeouts, no heartbeat on a
wait that starts before its work can (a queued message, a Spot job waiting for capacity), and every
registry or training-job call caught, so a refused request fails the run loudly instead of the
execution."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "terraform" / "templates" / "release_workflow.asl.json"


def _definition() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(re.sub(r"\$\{(\w+)\}", "7", TEMPLATE.read_text()))
    return loaded


def _states(machine: dict[str, Any], caught: bool = False) -> Iterator[tuple[str, dict[str, Any], bool]]:
    """Every state, with whether an enclosing Parallel or Map catches its errors."""
    for name, state in machine["States"].items():
        yield name, state, caught
        inner_caught = caught or bool(state.get("Catch"))
        for branch in state.get("Branches", []):
            yield from _states(branch, inner_caught)
        if "Iterator" in state or "ItemProcessor" in state:
            yield from _states(state.get("ItemProcessor") or state["Iterator"], inner_caught)


def test_every_heartbeat_is_below_its_timeout() -> None:
    for name, state, _ in _states(_definition()):
        if "HeartbeatSeconds" in state:
            assert isinstance(state.get("TimeoutSeconds"), int), f"{name}: a heartbeat needs a fixed timeout"
            assert state["HeartbeatSeconds"] < state["TimeoutSeconds"], name


def test_no_heartbeat_on_waits_that_queue_before_work_starts() -> None:
    """The heartbeat clock starts when the message is sent: a training job waiting for Spot
    capacity and an evaluation waiting for a free worker (concurrency 2) send none."""
    states = _definition()["States"]
    for name in ("StartTraining", "StartEvaluation"):
        assert "HeartbeatSeconds" not in states[name], name
        assert "HeartbeatSecondsPath" not in states[name], name
    assert states["StartTraining"]["TimeoutSecondsPath"] == "$.training_timeout_seconds"
    # twice the run time (the Spot wait, MaxWaitTimeInSeconds) plus the margin
    run = "$.detail.data.hyperparameters.max_runtime_seconds"
    assert states["Init"]["Parameters"]["training_timeout_seconds.$"] == (
        f"States.MathAdd(States.MathAdd({run}, {run}), 7)"
    )


def test_every_sagemaker_call_is_caught() -> None:
    uncaught = [
        name
        for name, state, caught in _states(_definition())
        if str(state.get("Resource", "")).startswith("arn:aws:states:::aws-sdk:sagemaker:")
        and not (state.get("Catch") or caught)
    ]
    assert uncaught == []


def test_a_failed_training_wait_stops_the_runs_jobs_before_recording_the_failure() -> None:
    states = _definition()["States"]
    assert [c["Next"] for c in states["StartTraining"]["Catch"]] == ["FindRunningTrainingJobs"]
    stop = states["StopTrainingJobs"]["Iterator"]["States"]["StopTrainingJob"]
    assert stop["Resource"] == "arn:aws:states:::aws-sdk:sagemaker:stopTrainingJob"
    assert states["EmitTrainingJobStopped"]["Next"] == "TrainingFailed"
