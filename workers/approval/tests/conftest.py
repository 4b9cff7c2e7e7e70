"""Fixtures of the approval worker's tests: the live API (root conftest), the emulator's SNS topic
and formatter queue, and a local HTTP server standing in for Teams."""

from __future__ import annotations

import json
import threading
import uuid
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from mlops_approval import handler as approval_handler
from mlops_approval import teams
from mlops_contracts.aws import aws_client
from mlops_devstack.emulator import Emulator
from mlops_testkit.api import AwsFixture, Clients

SIGNING_SECRET = "mlops/approval-signing-key"
SIGNING_KEY = "test-approval-signing-key-" + "k" * 32


@dataclass
class Sink:
    """Teams' webhook: records every request; answers 200 unless told otherwise."""

    url: str = ""
    requests: list[dict[str, Any]] = field(default_factory=list)
    answers: deque[int] = field(default_factory=deque)

    def cards(self) -> list[dict[str, Any]]:
        return [r["json"]["attachments"][0]["content"] for r in self.requests]


@pytest.fixture
def sink() -> Iterator[Sink]:
    recorder = Sink()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            recorder.requests.append(
                {"path": self.path, "headers": dict(self.headers), "json": json.loads(raw)}
            )
            status = recorder.answers.popleft() if recorder.answers else 200
            self.send_response(status)
            self.send_header("Content-Type", "text/plain")
            self.end_headers()
            # an error page names the path it did not find, as many servers' do
            self.wfile.write(b"1" if status == 200 else f"no route for POST {self.path}".encode())

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    recorder.url = (
        f"http://127.0.0.1:{server.server_address[1]}/webhookb2/tenant/IncomingWebhook/abc?sig=s3cr3t"
    )
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield recorder
    server.shutdown()
    server.server_close()


def put_secret(name: str, value: str) -> None:
    secrets = aws_client("secretsmanager")
    try:
        secrets.create_secret(Name=name, SecretString=value)
    except secrets.exceptions.ResourceExistsException:
        secrets.put_secret_value(SecretId=name, SecretString=value)


@pytest.fixture
def teams_env(sink: Sink, emulator: Emulator, monkeypatch: pytest.MonkeyPatch) -> Sink:
    secret = f"mlops/teams-webhook-{uuid.uuid4().hex[:8]}"
    put_secret(secret, sink.url)
    monkeypatch.setenv("TEAMS_WEBHOOK_SECRET_ID", secret)
    monkeypatch.setenv("DASHBOARD_URL", "https://mlops.example.com/dashboard")
    teams._secrets.cache_clear()
    return sink


@dataclass
class Topic:
    arn: str
    queue_url: str

    def receive(self, expect: int = 1, timeout: float = 10.0) -> list[dict[str, Any]]:
        """The formatter queue's messages, in the SQS event shape a Lambda receives."""
        import time

        sqs = aws_client("sqs")
        records: list[dict[str, Any]] = []
        deadline = time.monotonic() + timeout
        while len(records) < expect and time.monotonic() < deadline:
            for message in sqs.receive_message(
                QueueUrl=self.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1
            ).get("Messages", []):
                sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])
                records.append(sqs_record(message["Body"], message_id=message["MessageId"]))
        return records


def sqs_record(body: str, *, message_id: str | None = None) -> dict[str, Any]:
    return {
        "messageId": message_id or str(uuid.uuid4()),
        "receiptHandle": "handle",
        "body": body,
        "attributes": {"ApproximateReceiveCount": "1"},
        "messageAttributes": {},
        "md5OfBody": "",
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:eu-west-1:123456789012:queue",
        "awsRegion": "eu-west-1",
    }


def _sqs_event(*bodies: str) -> dict[str, Any]:
    return {"Records": [sqs_record(body) for body in bodies]}


@pytest.fixture
def sqs_event() -> Any:
    """Builds the SQS event a Lambda receives, one record per body."""
    return _sqs_event


@pytest.fixture
def topic(emulator: Emulator, monkeypatch: pytest.MonkeyPatch) -> Topic:
    """`mlops-notifications` and the formatter's queue subscribed to it (SNS envelope delivery)."""
    suffix = uuid.uuid4().hex[:8]
    sns, sqs = aws_client("sns"), aws_client("sqs")
    arn = sns.create_topic(Name=f"mlops-notifications-{suffix}")["TopicArn"]
    queue_url = sqs.create_queue(QueueName=f"teams-notifications-{suffix}")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    sns.subscribe(TopicArn=arn, Protocol="sqs", Endpoint=queue_arn)
    monkeypatch.setenv("NOTIFICATIONS_TOPIC_ARN", arn)
    return Topic(arn, queue_url)


@pytest.fixture
def service_api(clients: Clients, aws: AwsFixture, monkeypatch: pytest.MonkeyPatch) -> Iterator[Clients]:
    """The worker's environment: the live API with the approval worker's own key (by its role's
    variable, as the local runner gives it), links signed with a key from Secrets Manager."""
    put_secret(SIGNING_SECRET, SIGNING_KEY)
    monkeypatch.setenv("API_URL", clients.base_url)
    monkeypatch.delenv("API_KEY", raising=False)
    monkeypatch.setenv("APPROVAL_WORKER_API_KEY", clients.keys["approval-worker"])
    approval_handler._api.cache_clear()
    yield clients
    approval_handler._api.cache_clear()


def _enum(*values: str) -> dict[str, str]:
    """Adaptive Card enums are case-insensitive."""
    return {"type": "string", "pattern": f"(?i)^({'|'.join(values)})$"}


# The essentials of the Adaptive Card schema (adaptivecards.io/schemas/adaptive-card.json) for the
# elements the formatter uses, as Teams renders them: version 1.4 or 1.5, TextBlock, FactSet,
# Action.OpenUrl. Unknown properties are refused, so a typo in the card fails here, not in Teams.
CARD_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "required": ["type", "version", "body"],
    "additionalProperties": False,
    "properties": {
        "type": {"const": "AdaptiveCard"},
        "$schema": {"const": "http://adaptivecards.io/schemas/adaptive-card.json"},
        "version": {"enum": ["1.4", "1.5"]},
        "body": {"type": "array", "minItems": 1, "items": {"$ref": "#/$defs/element"}},
        "actions": {"type": "array", "items": {"$ref": "#/$defs/openUrl"}},
        "msteams": {
            "type": "object",
            "properties": {"width": {"enum": ["Full"]}},
            "additionalProperties": False,
        },
    },
    "$defs": {
        "element": {"oneOf": [{"$ref": "#/$defs/textBlock"}, {"$ref": "#/$defs/factSet"}]},
        "textBlock": {
            "type": "object",
            "required": ["type", "text"],
            "additionalProperties": False,
            "properties": {
                "type": {"const": "TextBlock"},
                "text": {"type": "string", "minLength": 1},
                "size": _enum("default", "small", "medium", "large", "extraLarge"),
                "weight": _enum("default", "lighter", "bolder"),
                "color": _enum("default", "dark", "light", "accent", "good", "warning", "attention"),
                "spacing": _enum("none", "small", "default", "medium", "large", "extraLarge", "padding"),
                "wrap": {"type": "boolean"},
            },
        },
        "factSet": {
            "type": "object",
            "required": ["type", "facts"],
            "additionalProperties": False,
            "properties": {
                "type": {"const": "FactSet"},
                "facts": {
                    "type": "array",
                    "minItems": 1,
                    "items": {
                        "type": "object",
                        "required": ["title", "value"],
                        "additionalProperties": False,
                        "properties": {"title": {"type": "string"}, "value": {"type": "string"}},
                    },
                },
            },
        },
        "openUrl": {
            "type": "object",
            "required": ["type", "url"],
            "additionalProperties": False,
            "properties": {
                "type": {"const": "Action.OpenUrl"},
                "title": {"type": "string", "minLength": 1},
                "url": {"type": "string", "pattern": "^https?://"},
                "style": _enum("default", "positive", "destructive"),
            },
        },
    },
}


def validate_card(card: dict[str, Any]) -> None:
    import jsonschema

    jsonschema.validate(card, CARD_SCHEMA, cls=jsonschema.Draft202012Validator)


@pytest.fixture
def card_schema() -> Any:
    return validate_card
