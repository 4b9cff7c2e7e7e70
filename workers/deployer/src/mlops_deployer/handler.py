"""Entrypoint: the deployments queue's consumer (a Lambda in production, the local runner here).
SERVING_BACKEND=sagemaker|local chooses the backend (docs/decisions/0004-ports-and-adapters.md)."""

from __future__ import annotations

import json
import logging
from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from mlops_contracts.api_client import ApiClient
from mlops_contracts.logs import configure_lambda_logging, log_context
from mlops_contracts.task_tokens import TaskToken, TokenDead
from mlops_contracts.tracing import run_span
from mlops_deployer.deploy import DeployFailed, deploy_local
from mlops_deployer.local import LocalServing
from mlops_deployer.messages import DeployTask
from mlops_deployer.settings import get_settings

configure_lambda_logging()
log = logging.getLogger(__name__)
processor = BatchProcessor(event_type=EventType.SQS)
get_settings()  # at cold start: a bad value stops the process here, naming the variable


def run_task(task: DeployTask, api: ApiClient) -> None:
    settings = get_settings()
    token = TaskToken(task.task_token)

    def beat() -> None:
        token.heartbeat()

    try:
        if settings.serving_backend == "local":
            outcome = deploy_local(api, task, settings, beat)
        else:
            from mlops_deployer.sagemaker import deploy_sagemaker

            outcome = deploy_sagemaker(api, task, settings, beat)
    except DeployFailed as exc:
        log.warning("deployment failed: %s", exc.reason)
        token.fail(exc.error, exc.reason)
        return
    except TokenDead as exc:
        log.warning("the workflow no longer waits: %s", exc)
        return
    token.succeed(outcome.model_dump())


def retire(event: dict[str, Any]) -> str:
    """A deployment the API retired (DELETE /deployments/{id}; the bus's deployment.status_changed
    with status retired): what serves it stops. One replaced by a newer deployment was stopped
    when that one took over: nothing to do."""
    detail = event["detail"]
    settings = get_settings()
    endpoint, deployment_id = str(detail["endpoint_name"]), int(detail["deployment_id"])
    if settings.serving_backend == "local":
        stopped = LocalServing(settings.state_dir, settings.serving_command).retire(endpoint, deployment_id)
    else:
        from mlops_deployer.sagemaker import delete_if_serving

        stopped = delete_if_serving(endpoint, deployment_id)
    log.info("deployment %s retired: %s", deployment_id, "stopped" if stopped else "nothing served it")
    return "stopped" if stopped else "nothing"


def record_handler(record: SQSRecord) -> None:
    body = json.loads(record.body)
    if "detail-type" in body:  # an event of the bus, not a workflow task
        if body["detail-type"] == "deployment.status_changed" and body["detail"].get("status") == "retired":
            retire(body)
        return
    task = DeployTask.model_validate(body)
    with (
        log_context(run_id=task.run_id),
        run_span("deploy task", task.run_id),
        ApiClient.from_env("deployer") as api,
    ):
        log.info("deploy task", extra={"backend": get_settings().serving_backend, "mode": task.mode})
        run_task(task, api)


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    response = process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )
    return dict(response)
