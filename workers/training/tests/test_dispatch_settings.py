"""A bad setting stops the training dispatcher with a message naming the variable."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from pydantic import ValidationError

from mlops_training.dispatch.settings import DispatcherSettings


@pytest.mark.parametrize(
    ("variable", "value"), [("TRAINING_BACKEND", "batch"), ("TRAINING_HEARTBEAT_SECONDS", "soon")]
)
def test_a_bad_value_is_named(monkeypatch: pytest.MonkeyPatch, variable: str, value: str) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ValidationError, match=variable):
        DispatcherSettings()


@pytest.mark.integration  # a Python process of its own
def test_a_bad_value_stops_the_cold_start() -> None:
    env = {**os.environ, "TRAINING_HEARTBEAT_SECONDS": "0"}
    started = subprocess.run(
        [sys.executable, "-c", "import mlops_training.dispatch.handler"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert started.returncode != 0
    assert "TRAINING_HEARTBEAT_SECONDS" in started.stderr


def test_the_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    for variable in ("TRAINING_BACKEND", "TRAINING_HEARTBEAT_SECONDS"):
        monkeypatch.delenv(variable, raising=False)
    settings = DispatcherSettings()
    assert (settings.training_backend, settings.heartbeat_seconds) == ("sagemaker", 60.0)
