"""Cancelling a run through the whole platform (#18.5): POST /runs/{id}/cancel on a run that the
release workflow is executing aborts the execution, and a run cancelled while it waits for a person
has dead approval links."""

from __future__ import annotations

import time
import uuid

import httpx

from mlops_devstack.dev_signer import DevSignInServer
from mlops_testkit.people import approver_identity
from mlops_testkit.release import Release


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


def test_a_run_cancelled_during_training_ends_cancelled_and_its_execution_aborted(release: Release) -> None:
    run_id = release.launch(unique("rag-qa") + "-train-waits")  # the training task never answers
    run = release.wait_for(run_id, "training")
    assert run["execution_arn"]

    with release.client("operator") as operator:
        cancelled = operator.post(f"/runs/{run_id}/cancel", json={"reason": "wrong base model"})
    assert cancelled.status_code == 200, cancelled.text

    sfn = release.stack.client("stepfunctions")
    described = sfn.describe_execution(executionArn=run["execution_arn"])
    assert described["status"] == "ABORTED"
    assert described["stopDate"]
    time.sleep(3)  # what the workflow and the projector still deliver changes nothing
    run = release.run(run_id)
    assert run["status"] == "cancelled"
    assert run["status_reason"].endswith(": wrong base model")
    [cleanup] = [e for e in run["timeline"] if e["event_type"] == "run.cancel_cleanup"]
    steps = {step["action"]: step["outcome"] for step in cleanup["data"]["steps"]}
    # the e2e training handler starts no SageMaker job; the package is created after training
    assert steps == {"StopExecution": "done", "StopTrainingJob": "nothing", "UpdateModelPackage": "nothing"}


def test_a_run_cancelled_while_awaiting_approval_has_dead_links_and_a_rejected_candidate(
    release: Release, dev_sign_in: DevSignInServer
) -> None:
    name = unique("rag-qa")
    run_id = release.launch(name)
    release.wait_for(run_id, "awaiting_approval")
    release.wait_for_approval(run_id)
    [card] = [n for n in release.notifications(run_id, expect=1) if n["kind"] == "approval_requested"]

    with release.client("approver") as approver:
        cancelled = approver.post(f"/runs/{run_id}/cancel", json={"reason": "superseded by a newer run"})
    assert cancelled.status_code == 200, cancelled.text

    with httpx.Client(timeout=30, headers=approver_identity(dev_sign_in)) as browser:  # a signed-in approver
        assert browser.get(card["approve_url"]).status_code == 410
        assert browser.post(card["reject_url"], data={"name": "Ada Lovelace"}).status_code == 410
    run = release.run(run_id)
    assert run["status"] == "cancelled"
    assert release.execution(run)["status"] == "ABORTED"
    package = release.package(name)
    assert package["ModelApprovalStatus"] == "Rejected"
    assert package["metadata"]["deployment_status"] == "cancelled"
    assert package["ApprovalDescription"].endswith(": superseded by a newer run")
