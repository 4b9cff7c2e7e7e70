"""Answering the release workflow's task token."""

from __future__ import annotations

import logging

from mlops_contracts.aws import aws_client
from mlops_training.dispatch.messages import TrainingOutcome

log = logging.getLogger(__name__)

# Step Functions limits: error 256 characters, cause 32768.
_MAX_ERROR, _MAX_CAUSE = 256, 32768


def succeed(task_token: str, outcome: TrainingOutcome) -> None:
    aws_client("stepfunctions").send_task_success(taskToken=task_token, output=outcome.model_dump_json())


def fail(task_token: str, error: str, cause: str) -> None:
    aws_client("stepfunctions").send_task_failure(
        taskToken=task_token, error=error[:_MAX_ERROR], cause=cause[:_MAX_CAUSE]
    )


def heartbeat(task_token: str) -> bool:
    """Tell the workflow the job is alive. False when the workflow no longer waits (the
    execution timed out or was stopped), so the caller can stop the job."""
    client = aws_client("stepfunctions")
    try:
        client.send_task_heartbeat(taskToken=task_token)
        return True
    except (client.exceptions.TaskTimedOut, client.exceptions.InvalidToken):
        log.warning("the workflow no longer waits for this training task")
        return False
