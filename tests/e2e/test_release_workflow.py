"""Every branch of the release workflow, end to end: POST /runs -> outbox -> EventBridge ->
Step Functions (the Terraform-rendered ASL on the emulator) -> SQS task tokens -> workers -> facts ->
projector -> the run in the API; the registry, the notifications and the archive checked each time."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import httpx
import pytest

from mlops_devstack.dev_signer import DevSignInServer
from mlops_testkit.people import approver_identity
from mlops_testkit.release import Release


def statuses(run: dict[str, Any]) -> list[str]:
    return [e["status"] for e in run["timeline"] if e["status"]]


def kinds(notes: list[dict[str, Any]]) -> list[str]:
    return sorted(n["kind"] for n in notes)


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


def test_finetune_pass_then_approve(release: Release) -> None:
    archived_before = release.archived_events()
    name = unique("rag-qa")
    run_id = release.launch(name)
    release.wait_for(run_id, "awaiting_approval")
    approval = release.wait_for_approval(run_id)
    assert approval["ml_score"] == pytest.approx(0.82)
    with release.client("approver") as approver:
        decided = approver.post(f"/runs/{run_id}/approve", json={"comment": "ship it"})
    assert decided.status_code == 200, decided.text

    run = release.wait_for(run_id, "approved")
    assert statuses(run) == ["pending", "training", "evaluating", "awaiting_approval", "approved"]
    assert "run.training_done" in [e["event_type"] for e in run["timeline"]]
    assert all(e["execution_arn"] == run["execution_arn"] for e in run["timeline"][1:] if e["execution_arn"])
    assert release.execution(run)["status"] == "SUCCEEDED"
    # The Deploy stage ran after the verdict (#20): the stand-in training wrote no model data, so
    # the deployment failed - on the run's timeline and the deployment's record - and the approval stands.
    deploy_failed = release.wait_for_step(run_id, "run.deployment_failed")
    assert "Deploy.StartFailed" in deploy_failed["reason"]
    assert "model data" in deploy_failed["reason"]
    with release.client("viewer") as viewer:
        [deployment] = viewer.get(f"/models/{name}/deployments").json()["items"]
    assert (deployment["status"], deployment["origin"], deployment["run_id"]) == ("failed", "release", run_id)

    package = release.package(name)
    assert package["ModelApprovalStatus"] == "Approved"
    assert package["metadata"]["deployment_status"] == "go_prod"
    assert package["metadata"]["validation"] == "validated"
    assert package["metadata"]["run_id"] == str(run_id)
    assert package["metadata"]["lifecycle"] == "finetuned"
    assert package["metadata"]["ml_score_threshold"] == "0.7"
    assert package["metadata"]["approver"]
    # deployable: the serving image with the fine-tuned artifact
    [container] = package["InferenceSpecification"]["Containers"]
    assert container["Image"]
    assert container["ModelDataUrl"].startswith("s3://")

    assert kinds(release.notifications(run_id, expect=2)) == ["approval_requested", "approved"]
    with release.client("viewer") as viewer:
        audit = viewer.get(f"/runs/{run_id}/audit").json()
    assert any(
        row.get("comment") == "ship it" for row in (audit if isinstance(audit, list) else audit["items"])
    )
    # run.created + 4 workflow facts (training started/done, evaluation started, eval passed, approved)
    assert release.archived_events() - archived_before >= 6


def test_pass_then_human_reject(release: Release) -> None:
    name = unique("rag-qa")
    run_id = release.launch(name)
    release.wait_for(run_id, "awaiting_approval")
    release.wait_for_approval(run_id)
    with release.client("approver") as approver:
        refused = approver.post(f"/runs/{run_id}/reject", json={"comment": ""})
        assert refused.status_code == 422  # rejecting needs a reason
        # a comment longer than the package's ApprovalDescription may be (1,024): the API keeps it whole
        long_comment = "hallucinates on dosage " + "x" * 3000
        decided = approver.post(f"/runs/{run_id}/reject", json={"comment": long_comment})
    assert decided.status_code == 200, decided.text
    run = release.wait_for(run_id, "rejected")
    assert statuses(run)[-2:] == ["awaiting_approval", "rejected"]
    assert "hallucinates on dosage" in (run["status_reason"] or "")
    package = release.package(name)
    assert package["ModelApprovalStatus"] == "Rejected"
    assert package["metadata"]["deployment_status"] == "rejected"
    assert package["metadata"]["validation"] == "rejected"
    assert package["ApprovalDescription"].startswith("rejected by ")
    assert len(package["ApprovalDescription"]) <= 1024
    assert kinds(release.notifications(run_id, expect=2)) == ["approval_requested", "rejected"]


def test_below_threshold_is_rejected_without_asking(release: Release) -> None:
    name = unique("rag-qa") + "-below"
    run_id = release.launch(name)
    run = release.wait_for(run_id, "rejected")
    assert statuses(run) == ["pending", "training", "evaluating", "rejected"]
    assert "below threshold" in (run["status_reason"] or "")
    package = release.package(name)
    assert package["ModelApprovalStatus"] == "Rejected"
    assert package["metadata"]["deployment_status"] == "rejected"
    assert package["metadata"]["ml_score"] == "0.55"
    assert kinds(release.notifications(run_id, expect=1)) == ["auto_rejected"]
    with release.client("viewer") as viewer:
        assert viewer.get(f"/runs/{run_id}/approval").status_code in (404, 409)


def test_training_failure_fails_the_run_and_registers_nothing(release: Release) -> None:
    name = unique("rag-qa") + "-train-fails"
    run_id = release.launch(name)
    run = release.wait_for(run_id, "failed")
    assert statuses(run) == ["pending", "training", "failed"]
    assert "training failed" in (run["status_reason"] or "")
    assert release.execution(run)["status"] == "FAILED"
    groups = release.stack.client("sagemaker").list_model_package_groups()["ModelPackageGroupSummaryList"]
    assert name not in {g["ModelPackageGroupName"] for g in groups}
    assert kinds(release.notifications(run_id, expect=1)) == ["failed"]


def test_evaluation_failure_fails_the_run_and_rejects_the_candidate(release: Release) -> None:
    name = unique("rag-qa") + "-eval-fails"
    run_id = release.launch(name)
    run = release.wait_for(run_id, "failed")
    assert statuses(run) == ["pending", "training", "evaluating", "failed"]
    assert "evaluation failed" in (run["status_reason"] or "")
    assert release.package(name)["ModelApprovalStatus"] == "Rejected"  # never left pending
    assert kinds(release.notifications(run_id, expect=1)) == ["failed"]


def test_eval_only_skips_training(release: Release) -> None:
    name = unique("base-model")
    run_id = release.launch(name, task_type="eval_only")
    release.wait_for(run_id, "awaiting_approval")
    release.wait_for_approval(run_id)
    with release.client("approver") as approver:
        assert approver.post(f"/runs/{run_id}/approve", json={"comment": "base is fine"}).status_code == 200
    run = release.wait_for(run_id, "approved")
    assert statuses(run) == ["pending", "evaluating", "awaiting_approval", "approved"]
    assert not any("training" in e["event_type"] for e in run["timeline"])
    package = release.package(name)
    assert package["metadata"]["lifecycle"] == "base"
    [container] = package["InferenceSpecification"]["Containers"]
    assert "ModelDataUrl" not in container  # the base model is loaded by its HF_MODEL_ID
    assert package["ModelApprovalStatus"] == "Approved"


def test_no_decision_before_the_timeout_is_a_rejection(release: Release) -> None:
    """envs/local is applied with a 12 s approval timeout in tests (72 h by default)."""
    name = unique("rag-qa")
    run_id = release.launch(name)
    release.wait_for(run_id, "awaiting_approval")
    release.wait_for_approval(run_id)
    run = release.wait_for(run_id, "rejected", timeout=60)
    assert "timeout" in (run["status_reason"] or "")
    package = release.package(name)
    assert package["ModelApprovalStatus"] == "Rejected"
    assert package["metadata"]["approver"] == "timeout"
    with release.client("approver") as approver:
        late = approver.post(f"/runs/{run_id}/approve", json={"comment": "too late"})
    assert late.status_code in (409, 410)
    with release.client("viewer") as viewer:
        audit = viewer.get(f"/runs/{run_id}/audit").json()
    rows = audit if isinstance(audit, list) else audit["items"]
    assert any(row.get("via") == "timeout" for row in rows)


def test_every_fact_delivered_twice_changes_nothing(release: Release) -> None:
    name = unique("rag-qa") + "-below"
    run_id = release.launch(name)
    before = release.wait_for(run_id, "rejected")
    time.sleep(1)
    facts = release.facts(run_id)
    assert {f["detail-type"] for f in facts} >= {"run.training_started", "run.eval_rejected"}
    sqs = release.stack.client("sqs")
    for fact in facts * 2:
        sqs.send_message(QueueUrl=release.stack.env["RUN_EVENTS_QUEUE_URL"], MessageBody=json.dumps(fact))
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        attributes = sqs.get_queue_attributes(
            QueueUrl=release.stack.env["RUN_EVENTS_QUEUE_URL"],
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        if attributes == {"ApproximateNumberOfMessages": "0", "ApproximateNumberOfMessagesNotVisible": "0"}:
            break
        time.sleep(0.2)
    after = release.run(run_id)
    assert after["status"] == before["status"] == "rejected"
    assert after["timeline"] == before["timeline"]


def test_a_poison_event_lands_in_the_dlq(release: Release) -> None:
    sqs = release.stack.client("sqs")
    url, dlq = release.stack.env["RUN_EVENTS_QUEUE_URL"], release.stack.env["RUN_EVENTS_DLQ_URL"]
    visibility = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["VisibilityTimeout"])["Attributes"]
    # Test-only: a short visibility timeout so the three failed receives take seconds, not minutes.
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"VisibilityTimeout": "1"})
    time.sleep(2.5)  # a receive already long-polling keeps the visibility it started with
    try:
        poison = {
            "id": "poison",
            "detail-type": "run.training_started",
            "source": "mlops.workflow",
            "time": "2026-11-23T10:00:00Z",
            "detail": {"run_id": 987654321},
        }
        sqs.send_message(QueueUrl=url, MessageBody=json.dumps(poison))
        deadline = time.monotonic() + 45
        parked: list[dict[str, Any]] = []
        while time.monotonic() < deadline and not parked:
            parked = sqs.receive_message(QueueUrl=dlq, WaitTimeSeconds=1).get("Messages", [])
        assert parked, "the poison event never reached the DLQ"
        assert json.loads(parked[0]["Body"])["id"] == "poison"
    finally:
        sqs.set_queue_attributes(
            QueueUrl=url, Attributes={"VisibilityTimeout": visibility["VisibilityTimeout"]}
        )


def test_run_created_delivered_again_starts_no_second_workflow(release: Release) -> None:
    """At-least-once delivery of run.created: the same event put on the bus again, and a publish the
    outbox repeats because its client timed out while the bus had accepted it. Each starts an
    execution; the one that claimed the run works, the others end at once and record nothing."""
    import psycopg

    from mlops_testkit.api import libpq

    name = unique("rag-qa") + "-below"
    run_id = release.launch(name)
    first = release.wait_for(run_id, "training", "evaluating", "rejected")
    owner = first["execution_arn"]
    with psycopg.connect(libpq(release.database_url), autocommit=True) as db:
        row = db.execute(
            "SELECT id, source, event_type, detail FROM outbox WHERE event_type = 'run.created' "
            "AND (detail->>'run_id')::bigint = %s",
            (run_id,),
        ).fetchone()
        assert row is not None
        outbox_id, source, detail_type, detail = row
        # the same event published twice
        release.stack.client("events").put_events(
            Entries=[
                {
                    "EventBusName": release.stack.env["EVENT_BUS_NAME"],
                    "Source": source,
                    "DetailType": detail_type,
                    "Detail": json.dumps(detail),
                }
            ]
        )
        # the relay's client timed out after the bus accepted: the row was never marked sent
        db.execute("UPDATE outbox SET sent_at = NULL WHERE id = %s", (outbox_id,))

    run = release.wait_for(run_id, "rejected")
    sfn = release.stack.client("stepfunctions")
    deadline = time.monotonic() + 30
    while True:
        mine = [
            sfn.describe_execution(executionArn=e["executionArn"])
            for e in sfn.list_executions(stateMachineArn=release.stack.env["STATE_MACHINE_ARN"])["executions"]
        ]
        mine = [
            e
            for e in mine
            if json.loads(e["input"])["detail"].get("run_id") == run_id
            and json.loads(e["input"])["detail"]["payload"]["model_name"] == name
        ]
        if (len(mine) == 3 and all(e["status"] != "RUNNING" for e in mine)) or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert len(mine) == 3, [e["executionArn"] for e in mine]
    assert run["execution_arn"] == owner
    for execution in mine:
        entered = [
            (e.get("stateEnteredEventDetails") or {}).get("name")
            for e in sfn.get_execution_history(executionArn=execution["executionArn"])["events"]
            if e["type"].endswith("StateEntered")
        ]
        if execution["executionArn"] == owner:
            assert "StartTraining" in entered
        else:
            assert execution["status"] == "SUCCEEDED"
            assert entered == ["Route", "Init", "ClaimRun", "OwnsTheRun", "DuplicateExecution"]
    # one candidate, one verdict, one timeline: nothing from the duplicates
    sm = release.stack.client("sagemaker")
    assert len(sm.list_model_packages(ModelPackageGroupName=name)["ModelPackageSummaryList"]) == 1
    assert all(e["execution_arn"] in (None, owner) for e in release.run(run_id)["timeline"])
    assert statuses(run) == ["pending", "training", "evaluating", "rejected"]


def test_no_log_line_of_a_release_holds_an_approval_token(
    release: Release, dev_sign_in: DevSignInServer
) -> None:
    """The links travel in the Teams card only: the access log (every path), the API's own lines and
    the workers' lines of a whole release (request, link opened, decision by link) hold no token."""
    name = unique("rag-qa")
    run_id = release.launch(name)
    release.wait_for(run_id, "awaiting_approval")
    release.wait_for_approval(run_id)
    [card] = [n for n in release.notifications(run_id, expect=1) if n["kind"] == "approval_requested"]
    tokens = [card[key].rsplit("/", 1)[-1] for key in ("approve_url", "reject_url")]
    assert all(len(token) > 20 for token in tokens)
    with httpx.Client(timeout=30, headers=approver_identity(dev_sign_in)) as browser:  # a signed-in approver
        assert browser.get(card["approve_url"]).status_code == 200  # the confirmation page
        decided = browser.post(card["approve_url"], data={"name": "Ada Lovelace"})
    assert decided.status_code == 200, decided.text
    release.wait_for(run_id, "approved")

    api_log, runner_log = release.api.log(), release.runner_log.read_text()
    assert f"/runs/{run_id}/approval-links/[redacted]" in api_log  # the access log saw the link
    for token in tokens:
        assert token not in api_log
        assert token not in runner_log
