"""POST /runs refuses a max_runtime_seconds the release workflow cannot wait for (its 7 days less the
other stages' waits, halved for the Spot wait; Terraform computes it, MAX_TRAINING_RUNTIME_SECONDS),
with a 422 naming the field, the limit and why; the OpenAPI document publishes the limit as the
field's maximum (the dashboard's launch form reads it)."""

from __future__ import annotations

from typing import Any

import psycopg

from mlops_api.app import create_app
from mlops_api.config import Settings
from mlops_testkit.api import Clients, run_body


def published_maximum(schema: dict[str, Any]) -> int:
    spec = schema["components"]["schemas"]["Hyperparameters"]["properties"]["max_runtime_seconds"]
    return int(spec["maximum"])


def test_a_run_at_the_limit_is_accepted_and_one_second_more_is_a_422_naming_field_and_limit(
    clients: Clients, datasets: dict[str, int], db: psycopg.Connection[Any]
) -> None:
    limit = Settings.model_fields["max_training_runtime_seconds"].default  # the test API's: unset
    with clients.as_("operator") as op:
        assert published_maximum(op.get("/openapi.json").json()) == limit
        over = op.post("/runs", json=run_body(datasets, hyperparameters={"max_runtime_seconds": limit + 1}))
        at = op.post("/runs", json=run_body(datasets, hyperparameters={"max_runtime_seconds": limit}))
    assert over.status_code == 422, over.text
    [error] = over.json()["detail"]
    assert error["loc"] == ["body", "hyperparameters", "max_runtime_seconds"]
    assert error["type"] == "less_than_equal"
    assert f"at most {limit} seconds ({limit / 3600:.1f} h)" in error["msg"]
    assert "release workflow times out after 7 days" in error["msg"]
    assert "twice the run time" in error["msg"]
    assert f"(got {limit + 1})" in error["msg"]
    assert at.status_code == 201, at.text
    assert at.json()["hyperparameters"]["max_runtime_seconds"] == limit
    row = db.execute("SELECT count(*) FROM pipeline_runs").fetchone()
    assert row == (1,)  # the refused run stored nothing


def test_the_setting_sets_the_published_maximum_under_the_schemas_own_cap() -> None:
    def maximum(**env: str) -> int:
        settings = Settings(DATABASE_URL="postgresql://unused/db", OUTBOX_RELAY_ENABLED="false", **env)
        return published_maximum(create_app(settings).openapi())

    assert maximum(MAX_TRAINING_RUNTIME_SECONDS="7200") == 7200
    assert maximum(MAX_TRAINING_RUNTIME_SECONDS=str(30 * 24 * 3600)) == 5 * 24 * 3600  # the schema's `le`
