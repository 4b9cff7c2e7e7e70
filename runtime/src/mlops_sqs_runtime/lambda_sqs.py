"""What Lambda's SQS event source mapping hands a function, and how it reads the function's answer.

Pure functions, no I/O: the runner (`mlops_sqs_runtime.runner`) polls and deletes; this module builds
the event a Lambda function receives (`{"Records": [...]}`), the context object, and applies Lambda's
rules for partial batch responses (ReportBatchItemFailures):

- success of the whole batch: `None`, `{}`, `{"batchItemFailures": None}` or `{"batchItemFailures": []}`;
- only the listed records failed: `{"batchItemFailures": [{"itemIdentifier": "<messageId>"}, ...]}`,
  which is what aws-lambda-powertools' `process_partial_response` returns;
- failure of the whole batch: any other answer - an entry without `itemIdentifier`, an empty or null
  identifier, an identifier that is not a message of the batch, a response that is not a JSON object.
"""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

# The system attributes Lambda puts in a record (the rest of what ReceiveMessage returns is left out).
RECORD_ATTRIBUTES = (
    "ApproximateReceiveCount",
    "SentTimestamp",
    "SenderId",
    "ApproximateFirstReceiveTimestamp",
    "AWSTraceHeader",
    "SequenceNumber",
    "MessageGroupId",
    "MessageDeduplicationId",
    "DeadLetterQueueSourceArn",
)


class InvalidBatchResponse(ValueError):
    """The function's answer is not a valid partial batch response: Lambda fails the whole batch."""


def _b64(value: bytes | str) -> str:
    raw = value.encode() if isinstance(value, str) else value
    return base64.b64encode(raw).decode("ascii")


def _message_attribute(value: Mapping[str, Any]) -> dict[str, Any]:
    """ReceiveMessage's `{"StringValue", "DataType"}` -> Lambda's `{"stringValue", "dataType"}`."""
    attribute: dict[str, Any] = {
        "stringListValues": list(value.get("StringListValues", [])),
        "binaryListValues": [_b64(v) for v in value.get("BinaryListValues", [])],
        "dataType": value["DataType"],
    }
    if "StringValue" in value:
        attribute["stringValue"] = value["StringValue"]
    if "BinaryValue" in value:
        attribute["binaryValue"] = _b64(value["BinaryValue"])
    return attribute


def queue_region(queue_arn: str) -> str:
    """`arn:aws:sqs:<region>:<account>:<name>` -> region."""
    return queue_arn.split(":")[3]


def to_lambda_record(message: Mapping[str, Any], *, queue_arn: str) -> dict[str, Any]:
    """One message of ReceiveMessage (`MessageSystemAttributeNames=["All"]`,
    `MessageAttributeNames=["All"]`) as a record of Lambda's SQS event."""
    attributes = message.get("Attributes", {})
    record: dict[str, Any] = {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": {k: attributes[k] for k in RECORD_ATTRIBUTES if k in attributes},
        "messageAttributes": {
            name: _message_attribute(value) for name, value in message.get("MessageAttributes", {}).items()
        },
        "md5OfBody": message["MD5OfBody"],
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": queue_region(queue_arn),
    }
    if "MD5OfMessageAttributes" in message:
        record["md5OfMessageAttributes"] = message["MD5OfMessageAttributes"]
    return record


def build_event(messages: Iterable[Mapping[str, Any]], *, queue_arn: str) -> dict[str, Any]:
    return {"Records": [to_lambda_record(m, queue_arn=queue_arn) for m in messages]}


def failed_message_ids(response: object, batch_ids: Sequence[str]) -> set[str]:
    """The message ids the function reported as failed, by Lambda's rules (module docstring).

    Raises InvalidBatchResponse when Lambda would fail the whole batch."""
    if response is None:
        return set()
    try:
        json.dumps(response)
    except (TypeError, ValueError) as exc:
        raise InvalidBatchResponse(f"the response is not JSON-serializable: {exc}") from exc
    if not isinstance(response, dict):
        raise InvalidBatchResponse(f"the response is a {type(response).__name__}, not a JSON object")
    failures = response.get("batchItemFailures")
    if failures is None:
        return set()
    if not isinstance(failures, list):
        raise InvalidBatchResponse("batchItemFailures is not a list")
    known = set(batch_ids)
    failed: set[str] = set()
    for item in failures:
        if not isinstance(item, dict) or "itemIdentifier" not in item:
            raise InvalidBatchResponse(f"batchItemFailures entry without itemIdentifier: {item!r}")
        identifier = item["itemIdentifier"]
        if not isinstance(identifier, str) or not identifier:
            raise InvalidBatchResponse(f"empty or null itemIdentifier: {identifier!r}")
        if identifier not in known:
            raise InvalidBatchResponse(f"itemIdentifier {identifier!r} is not a message of the batch")
        failed.add(identifier)
    return failed


@dataclass
class LocalLambdaContext:
    """The attributes and method of Lambda's context object that handlers (and aws-lambda-powertools'
    Logger.inject_lambda_context) read."""

    function_name: str
    invoked_function_arn: str
    timeout_seconds: float
    memory_limit_in_mb: int = 1024
    function_version: str = "$LATEST"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    _deadline: float = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._deadline = time.monotonic() + self.timeout_seconds

    @property
    def log_group_name(self) -> str:
        return f"/aws/lambda/{self.function_name}"

    @property
    def log_stream_name(self) -> str:
        return f"local/{self.aws_request_id}"

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def function_arn(function_name: str, queue_arn: str) -> str:
    """The ARN the function would have in the queue's region and account."""
    _, partition, _, region, account, _ = queue_arn.split(":", 5)
    return f"arn:{partition}:lambda:{region}:{account}:function:{function_name}"
