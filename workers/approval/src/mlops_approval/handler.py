"""The approval queue's consumer (Lambda with ReportBatchItemFailures; the local runner calls the same
function). For each WaitForHumanApproval message: register the wait with the API - the task token
stays there, never in a notification - and publish `approval_requested` with the signed links.

A request the API refuses for good (unknown run, run already over, invalid) fails the task token at
once, so the workflow does not wait 72 h for a decision nobody can take. Anything else (API or SNS
down, bad API key) is reported for that record alone and comes back until the DLQ."""

from __future__ import annotations

import json
import logging
from functools import lru_cache
from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from mlops_approval.messages import ApprovalRequest, Kind
from mlops_approval.settings import ApprovalWorkerSettings
from mlops_contracts.api_client import ApiClient, ApiError
from mlops_contracts.aws import aws_client
from mlops_contracts.logs import configure_lambda_logging
from mlops_contracts.task_tokens import TaskToken
from mlops_contracts.tracing import run_span

configure_lambda_logging()
log = logging.getLogger(__name__)
processor = BatchProcessor(event_type=EventType.SQS)

# The API's answers that retrying cannot change.
PERMANENT = frozenset({400, 404, 409, 422})
REFUSED_ERROR = "ApprovalRequestRefused"


@lru_cache(maxsize=1)
def _api() -> ApiClient:
    return ApiClient.from_env("approval-worker")  # its own key: it may only register approval requests


def publish(topic_arn: str, kind: Kind, message: dict[str, Any]) -> str:
    answer = aws_client("sns").publish(
        TopicArn=topic_arn,
        Message=json.dumps({"kind": kind.value, **message}),
        MessageAttributes={"kind": {"DataType": "String", "StringValue": kind.value}},
    )
    return str(answer["MessageId"])


def request_approval(request: ApprovalRequest, settings: ApprovalWorkerSettings) -> str | None:
    """Register and notify. Returns the SNS message id, or None when the API refused for good (the
    task token is then failed)."""
    topic_arn = settings.topic_arn()  # before registering: a misconfigured worker changes nothing
    try:
        response = _api().request("POST", f"/runs/{request.run_id}/approvals", json=request.registration())
    except ApiError as exc:
        if exc.status_code not in PERMANENT:
            raise
        log.warning(
            "approval request refused by the API; failing the task",
            extra={
                "run_id": request.run_id,
                "execution_arn": request.execution_arn,
                "status": exc.status_code,
            },
        )
        TaskToken(request.task_token).fail(REFUSED_ERROR, str(exc.detail))
        return None
    registered = response.json()
    message = {
        "run_id": request.run_id,
        "model_name": request.model_name,
        "model_id": request.model_id,
        "model_package_arn": request.model_package_arn,
        "execution_arn": request.execution_arn,
        "ml_score": request.ml_score,
        "scores": request.scores,
        "ml_score_threshold": registered["approval"]["ml_score_threshold"],
        "timeout_seconds": request.timeout_seconds,
        "expires_at": registered["expires_at"],
        "approve_url": registered["approve_url"],
        "reject_url": registered["reject_url"],
    }
    message_id = publish(topic_arn, Kind.APPROVAL_REQUESTED, message)
    log.info(
        "approval requested",
        extra={
            "run_id": request.run_id,
            "execution_arn": request.execution_arn,
            "approval_id": registered["approval"]["id"],
            "first_delivery": registered["created"],
        },
    )
    return message_id


def record_handler(record: SQSRecord) -> None:
    request = ApprovalRequest.model_validate_json(record.body)
    with run_span("approval request", request.run_id):
        request_approval(request, ApprovalWorkerSettings())


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    response = process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )
    return dict(response)
