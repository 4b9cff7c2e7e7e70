"""The Teams formatter: every notification kind of `mlops-notifications`, published through the
emulator's SNS to the formatter's queue, becomes an Adaptive Card posted to a local HTTP server
standing in for Teams; the cards are validated and checked field by field."""

from __future__ import annotations

import io
import json
import logging
from typing import Any

import pytest
from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError

from mlops_approval import teams
from mlops_approval.messages import Notification
from mlops_approval.settings import TeamsSettings
from mlops_contracts.aws import aws_client
from mlops_contracts.logs import build_handler

SCORES = {"faithfulness": 0.72, "answer_relevancy": 0.55, "context_precision": 0.6, "context_recall": 0.58}
PACKAGE = "arn:aws:sagemaker:eu-west-1:123456789012:model-package/mistral-7b-rag-qa/3"
COMMON = {
    "run_id": 42,
    "model_name": "mistral-7b-rag-qa",
    "model_id": "mistralai/Mistral-7B-v0.1",
    "model_package_arn": PACKAGE,
    "execution_arn": "arn:aws:states:eu-west-1:123456789012:execution:release:run-42",
    "ml_score_threshold": 0.7,
}
DASHBOARD = ("Open in dashboard", "https://mlops.example.com/dashboard/?run_id=42")

# kind -> (message as published, expected title, expected facts, expected actions)
CASES: dict[str, tuple[dict[str, Any], str, dict[str, str], list[tuple[str, str]]]] = {
    "approval_requested": (
        {
            **COMMON,
            "ml_score": 0.8125,
            "scores": {**SCORES, "answer_relevancy": 0.9},
            "expires_at": "2026-11-26T10:00:00+00:00",
            "approve_url": "https://api.mlops.example.com/runs/42/approval-links/approve-token",
            "reject_url": "https://api.mlops.example.com/runs/42/approval-links/reject-token",
        },
        "Approval requested: mistral-7b-rag-qa",
        {
            "Model": "mistral-7b-rag-qa",
            "Run": "#42",
            "Base model": "mistralai/Mistral-7B-v0.1",
            "MLScore": "0.812 ≥ 0.70 (pass)",
            "Threshold": "0.70",
            "Model package": PACKAGE,
            "Decide before": "2026-11-26 10:00 UTC",
        },
        [
            ("Approve", "https://api.mlops.example.com/runs/42/approval-links/approve-token"),
            ("Reject", "https://api.mlops.example.com/runs/42/approval-links/reject-token"),
            DASHBOARD,
        ],
    ),
    "auto_rejected": (
        {**COMMON, "ml_score": 0.6125, "scores": SCORES},
        "Rejected automatically: mistral-7b-rag-qa",
        {
            "Model": "mistral-7b-rag-qa",
            "Run": "#42",
            "Base model": "mistralai/Mistral-7B-v0.1",
            "MLScore": "0.613 < 0.70 (below)",
            "Threshold": "0.70",
            "Model package": PACKAGE,
        },
        [DASHBOARD],
    ),
    "approved": (
        {
            **COMMON,
            "ml_score": 0.8125,
            "scores": {},
            "approval": {"approved": True, "approver": "alice", "comment": "ship it"},
        },
        "Approved for production: mistral-7b-rag-qa",
        {
            "Model": "mistral-7b-rag-qa",
            "Run": "#42",
            "Base model": "mistralai/Mistral-7B-v0.1",
            "MLScore": "0.812 ≥ 0.70 (pass)",
            "Threshold": "0.70",
            "Model package": PACKAGE,
            "Decided by": "alice",
            "Comment": "ship it",
        },
        [DASHBOARD],
    ),
    "rejected": (
        {
            **COMMON,
            "ml_score": 0.8125,
            "approval": {"approved": False, "approver": "timeout", "comment": "approval timed out"},
        },
        "Rejected: mistral-7b-rag-qa",
        {
            "Model": "mistral-7b-rag-qa",
            "Run": "#42",
            "Base model": "mistralai/Mistral-7B-v0.1",
            "MLScore": "0.812 ≥ 0.70 (pass)",
            "Threshold": "0.70",
            "Model package": PACKAGE,
            "Decided by": "timeout",
            "Comment": "approval timed out",
        },
        [DASHBOARD],
    ),
    "failed": (
        {
            "run_id": 42,
            "model_name": "mistral-7b-rag-qa",
            "error": "TrainingFailed",
            "cause": "CUDA out of memory",
        },
        "Run failed: mistral-7b-rag-qa",
        {"Model": "mistral-7b-rag-qa", "Run": "#42", "Error": "TrainingFailed - CUDA out of memory"},
        [DASHBOARD],
    ),
}


def publish(topic_arn: str, kind: str, message: dict[str, Any]) -> None:
    """As the workflow's sns:publish does: the kind is a message attribute."""
    aws_client("sns").publish(
        TopicArn=topic_arn,
        Message=json.dumps(message),
        MessageAttributes={"kind": {"DataType": "String", "StringValue": kind}},
    )


def test_every_notification_kind_becomes_a_valid_card(topic: Any, teams_env: Any, card_schema: Any) -> None:
    for kind, (message, *_rest) in CASES.items():
        publish(topic.arn, kind, message)
    records = topic.receive(expect=len(CASES))
    assert len(records) == len(CASES)
    assert teams.handler({"Records": records}, None) == {"batchItemFailures": []}

    posted = {
        r["json"]["attachments"][0]["content"]["body"][0]["text"]: r["json"] for r in teams_env.requests
    }
    assert len(posted) == len(CASES)
    for kind, (message, title, facts, actions) in CASES.items():
        payload = posted[title]
        assert payload["type"] == "message"
        assert payload["attachments"][0]["contentType"] == "application/vnd.microsoft.card.adaptive"
        card = payload["attachments"][0]["content"]
        card_schema(card)
        assert card["type"] == "AdaptiveCard"
        assert card["version"] == "1.4"
        assert card["$schema"] == "http://adaptivecards.io/schemas/adaptive-card.json"
        header, summary, fact_set = card["body"][:3]
        assert header["weight"] == "Bolder"
        assert summary["wrap"] is True
        assert {f["title"]: f["value"] for f in fact_set["facts"]} == facts, kind
        assert [(a["title"], a["url"]) for a in card["actions"]] == actions, kind
        assert all(a["type"] == "Action.OpenUrl" for a in card["actions"])
        scores = message.get("scores") or {}
        if scores:
            assert card["body"][3]["text"] == "Metrics"
            metrics = {f["title"]: f["value"] for f in card["body"][4]["facts"]}
            assert list(metrics) == sorted(scores)
            for name, value in scores.items():
                verdict = "≥ 0.70 (pass)" if value >= 0.7 else "< 0.70 (below)"
                assert metrics[name] == f"{value:.3f} {verdict}"
        else:
            assert len(card["body"]) == 3


def test_summaries_say_what_happened() -> None:
    def summary(kind: str) -> str:
        card = teams.build_card(Notification.model_validate({**CASES[kind][0], "kind": kind}), "https://d")
        return str(card["body"][1]["text"])

    assert "waits for a human decision before 2026-11-26 10:00 UTC" in summary("approval_requested")
    assert "below the evaluation threshold 0.70" in summary("auto_rejected")
    assert "approved by alice" in summary("approved")
    assert "nobody decided within the approval timeout" in summary("rejected")
    assert "failed" in summary("failed")


def test_raw_delivery_and_unknown_kinds(teams_env: Any, sqs_event: Any, card_schema: Any) -> None:
    raw = json.dumps({"kind": "approved", **CASES["approved"][0]})
    odd = json.dumps({"kind": "something_new", "run_id": 7})
    assert teams.handler(sqs_event(raw, odd), None) == {"batchItemFailures": []}
    cards = teams_env.cards()
    for card in cards:
        card_schema(card)
    assert cards[0]["body"][0]["text"] == "Approved for production: mistral-7b-rag-qa"
    assert cards[1]["body"][0]["text"] == "MLOps notification: run"
    assert cards[1]["actions"] == [
        {
            "type": "Action.OpenUrl",
            "title": "Open in dashboard",
            "url": "https://mlops.example.com/dashboard/?run_id=7",
        }
    ]


def test_teams_errors_retry_then_fail_the_record_alone(teams_env: Any, sqs_event: Any) -> None:
    good = json.dumps({"kind": "failed", "run_id": 1, "model_name": "m"})
    teams_env.answers.extend([503, 429])  # transient: retried within the invocation
    assert teams.handler(sqs_event(good), None) == {"batchItemFailures": []}
    assert len(teams_env.requests) == 3

    teams_env.requests.clear()
    teams_env.answers.extend([400])  # a card Teams refuses: not retried here, the record comes back
    event = sqs_event(good, good, "not json")
    response = teams.handler(event, None)
    failed = {f["itemIdentifier"] for f in response["batchItemFailures"]}
    ids = [r["messageId"] for r in event["Records"]]
    assert failed == {ids[0], ids[2]}
    assert len(teams_env.requests) == 2


@pytest.mark.parametrize("fmt", ["json", "text"])
def test_a_refused_card_leaves_the_webhook_out_of_the_logs_and_the_error(
    fmt: str, teams_env: Any, sqs_event: Any
) -> None:
    """The webhook's error page names the path it did not find: its secret. The error of a batch
    whose every record failed (which the Lambda runtime reports, and the local runner logs) does
    not hold it, nor does httpx's line of the request, when its logger is let through."""
    stream, root, httpx_log = io.StringIO(), logging.getLogger(), logging.getLogger("httpx")
    handler, levels = build_handler(fmt, stream), (root.level, httpx_log.level)
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    httpx_log.setLevel(logging.INFO)  # configure_logging keeps it at WARNING
    teams_env.answers.append(404)
    try:
        with pytest.raises(BatchProcessingError) as failed:
            teams.handler(sqs_event(json.dumps({"kind": "failed", "run_id": 1})), None)
        logging.getLogger("mlops_test.runner").error("the handler raised", exc_info=failed.value)
    finally:
        root.removeHandler(handler)
        root.setLevel(levels[0])
        httpx_log.setLevel(levels[1])
    logged, error = stream.getvalue(), str(failed.value)
    refused = "Teams webhook answered 404: no route for POST /webhookb2/[redacted]"
    assert refused in error
    assert refused in logged
    assert "HTTP Request: POST http://127.0.0.1:" in logged
    assert [secret for secret in ("IncomingWebhook/abc", "s3cr3t") if secret in logged + error] == []


def test_the_webhook_comes_from_secrets_manager(teams_env: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = TeamsSettings()
    assert teams.webhook_url(settings) == teams_env.url

    secrets = aws_client("secretsmanager")
    secrets.create_secret(
        Name=f"{settings.teams_webhook_secret_id}-json", SecretString=json.dumps({"url": teams_env.url})
    )
    monkeypatch.setenv("TEAMS_WEBHOOK_SECRET_ID", f"{settings.teams_webhook_secret_id}-json")
    assert teams.webhook_url(TeamsSettings()) == teams_env.url

    secrets.create_secret(
        Name=f"{settings.teams_webhook_secret_id}-plain", SecretString="http://teams.example.com/hook"
    )
    monkeypatch.setenv("TEAMS_WEBHOOK_SECRET_ID", f"{settings.teams_webhook_secret_id}-plain")
    with pytest.raises(teams.WebhookNotConfigured, match="https://"):
        teams.webhook_url(TeamsSettings())

    monkeypatch.setenv("TEAMS_WEBHOOK_SECRET_ID", "mlops/no-such-webhook")
    with pytest.raises(teams.WebhookNotConfigured, match="'mlops/no-such-webhook' cannot be read"):
        teams.webhook_url(TeamsSettings())
