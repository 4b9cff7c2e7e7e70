"""Which buckets a run's s3:// model_id may come from (POST /runs refuses the others)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from mlops_api.config import Settings
from mlops_api.errors import Unprocessable
from mlops_api.runs import model_source


def test_model_source_buckets_adds_readable_buckets() -> None:
    settings = Settings(
        DATASETS_BUCKET="data", MODEL_OUTPUTS_BUCKET="outputs", MODEL_SOURCE_BUCKETS="team-models,outputs"
    )
    assert settings.readable_model_buckets == ("data", "outputs", "team-models")
    model_source.require_readable("s3://team-models/llama/", settings.readable_model_buckets)
    model_source.require_readable("mistralai/Mistral-7B-v0.1", settings.readable_model_buckets)
    with pytest.raises(Unprocessable, match="readable buckets: data, outputs, team-models"):
        model_source.require_readable("s3://other/llama/", settings.readable_model_buckets)
    with pytest.raises(ValidationError, match="MODEL_SOURCE_BUCKETS"):
        Settings(MODEL_SOURCE_BUCKETS="Team_Models")
