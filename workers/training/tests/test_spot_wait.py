"""The Spot wait stays within the release workflow's wait for training (#18.4): the workflow waits
twice the run time plus a margin, then stops the job, so the job may not wait longer for capacity."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from mlops_training.dispatch.sagemaker import SageMakerSettings


def test_a_spot_wait_factor_above_two_is_refused_naming_the_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRAINING_SPOT_WAIT_FACTOR", "2.5")
    with pytest.raises(ValidationError, match="TRAINING_SPOT_WAIT_FACTOR"):
        SageMakerSettings()


def test_the_default_spot_wait_is_twice_the_run_time(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TRAINING_SPOT_WAIT_FACTOR", raising=False)
    assert SageMakerSettings().spot_wait_factor == 2.0
