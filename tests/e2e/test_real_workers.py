"""The release workflow with the real workers: the training dispatcher's local backend fine-tunes a
tiny model built offline (loaded through from_pretrained, as a hub model would be), and the
evaluation worker scores the candidate with JUDGE=local. Then a person approves it."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlops_devstack.tiny_model import build_tiny_model
from mlops_testkit.api import EVAL_ROW, QA_ROW
from mlops_testkit.release import Release


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    texts = [" ".join(str(v) for v in row.values()) for row in (QA_ROW, EVAL_ROW)] * 50
    return build_tiny_model(tmp_path_factory.mktemp("models") / "tiny", texts)


def test_finetune_with_the_real_workers(real_release: Release, tiny_model: Path) -> None:
    run_id = real_release.launch(
        "tiny-rag-qa",
        model_id=str(tiny_model),
        hyperparameters={"epochs": 2, "batch_size": 2, "max_seq_length": 64, "learning_rate": 0.005},
        ml_score_threshold=0.0,  # the offline judge's scores are not comparable to an LLM judge's
    )
    real_release.wait_for(run_id, "awaiting_approval", timeout=240)
    real_release.wait_for_approval(run_id)
    with real_release.client("approver") as approver:
        assert approver.post(f"/runs/{run_id}/approve", json={"comment": "tiny but fine"}).status_code == 200
    run = real_release.wait_for(run_id, "approved")

    done = next(e for e in run["timeline"] if e["event_type"] == "run.training_done")
    artifact = done["data"]["artifact_uri"]
    assert artifact.endswith("/model.tar.gz")
    bucket, key = artifact.removeprefix("s3://").split("/", 1)
    assert real_release.stack.client("s3").head_object(Bucket=bucket, Key=key)["ContentLength"] > 0

    [evaluation] = [r for r in run["results"] if r["stage"] == "evaluation"]
    assert 0.0 <= evaluation["ml_score"] <= 1.0
    assert evaluation["passed"] is True
    package = real_release.package("tiny-rag-qa")
    assert package["ModelApprovalStatus"] == "Approved"
    assert package["metadata"]["deployment_status"] == "go_prod"
