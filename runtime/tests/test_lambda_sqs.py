"""Lambda's SQS event shape and its partial batch response rules (no emulator needed)."""

from __future__ import annotations

import base64
import hashlib
from typing import Any

import pytest
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSEvent
from aws_lambda_powertools.utilities.parser.models import SqsModel

from mlops_sqs_runtime.lambda_sqs import (
    InvalidBatchResponse,
    LocalLambdaContext,
    build_event,
    failed_message_ids,
    function_arn,
)

QUEUE_ARN = "arn:aws:sqs:eu-west-1:123456789012:training"


def received(message_id: str, body: str, **extra: Any) -> dict[str, Any]:
    """A message as ReceiveMessage returns it (MessageSystemAttributeNames / MessageAttributeNames All)."""
    return {
        "MessageId": message_id,
        "ReceiptHandle": f"handle-{message_id}",
        "MD5OfBody": hashlib.md5(body.encode()).hexdigest(),  # noqa: S324 (SQS's checksum)
        "Body": body,
        "Attributes": {
            "SenderId": "AIDAEXAMPLE",
            "SentTimestamp": "1700000000000",
            "ApproximateReceiveCount": "2",
            "ApproximateFirstReceiveTimestamp": "1700000000100",
        },
        **extra,
    }


def test_event_matches_lambdas_sqs_event() -> None:
    message = received(
        "m-1",
        '{"run_id": "r"}',
        MessageAttributes={
            "kind": {"StringValue": "training", "DataType": "String"},
            "blob": {"BinaryValue": b"\x00\x01", "DataType": "Binary"},
        },
        MD5OfMessageAttributes="abc",
    )
    event = build_event([message], queue_arn=QUEUE_ARN)

    SqsModel.model_validate(event)  # powertools' model of the event Lambda sends
    record = event["Records"][0]
    assert record["eventSource"] == "aws:sqs"
    assert record["eventSourceARN"] == QUEUE_ARN
    assert record["awsRegion"] == "eu-west-1"
    assert record["md5OfMessageAttributes"] == "abc"
    assert record["messageAttributes"]["kind"] == {
        "stringValue": "training",
        "stringListValues": [],
        "binaryListValues": [],
        "dataType": "String",
    }
    assert record["messageAttributes"]["blob"]["binaryValue"] == base64.b64encode(b"\x00\x01").decode()
    parsed = next(iter(SQSEvent(event).records))
    assert parsed.message_id == "m-1"
    assert parsed.receipt_handle == "handle-m-1"
    assert parsed.attributes.approximate_receive_count == "2"
    assert parsed.json_body == {"run_id": "r"}


def test_powertools_partial_response_is_read_as_lambda_reads_it() -> None:
    event = build_event(
        [received("ok-1", "fine"), received("bad-1", "boom"), received("ok-2", "fine")], queue_arn=QUEUE_ARN
    )

    def record_handler(record: Any) -> None:
        if record.body == "boom":
            raise ValueError("boom")

    response = process_partial_response(
        event=event, record_handler=record_handler, processor=BatchProcessor(event_type=EventType.SQS)
    )
    assert failed_message_ids(response, ["ok-1", "bad-1", "ok-2"]) == {"bad-1"}


@pytest.mark.parametrize(
    "response", [None, {}, {"batchItemFailures": None}, {"batchItemFailures": []}, {"other": 1}]
)
def test_responses_lambda_treats_as_complete_success(response: object) -> None:
    assert failed_message_ids(response, ["a", "b"]) == set()


@pytest.mark.parametrize(
    "response",
    [
        {"batchItemFailures": [{"itemIdentifier": ""}]},
        {"batchItemFailures": [{"itemIdentifier": None}]},
        {"batchItemFailures": [{"ItemIdentifier": "a"}]},  # wrong key name
        {"batchItemFailures": [{"itemIdentifier": "not-in-batch"}]},
        {"batchItemFailures": "a"},
        {"batchItemFailures": [{"itemIdentifier": "a"}], "extra": object()},  # not JSON
        "ok",
        ["a"],
    ],
)
def test_responses_lambda_treats_as_complete_failure(response: object) -> None:
    with pytest.raises(InvalidBatchResponse):
        failed_message_ids(response, ["a", "b"])


def test_context() -> None:
    context = LocalLambdaContext(
        function_name="training",
        invoked_function_arn=function_arn("training", QUEUE_ARN),
        timeout_seconds=2,
    )
    assert context.invoked_function_arn == "arn:aws:lambda:eu-west-1:123456789012:function:training"
    assert 1000 < context.get_remaining_time_in_millis() <= 2000
    assert context.log_group_name == "/aws/lambda/training"
    assert context.aws_request_id != LocalLambdaContext("f", "arn", 1).aws_request_id
