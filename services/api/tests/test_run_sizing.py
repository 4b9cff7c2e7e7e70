"""POST /runs sizes a fine-tuning run against its GPU (mlops_contracts.gpu_sizing) and refuses one
that cannot fit with a 422 naming the estimate, the instance's memory and configurations that fit."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import psycopg

from mlops_contracts.gpu_sizing import KNOWN_SHAPES
from mlops_testkit.api import Clients, run_body

# A Mistral-7B-shaped bf16 LoRA, batch 4 x 1024 tokens, no gradient checkpointing (~47 GiB).
PLAIN_7B = {"batch_size": 4, "max_seq_length": 1024, "gradient_checkpointing": False, "qlora": False}


def runs(db: psycopg.Connection[Any]) -> int:
    row = db.execute("SELECT count(*) FROM pipeline_runs").fetchone()
    assert row is not None
    return int(row[0])


def test_a_7b_bf16_lora_on_a_t4_is_refused_naming_estimate_capacity_and_fixes(
    clients: Clients, datasets: dict[str, int], db: psycopg.Connection[Any]
) -> None:
    body = run_body(datasets, hyperparameters={**PLAIN_7B, "instance_type": "ml.g4dn.xlarge"})
    with clients.as_("operator") as op:
        response = op.post("/runs", json=body)
    assert response.status_code == 422, response.text
    message = response.text
    assert "estimated peak GPU memory 47.1 GiB" in message
    assert "ml.g4dn.xlarge (one NVIDIA T4, 15 GiB per GPU)" in message
    assert "13.5 GiB usable" in message
    assert "qlora=true, gradient_checkpointing=true" in message
    assert "instance_type=ml.p4de.24xlarge" in message
    assert runs(db) == 0


def test_the_same_run_is_accepted_with_qlora_or_on_an_instance_that_fits(
    clients: Clients, datasets: dict[str, int], db: psycopg.Connection[Any]
) -> None:
    qlora = {**PLAIN_7B, "instance_type": "ml.g4dn.xlarge", "qlora": True, "gradient_checkpointing": True}
    bigger = {**PLAIN_7B, "instance_type": "ml.p4de.24xlarge"}
    with clients.as_("operator") as op:
        for hyperparameters in (qlora, bigger):
            response = op.post("/runs", json=run_body(datasets, hyperparameters=hyperparameters))
            assert response.status_code == 201, response.text
            assert response.json()["hyperparameters"]["instance_type"] == hyperparameters["instance_type"]
        defaults = op.post("/runs", json=run_body(datasets))  # a 7B LoRA fits out of the box
        assert defaults.status_code == 201, defaults.text
        assert defaults.json()["hyperparameters"]["instance_type"] == "ml.g5.2xlarge"
    assert runs(db) == 3


def test_a_local_model_is_sized_from_its_config_json_and_unknown_ids_pass(
    clients: Clients, datasets: dict[str, int], tmp_path: Path
) -> None:
    (tmp_path / "config.json").write_text(json.dumps(KNOWN_SHAPES["mistralai/mistral-7b-v0.1"]))
    too_big = run_body(
        datasets, model_id=str(tmp_path), hyperparameters={**PLAIN_7B, "instance_type": "ml.g5.2xlarge"}
    )
    unknown = run_body(
        datasets,
        model_id="someone/unpublished-7b",
        hyperparameters={**PLAIN_7B, "instance_type": "ml.g4dn.xlarge"},
    )
    with clients.as_("operator") as op:
        refused = op.post("/runs", json=too_big)
        assert refused.status_code == 422, refused.text
        assert "does not fit ml.g5.2xlarge" in refused.text
        # nothing to size it from: the worker sizes it again from the downloaded config.json
        assert op.post("/runs", json=unknown).status_code == 201
        bad_type = op.post("/runs", json=run_body(datasets, hyperparameters={"instance_type": "ml.m5.large"}))
    assert bad_type.status_code == 422
    assert "instance_type 'ml.m5.large' is not a SageMaker GPU instance type" in bad_type.text
