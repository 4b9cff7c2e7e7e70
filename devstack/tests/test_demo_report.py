"""The demo report's training line reads the training result recorded on the run (#17.4)."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from mlops_devstack.demo.flow import training_metrics
from mlops_devstack.demo.report import print_training

pytestmark = pytest.mark.unit

RECORDED = {
    "train_loss": 0.5,
    "train_steps": 4.0,
    "train_runtime_seconds": 3.2,
    "epoch_1_loss": 1.25,
    "epoch_2_loss": 0.5,
    "history": [{"step": s, "train_loss": 1.5 - 0.25 * s} for s in range(1, 5)],
}


def test_the_recorded_training_result_is_preferred_and_its_history_reported() -> None:
    done = {"event_type": "run.training_done", "data": {"metrics": {"train_loss": 0.42}}}
    run = {"results": [{"stage": "training", "metrics": RECORDED}], "timeline": [done]}
    assert training_metrics(run) == RECORDED
    out = io.StringIO()
    print_training(Console(file=out, width=200), run)
    assert out.getvalue().strip() == (
        "Training: 4 steps in 3.2s, loss by epoch 1.250 -> 0.500, loss history of 4 points recorded on the run"
    )
    # before the result is recorded: the workflow's training_done step
    assert training_metrics({"results": [], "timeline": [done]}) == {"train_loss": 0.42}
