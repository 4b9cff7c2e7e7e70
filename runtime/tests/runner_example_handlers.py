"""Example Lambda handlers for the local runner's tests, written as the workers write theirs:
aws-lambda-powertools' BatchProcessor + process_partial_response, Logger.inject_lambda_context.

Every handler also validates the event against powertools' own SQS event model, so a runner that
built a record Lambda would not send fails the batch (and the test)."""

from __future__ import annotations

import json
import os
import threading
import time
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.parser.models import SqsModel

from mlops_contracts.aws import aws_client

logger = Logger(service="runner-test")
processor = BatchProcessor(event_type=EventType.SQS)

# What the handlers saw, for the tests' assertions (list.append is atomic).
CALLS: list[dict[str, Any]] = []
INVOCATIONS: list[list[str]] = []
CONTEXTS: list[dict[str, Any]] = []
ENTERED = threading.Event()


def reset() -> None:
    CALLS.clear()
    INVOCATIONS.clear()
    CONTEXTS.clear()
    ENTERED.clear()


def _observe(event: dict[str, Any], context: Any) -> None:
    SqsModel.model_validate(event)  # the exact shape Lambda sends, or the batch fails
    INVOCATIONS.append([r["messageId"] for r in event["Records"]])
    CONTEXTS.append(
        {
            "function_name": context.function_name,
            "invoked_function_arn": context.invoked_function_arn,
            "aws_request_id": context.aws_request_id,
            "remaining_ms": context.get_remaining_time_in_millis(),
        }
    )


def record_handler(record: SQSRecord) -> None:
    CALLS.append(
        {
            "message_id": record.message_id,
            "body": record.body,
            "receive_count": int(record.attributes.approximate_receive_count),
            "attributes": dict(record.message_attributes.items()),
        }
    )
    if record.body.startswith("fail"):
        raise ValueError(f"poison message {record.message_id}")


def _partial(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return dict(
        process_partial_response(
            event=event, record_handler=record_handler, processor=processor, context=context
        )
    )


@logger.inject_lambda_context
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Partial batch failures: records whose body starts with 'fail' fail alone."""
    _observe(event, context)
    return _partial(event, context)


def raising_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Fails the whole invocation."""
    _observe(event, context)
    for record in event["Records"]:
        CALLS.append({"message_id": record["messageId"], "body": record["body"]})
    raise RuntimeError("the function crashed")


def slow_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Takes a second, so a test can stop the runner while a batch is in flight."""
    _observe(event, context)
    ENTERED.set()
    time.sleep(1.0)
    return _partial(event, context)


def long_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Outlives a 2-second visibility timeout (the long-running deployment's evaluations)."""
    _observe(event, context)
    ENTERED.set()
    time.sleep(3.0)
    return _partial(event, context)


def bad_identifier_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Reports a failure Lambda cannot match to a message: Lambda fails the whole batch."""
    _observe(event, context)
    for record in event["Records"]:
        CALLS.append({"message_id": record["messageId"], "body": record["body"]})
    return {"batchItemFailures": [{"itemIdentifier": "not-a-message-of-this-batch"}]}


def pid_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Reports which process handled each record to RESULTS_QUEUE_URL (for the concurrency test)."""
    sqs = aws_client("sqs")
    for record in event["Records"]:
        body = json.dumps({"pid": os.getpid(), "message_id": record["messageId"]})
        sqs.send_message(QueueUrl=os.environ["RESULTS_QUEUE_URL"], MessageBody=body)
    time.sleep(0.5)
    return {"batchItemFailures": []}
