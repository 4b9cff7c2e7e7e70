"""Entrypoints: the training queue's consumer (a Lambda in production, the local runner here) and
the SageMaker completion handler. TRAINING_BACKEND=sagemaker|local chooses the backend
(docs/decisions/0004-ports-and-adapters.md)."""

from __future__ import annotations

import json
import logging
from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from mlops_contracts.logs import configure_lambda_logging, log_context
from mlops_contracts.tracing import run_span
from mlops_training.dispatch.local import dispatch_local
from mlops_training.dispatch.messages import TrainingTask
from mlops_training.dispatch.sagemaker import dispatch_sagemaker, handle_state_change
from mlops_training.dispatch.settings import get_settings

configure_lambda_logging()
log = logging.getLogger(__name__)
processor = BatchProcessor(event_type=EventType.SQS)
get_settings()  # at cold start: a bad value stops the process here, naming the variable


def record_handler(record: SQSRecord) -> None:
    task = TrainingTask.model_validate(json.loads(record.body))
    settings = get_settings()
    with log_context(run_id=task.run_id), run_span("training task", task.run_id):
        log.info("training task", extra={"backend": settings.training_backend})
        if settings.training_backend == "local":
            dispatch_local(task, heartbeat_seconds=settings.heartbeat_seconds)
        else:
            dispatch_sagemaker(task)


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    response = process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )
    return dict(response)


def completion_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """EventBridge rule target for "SageMaker Training Job State Change"."""
    outcome = handle_state_change(event)
    log.info("training job state", extra={"job": event["detail"]["TrainingJobName"], "outcome": outcome})
    return {"outcome": outcome}
