"""The release workflow's first step: claim the run for this execution, so one run has one workflow.

EventBridge delivers run.created at least once and its Step Functions target does not deduplicate:
two executions may start for one run. Each sends `{task_token, run_id, execution_arn}` here; the API
makes the first claimer the run's owner (atomically) and the token is answered `{"claimed": bool}`:
the state machine ends a duplicate at once, before it trains, registers or asks anyone anything
(docs/decisions/0013-one-workflow-per-run.md).

Lambda entrypoint (SQS event source with ReportBatchItemFailures); the local runner calls the same
function. An API that cannot answer now leaves the record to come back; an unknown run fails the task.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from pydantic import BaseModel, ConfigDict, Field

from mlops_contracts.api_client import ApiClient, ApiError
from mlops_contracts.logs import configure_lambda_logging, log_context
from mlops_contracts.task_tokens import TaskToken, TokenDead
from mlops_contracts.tracing import run_span
from mlops_projector.api import api_client

configure_lambda_logging()
log = logging.getLogger(__name__)
processor = BatchProcessor(event_type=EventType.SQS)

UNKNOWN_RUN_ERROR = "Claim.RunNotFound"


class ClaimTask(BaseModel):
    model_config = ConfigDict(extra="ignore")

    task_token: str = Field(min_length=1)
    run_id: int
    execution_arn: str = Field(min_length=1)


def claim(api: ApiClient, task: ClaimTask) -> bool | None:
    """Claim and answer the token. Returns whether this execution owns the run (None: unknown run)."""
    token = TaskToken(task.task_token)
    try:
        claimed = api.claim_run(task.run_id, task.execution_arn)
    except ApiError as exc:
        if exc.status_code != 404:
            raise  # the API cannot answer now: the record comes back
        token.fail(UNKNOWN_RUN_ERROR, f"run {task.run_id} does not exist: {exc.detail}")
        return None
    try:
        token.succeed({"claimed": claimed})
    except TokenDead as exc:  # the execution is over (timed out, stopped): nothing waits for the answer
        log.warning("claim of run %s: the execution no longer waits (%s)", task.run_id, exc)
    if not claimed:
        log.warning(
            "run %s is owned by another execution: %s ends as a duplicate", task.run_id, task.execution_arn
        )
    return claimed


def record_handler(record: SQSRecord) -> None:
    task = ClaimTask.model_validate(json.loads(record.body))
    with log_context(run_id=task.run_id), run_span("claim run", task.run_id):
        claim(api_client(), task)


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    api_client()  # outside the batch: a bad setting fails the invocation, naming the variable
    response = process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )
    return dict(response)
