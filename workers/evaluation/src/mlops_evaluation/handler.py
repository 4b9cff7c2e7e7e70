"""The evaluation queue's consumer (a Lambda, or the image's runner): an SQS batch of evaluation
tasks, with partial batch failures. EVALUATION_BACKEND chooses where each task runs
(docs/decisions/0020-evaluation-as-a-processing-job.md): `sagemaker` starts a Processing job on a GPU
and returns (the job answers the token, its state-change event fails it if the job dies first);
`local` runs the same job entrypoint as a subprocess and waits; `lambda` evaluates in this process,
refusing a model whose weights do not fit the function's memory.

A record succeeds once its task token is answered (or found closed); it fails - and SQS redelivers
it, then moves it to the DLQ - only when no answer could be sent. A message that is not a valid task
is answered with `Evaluation.InvalidMessage` when it carries a task token, else it fails.
"""

from __future__ import annotations

import logging
from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from pydantic import ValidationError

from mlops_contracts.logs import configure_lambda_logging, log_context
from mlops_contracts.task_tokens import TaskToken, TokenDead
from mlops_contracts.tracing import run_span
from mlops_evaluation.lambda_fit import require_lambda_fit
from mlops_evaluation.messages import InvalidMessage, parse_task
from mlops_evaluation.mlscore import EvaluationError
from mlops_evaluation.settings import EvaluationSettings, get_settings
from mlops_evaluation.worker import TaskResult, process_task

configure_lambda_logging()
log = logging.getLogger(__name__)


def answer_failure(task_token: str, error: str, reason: str) -> TaskResult:
    try:
        TaskToken(task_token).fail(error, reason)
    except TokenDead as exc:
        log.warning("%s; the failure was not delivered", exc)
        return "token_closed"
    return "failed"


def process_message(body: str, settings: EvaluationSettings | None = None) -> TaskResult:
    """Handle one message body (shared by the Lambda handler and the long-running consumer).
    `settings` default to the environment's, read once per process."""
    try:
        task = parse_task(body)
    except InvalidMessage as exc:
        if exc.task_token is None:
            log.error("unanswerable message (no task token): %s", exc.reason)
            raise
        log.error("invalid evaluation task: %s", exc.reason)
        return answer_failure(exc.task_token, "Evaluation.InvalidMessage", exc.reason)
    with (
        log_context(run_id=task.run_id, execution_arn=task.execution_arn, model_name=task.model_name),
        run_span("evaluation task", task.run_id),
    ):
        if settings is None:
            try:
                settings = get_settings()
            except ValidationError as exc:
                log.error("invalid worker settings: %s", exc)
                return answer_failure(
                    task.task_token, "Evaluation.Misconfigured", f"invalid worker settings: {exc}"
                )
        if settings.evaluation_backend == "sagemaker":
            from mlops_evaluation.dispatch.sagemaker import dispatch_sagemaker

            return dispatch_sagemaker(task, settings)
        if settings.evaluation_backend == "local":
            from mlops_evaluation.dispatch.local import dispatch_local

            return dispatch_local(task, settings)
        try:
            require_lambda_fit(task, settings)
        except EvaluationError as exc:
            log.error("%s", exc.reason)
            return answer_failure(task.task_token, exc.code, exc.reason)
        return process_task(task, settings)


def record_handler(record: SQSRecord) -> TaskResult:
    return process_message(record.body)


def handler(event: dict[str, Any], context: Any) -> PartialItemFailureResponse:
    # every failed record is reported in batchItemFailures, also when the whole batch failed
    processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
    return process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )


def completion_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """EventBridge rule target for "SageMaker Processing Job State Change" (EVALUATION_BACKEND=sagemaker)."""
    from mlops_evaluation.dispatch.sagemaker import handle_state_change

    outcome = handle_state_change(event)
    log.info("evaluation job state", extra={"job": event["detail"]["ProcessingJobName"], "outcome": outcome})
    return {"outcome": outcome}
