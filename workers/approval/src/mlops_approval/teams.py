"""The Teams formatter: each notification of the topic `mlops-notifications` (delivered through an
SQS queue) becomes an Adaptive Card (schema 1.4) posted to the Teams webhook kept in Secrets
Manager. A Lambda in production, the local runner here; AWS Chatbot is not needed for this path."""

from __future__ import annotations

import json
import logging
from functools import lru_cache
from typing import Any
from urllib.parse import urlencode, urlsplit

import httpx
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.parameters import SecretsProvider
from tenacity import retry, retry_if_exception, stop_after_attempt, wait_exponential_jitter

from mlops_approval.messages import Kind, Notification
from mlops_approval.settings import TeamsSettings
from mlops_contracts.aws import aws_client
from mlops_contracts.logs import configure_lambda_logging, redact_secrets

configure_lambda_logging()
log = logging.getLogger(__name__)
processor = BatchProcessor(event_type=EventType.SQS)

CARD_SCHEMA = "http://adaptivecards.io/schemas/adaptive-card.json"
CARD_VERSION = "1.4"
CARD_CONTENT_TYPE = "application/vnd.microsoft.card.adaptive"

TITLES = {
    Kind.APPROVAL_REQUESTED: ("Approval requested", "accent"),
    Kind.AUTO_REJECTED: ("Rejected automatically", "attention"),
    Kind.APPROVED: ("Approved for production", "good"),
    Kind.REJECTED: ("Rejected", "attention"),
    Kind.FAILED: ("Run failed", "attention"),
}


class WebhookError(RuntimeError):
    """A webhook's error answer, quoted: without the webhook's secret, which an error page can echo
    (the path it did not find). The message goes where logging does not redact it: the Lambda
    runtime's report of a batch whose every record failed, the invocation span's exception event."""

    def __init__(self, status_code: int, text: str) -> None:
        super().__init__(f"Teams webhook answered {status_code}: {redact_secrets(text[:300])}")
        self.status_code = status_code


class WebhookNotConfigured(RuntimeError):
    pass


# --- the card ------------------------------------------------------------------------------------


def _kind(value: str) -> Kind | None:
    try:
        return Kind(value)
    except ValueError:
        return None


def _score(value: float | None) -> str:
    return "not scored" if value is None else f"{value:.3f}"


def _against(value: float | None, threshold: float | None) -> str:
    if value is None:
        return "not scored"
    if threshold is None:
        return _score(value)
    passed = value >= threshold
    return f"{value:.3f} {'≥' if passed else '<'} {threshold:.2f} ({'pass' if passed else 'below'})"


def run_url(dashboard_url: str, run_id: int | str | None) -> str:
    base = dashboard_url.rstrip("/")
    return f"{base}/?{urlencode({'run_id': run_id})}" if run_id is not None else f"{base}/"


def _summary(note: Notification, kind: Kind | None) -> str:
    model = note.model_name or "the model"
    score = "" if note.ml_score is None else f" (MLScore {note.ml_score:.3f})"
    threshold = "" if note.ml_score_threshold is None else f" {note.ml_score_threshold:.2f}"
    if kind is Kind.APPROVAL_REQUESTED:
        deadline = f" before {note.expires_at:%Y-%m-%d %H:%M} UTC" if note.expires_at else ""
        return (
            f"{model}{score} passed the evaluation threshold{threshold} and waits for a human "
            f"decision{deadline}. Without one, it is rejected. Opening a link asks for confirmation."
        )
    if kind is Kind.AUTO_REJECTED:
        return f"{model}{score} is below the evaluation threshold{threshold}: rejected without review."
    if kind is Kind.APPROVED:
        return f"{model}{score} was approved by {note.decided_by() or 'an approver'} and is tagged for production."
    if kind is Kind.REJECTED:
        if note.decided_by() == "timeout":
            return f"{model}{score} was rejected: nobody decided within the approval timeout."
        return f"{model}{score} was rejected by {note.decided_by() or 'an approver'}."
    if kind is Kind.FAILED:
        return f"The run of {model} failed: {note.reason or note.error or 'see the dashboard'}."
    return f"Notification '{note.kind}' for {model}."


def build_card(note: Notification, dashboard_url: str) -> dict[str, Any]:
    """The Adaptive Card of a notification: model, run, MLScore and each metric against the
    threshold, a dashboard link, and for approval requests the approve/reject links."""
    kind = _kind(note.kind)
    title, color = (
        TITLES.get(kind, ("MLOps notification", "default")) if kind else ("MLOps notification", "default")
    )
    facts = [
        {"title": "Model", "value": note.model_name or "-"},
        {"title": "Run", "value": f"#{note.run_id}" if note.run_id is not None else "-"},
    ]
    if note.model_id:
        facts.append({"title": "Base model", "value": note.model_id})
    if note.ml_score is not None or note.ml_score_threshold is not None:
        facts.append({"title": "MLScore", "value": _against(note.ml_score, note.ml_score_threshold)})
    if note.ml_score_threshold is not None:
        facts.append({"title": "Threshold", "value": f"{note.ml_score_threshold:.2f}"})
    if note.model_package_arn:
        facts.append({"title": "Model package", "value": note.model_package_arn})
    if kind in (Kind.APPROVED, Kind.REJECTED) and note.decided_by():
        facts.append({"title": "Decided by", "value": note.decided_by() or "-"})
    if note.decision_comment():
        facts.append({"title": "Comment", "value": note.decision_comment() or "-"})
    if kind is Kind.FAILED and (note.error or note.cause):
        facts.append({"title": "Error", "value": " - ".join(x for x in (note.error, note.cause) if x)[:500]})
    if kind is Kind.APPROVAL_REQUESTED and note.expires_at:
        facts.append({"title": "Decide before", "value": f"{note.expires_at:%Y-%m-%d %H:%M} UTC"})

    body: list[dict[str, Any]] = [
        {
            "type": "TextBlock",
            "text": f"{title}: {note.model_name or 'run'}",
            "size": "Large",
            "weight": "Bolder",
            "color": color,
            "wrap": True,
        },
        {"type": "TextBlock", "text": _summary(note, kind), "wrap": True},
        {"type": "FactSet", "facts": facts},
    ]
    if note.scores:
        body.append({"type": "TextBlock", "text": "Metrics", "weight": "Bolder", "spacing": "Medium"})
        body.append(
            {
                "type": "FactSet",
                "facts": [
                    {"title": name, "value": _against(value, note.ml_score_threshold)}
                    for name, value in sorted(note.scores.items())
                ],
            }
        )

    actions: list[dict[str, Any]] = []
    if kind is Kind.APPROVAL_REQUESTED and note.approve_url and note.reject_url:
        actions.append(
            {"type": "Action.OpenUrl", "title": "Approve", "url": note.approve_url, "style": "positive"}
        )
        actions.append(
            {"type": "Action.OpenUrl", "title": "Reject", "url": note.reject_url, "style": "destructive"}
        )
    actions.append(
        {"type": "Action.OpenUrl", "title": "Open in dashboard", "url": run_url(dashboard_url, note.run_id)}
    )
    return {
        "type": "AdaptiveCard",
        "$schema": CARD_SCHEMA,
        "version": CARD_VERSION,
        "body": body,
        "actions": actions,
        "msteams": {"width": "Full"},
    }


def teams_message(card: dict[str, Any]) -> dict[str, Any]:
    """The webhook payload (Teams incoming webhooks and Workflows both take this shape)."""
    return {
        "type": "message",
        "attachments": [{"contentType": CARD_CONTENT_TYPE, "contentUrl": None, "content": card}],
    }


# --- delivery ------------------------------------------------------------------------------------


@lru_cache(maxsize=1)
def _secrets() -> SecretsProvider:
    return SecretsProvider(boto3_client=aws_client("secretsmanager"))


def webhook_url(settings: TeamsSettings) -> str:
    """The webhook URL from Secrets Manager (cached). It is a credential (an incoming webhook's path,
    a workflow's `sig` parameter): it is never logged."""
    try:
        raw = _secrets().get(settings.teams_webhook_secret_id, max_age=settings.teams_webhook_cache_seconds)
    except Exception as exc:
        raise WebhookNotConfigured(
            f"the Teams webhook secret '{settings.teams_webhook_secret_id}' cannot be read "
            f"({type(exc).__name__}): put the webhook URL in it (TEAMS_WEBHOOK_SECRET_ID names it)"
        ) from exc
    value = raw.decode() if isinstance(raw, bytes) else str(raw or "")
    value = value.strip()
    if value.startswith("{"):
        value = str(json.loads(value).get("url", ""))
    parts = urlsplit(value)
    loopback = parts.hostname in ("127.0.0.1", "localhost", "::1")
    if parts.scheme != "https" and not (parts.scheme == "http" and loopback):
        raise WebhookNotConfigured(
            f"the secret '{settings.teams_webhook_secret_id}' must hold an https:// webhook URL"
        )
    return value


def _transient(exc: BaseException) -> bool:
    if isinstance(exc, httpx.TransportError):
        return True
    return isinstance(exc, WebhookError) and (exc.status_code == 429 or exc.status_code >= 500)


@retry(
    retry=retry_if_exception(_transient),
    wait=wait_exponential_jitter(multiplier=0.2, max=5),
    stop=stop_after_attempt(3),
    reraise=True,
)
def post_card(url: str, message: dict[str, Any], *, timeout: float) -> int:
    response = httpx.post(url, json=message, timeout=timeout)
    if response.status_code >= 300:
        raise WebhookError(response.status_code, response.text)
    return response.status_code


def notification_of(body: str) -> Notification:
    """An SQS body from the topic: the SNS envelope (kind from the message attribute), or the raw
    message when the subscription uses raw delivery."""
    data = json.loads(body)
    attributes: dict[str, Any] = {}
    if isinstance(data, dict) and data.get("Type") == "Notification" and "Message" in data:
        attributes = data.get("MessageAttributes") or {}
        data = json.loads(data["Message"])
    if not isinstance(data, dict):
        raise ValueError("a notification is a JSON object")
    kind = (attributes.get("kind") or {}).get("Value") or data.get("kind") or "unknown"
    return Notification.model_validate({**data, "kind": kind})


def notify(note: Notification, settings: TeamsSettings) -> int:
    card = build_card(note, settings.dashboard_url)
    status = post_card(webhook_url(settings), teams_message(card), timeout=settings.teams_timeout_seconds)
    log.info(
        "posted to Teams",
        extra={"run_id": note.run_id, "kind": note.kind, "execution_arn": note.execution_arn},
    )
    return status


def record_handler(record: SQSRecord) -> None:
    notify(notification_of(record.body), TeamsSettings())


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    response = process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )
    return dict(response)
