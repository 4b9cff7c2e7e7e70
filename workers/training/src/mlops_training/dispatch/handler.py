"""Entrypoints: the training queue's consumer (a Lambda in production, the local runner here) and
the SageMaker completion handler. TRAINING_BACKEND=sagemaker|local chooses the backend
(docs/decisions/0004-ports-and-adapters.md)."""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from mlops_training.dispatch.local import dispatch_local
from mlops_training.dispatch.messages import TrainingTask
from mlops_training.dispatch.sagemaker import dispatch_sagemaker, handle_state_change
from mlops_training.dispatch.settings import get_settings

logger = Logger(service="training-dispatcher")
processor = BatchProcessor(event_type=EventType.SQS)
get_settings()  # at cold start: a bad value stops the process here, naming the variable


def record_handler(record: SQSRecord) -> None:
    task = TrainingTask.model_validate(json.loads(record.body))
    settings = get_settings()
    logger.info("training task", extra={"run_id": task.run_id, "backend": settings.training_backend})
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
    logger.info("training job state", extra={"job": event["detail"]["TrainingJobName"], "outcome": outcome})
    return {"outcome": outcome}
