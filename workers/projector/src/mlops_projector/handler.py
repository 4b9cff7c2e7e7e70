"""Lambda entrypoint (SQS event source with ReportBatchItemFailures); the local runner calls the
same function. A record that fails (unknown run, malformed event, API down past the retries) is
reported alone and comes back until the queue's redrive policy parks it in the DLQ."""

from __future__ import annotations

import json
import logging
from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from mlops_contracts.logs import configure_lambda_logging
from mlops_projector.api import api_client
from mlops_projector.projector import project

configure_lambda_logging()
log = logging.getLogger(__name__)
processor = BatchProcessor(event_type=EventType.SQS)


def record_handler(record: SQSRecord) -> None:
    outcome = project(api_client(), json.loads(record.body))
    log.info(
        "projected",
        extra={"run_id": outcome.run_id, "event_type": outcome.event_type, "applied": outcome.applied},
    )


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    api_client()  # outside the batch: a bad setting fails the invocation, naming the variable
    response = process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )
    return dict(response)
