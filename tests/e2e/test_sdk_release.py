"""The SDK and the CLI drive a release through the local stack (the Terraform-rendered workflow on
the emulator, the real projector and approval worker): launch -> wait -> approve -> approved."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

from mlops_client import Client, RunStatus
from mlops_testkit.release import Release


def test_sdk_launch_wait_then_cli_approve(release: Release) -> None:
    name = f"sdk-{uuid.uuid4().hex[:6]}"
    with Client(release.api.base_url, release.keys["operator"]) as client:
        run = client.runs.launch(
            model_name=name,
            model_id="mistralai/Mistral-7B-v0.1",
            experiment_name="e2e-sdk",
            train_dataset_id=release.datasets["train"],
            eval_dataset_id=release.datasets["eval"],
        )
        waiting = client.runs.wait(run.id, timeout=90, poll_interval=0.2)
        assert waiting.status is RunStatus.AWAITING_APPROVAL
        release.wait_for_approval(run.id)  # the approval worker registered the workflow's wait
        approval = client.approvals.get(run.id)
        assert approval.status == "pending"
        assert approval.ml_score == 0.82  # the simulated evaluation's score

        mlops = shutil.which("mlops", path=str(Path(sys.executable).parent))
        assert mlops
        env = {**os.environ, "MLOPS_API_URL": release.api.base_url, "MLOPS_API_KEY": release.keys["approver"]}
        decided = subprocess.run(
            [mlops, "approve", str(run.id), "--comment", "from the CLI", "--json"],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
        )
        assert decided.returncode == 0, decided.stderr
        assert json.loads(decided.stdout)["status"] == "approved"

        final = client.runs.wait(run.id, timeout=60, poll_interval=0.2, wait_for_decision=True)
    assert final.status is RunStatus.APPROVED
    assert release.package(name)["ModelApprovalStatus"] == "Approved"
