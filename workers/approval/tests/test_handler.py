"""The approval queue's consumer against the live API, the emulator's SNS and a real execution waiting
on its task token: register, notify, and the card's link decides; failures stay per record."""

from __future__ import annotations

import json
from typing import Any

import psycopg
import pytest

from mlops_approval import handler as approval_handler
from mlops_approval import teams
from mlops_contracts.aws import aws_client
from mlops_devstack.emulator import Emulator
from mlops_testkit.api import Clients, run_body
from mlops_testkit.servers import WaitingTask

SCORES = {"faithfulness": 0.91, "answer_relevancy": 0.84, "context_precision": 0.8, "context_recall": 0.64}


def awaiting_run(clients: Clients, datasets: dict[str, int]) -> int:
    with clients.as_("operator") as op:
        run_id = int(op.post("/runs", json=run_body(datasets)).json()["id"])
    with clients.as_("projector") as svc:
        for status in ("evaluating", "awaiting_approval"):
            assert svc.patch(f"/runs/{run_id}/status", json={"status": status}).status_code == 200
    return run_id


def asl_message(run_id: int, token: str, **overrides: Any) -> str:
    """The body WaitForHumanApproval sends to the approval queue."""
    body = {
        "task_token": token,
        "run_id": run_id,
        "model_name": "mistral-7b-rag-qa",
        "model_id": "mistralai/Mistral-7B-v0.1",
        "ml_score": 0.8125,
        "scores": SCORES,
        "ml_score_threshold": 0.7,
        "model_package_arn": f"arn:aws:sagemaker:eu-west-1:123456789012:model-package/mistral-7b-rag-qa/{run_id}",
        "timeout_seconds": 259200,
        "execution_arn": f"arn:aws:states:eu-west-1:123456789012:execution:release:run-{run_id}",
        **overrides,
    }
    return json.dumps(body)


def test_an_approval_request_becomes_a_teams_card_whose_link_decides(
    service_api: Clients,
    datasets: dict[str, int],
    topic: Any,
    teams_env: Any,
    waiting_task: WaitingTask,
    card_schema: Any,
    sqs_event: Any,
    db: psycopg.Connection[Any],
) -> None:
    run_id = awaiting_run(service_api, datasets)
    event = sqs_event(asl_message(run_id, waiting_task.token))
    assert approval_handler.handler(event, None) == {"batchItemFailures": []}
    assert approval_handler.handler(event, None) == {"batchItemFailures": []}  # redelivered
    count = db.execute("SELECT count(*) FROM approvals WHERE run_id = %s", (run_id,)).fetchone()
    assert count is not None
    assert count[0] == 1

    records = topic.receive(expect=2)
    assert len(records) == 2  # at-least-once: a redelivery may notify twice, never register twice
    envelope = json.loads(records[0]["body"])
    assert envelope["MessageAttributes"]["kind"] == {"Type": "String", "Value": "approval_requested"}
    message = json.loads(envelope["Message"])
    assert waiting_task.token not in envelope["Message"]  # the token never leaves the API
    assert message["kind"] == "approval_requested"
    assert message["run_id"] == run_id
    assert message["approve_url"].startswith(f"{service_api.base_url}/runs/{run_id}/approval-links/")

    assert teams.handler({"Records": records[:1]}, None) == {"batchItemFailures": []}
    assert len(teams_env.requests) == 1
    posted = teams_env.requests[0]
    assert posted["path"].startswith("/webhookb2/")
    assert posted["headers"]["Content-Type"] == "application/json"
    assert posted["json"]["type"] == "message"
    attachment = posted["json"]["attachments"][0]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    card = attachment["content"]
    card_schema(card)
    assert card["version"] == "1.4"
    facts = {f["title"]: f["value"] for f in card["body"][2]["facts"]}
    assert facts["Run"] == f"#{run_id}"
    assert facts["MLScore"] == "0.812 ≥ 0.70 (pass)"
    metrics = {f["title"]: f["value"] for f in card["body"][4]["facts"]}
    assert metrics["context_recall"] == "0.640 < 0.70 (below)"
    assert [(a["title"], a["url"]) for a in card["actions"]] == [
        ("Approve", message["approve_url"]),
        ("Reject", message["reject_url"]),
        ("Open in dashboard", f"https://mlops.example.com/dashboard/?run_id={run_id}"),
    ]

    # the approver clicks Approve in Teams (signed in at the load balancer): a confirmation page, then
    # the confirming POST decides, in her name
    with service_api.person("ada") as browser:
        page = browser.get(message["approve_url"])
        assert page.status_code == 200
        status = aws_client("stepfunctions").describe_execution(executionArn=waiting_task.execution_arn)[
            "status"
        ]
        assert status == "RUNNING"  # opening the link decided nothing
        done = browser.post(message["approve_url"], data={"name": "Alice"})
    assert done.status_code == 200, done.text
    execution = waiting_task.result()
    assert execution["status"] == "SUCCEEDED"
    assert json.loads(execution["output"]) == {
        "approved": True,
        "approver": "ada@example.com",
        "registry_approver": "ada@example.com",
        "comment": "",
    }


def test_failures_are_per_record_and_a_refused_request_fails_its_task(
    service_api: Clients,
    datasets: dict[str, int],
    topic: Any,
    emulator: Emulator,
    waiting_task: WaitingTask,
    sqs_event: Any,
) -> None:
    run_id = awaiting_run(service_api, datasets)
    orphan = WaitingTask(emulator, "orphan-approval")  # its run does not exist
    event = sqs_event(
        asl_message(run_id, waiting_task.token),
        "{not json",
        json.dumps({"run_id": run_id}),  # no token: cannot even be failed
        asl_message(999999, orphan.token),
    )
    response = approval_handler.handler(event, None)
    failed = {f["itemIdentifier"] for f in response["batchItemFailures"]}
    ids = [r["messageId"] for r in event["Records"]]
    assert failed == {ids[1], ids[2]}
    # the API refused the orphan for good (404): its workflow stops waiting at once
    ended = orphan.result()
    assert ended["status"] == "FAILED"
    assert ended["error"] == "ApprovalRequestRefused"
    assert len(topic.receive(expect=1)) == 1  # only the good request was announced


def test_a_worker_without_its_topic_changes_nothing(
    service_api: Clients,
    datasets: dict[str, int],
    monkeypatch: pytest.MonkeyPatch,
    db: psycopg.Connection[Any],
) -> None:
    monkeypatch.delenv("NOTIFICATIONS_TOPIC_ARN", raising=False)
    run_id = awaiting_run(service_api, datasets)
    with pytest.raises(RuntimeError, match="NOTIFICATIONS_TOPIC_ARN is not set"):
        approval_handler.request_approval(
            approval_handler.ApprovalRequest.model_validate_json(asl_message(run_id, "token-x")),
            approval_handler.ApprovalWorkerSettings(),
        )
    count = db.execute("SELECT count(*) FROM approvals WHERE run_id = %s", (run_id,)).fetchone()
    assert count is not None
    assert count[0] == 0
