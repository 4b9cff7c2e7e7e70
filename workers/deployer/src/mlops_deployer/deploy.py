"""One deploy task: the deployment's record with the API, the backend's work, the smoke test, the
report. A failure is reported on the record (failed, or rolled_back when the previous deployment
was restored) and raised as DeployFailed, which the handler turns into SendTaskFailure: the
workflow's Catch puts the reason on the run's timeline; the approval verdict stays."""

from __future__ import annotations

import logging
from typing import Any

from mlops_contracts.api_client import ApiClient
from mlops_contracts.aws import aws_client
from mlops_deployer.artifact import PackageNotDeployable, extract_model, model_data_url
from mlops_deployer.local import LocalServing, ServingStartFailed, ask_local
from mlops_deployer.messages import DeployOutcome, DeployTask
from mlops_deployer.settings import DeployerSettings
from mlops_deployer.smoke import SmokeTestFailed, questions_of, smoke_test

log = logging.getLogger(__name__)


class DeployFailed(RuntimeError):
    def __init__(self, error: str, reason: str) -> None:
        super().__init__(reason)
        self.error = error
        self.reason = reason


def describe_package(arn: str) -> dict[str, Any]:
    described: dict[str, Any] = aws_client("sagemaker").describe_model_package(ModelPackageName=arn)
    return described


def deployment_record(
    api: ApiClient, task: DeployTask, package: dict[str, Any], questions: int
) -> dict[str, Any]:
    """The API's record of this deployment and its smoke questions: made by POST /deployments
    (deploy mode), or registered now for the release (idempotent: a redelivered task finds the
    same record). The record's `smoke_questions` are the run's first evaluation questions."""
    if task.mode == "deploy":
        if task.deployment_id is None:
            raise DeployFailed("Deploy.BadTask", "a deploy-mode task names no deployment_id")
        deployment_id = task.deployment_id
    else:
        body = {
            "model_name": task.model_name,
            "model_package_arn": task.model_package_arn,
            "version": int(package.get("ModelPackageVersion") or 1),
            "run_id": task.run_id,
        }
        deployment_id = int(api.request("POST", "/deployments/release", json=body).json()["id"])
    got = api.request("GET", f"/deployments/{deployment_id}/task", params={"count": questions}).json()
    record: dict[str, Any] = {**got["deployment"], "smoke_questions": got["smoke_questions"]}
    return record


def report(api: ApiClient, deployment_id: int, status: str, **fields: Any) -> dict[str, Any]:
    body = {"status": status, **{k: v for k, v in fields.items() if v is not None}}
    reported: dict[str, Any] = api.request("PATCH", f"/deployments/{deployment_id}/status", json=body).json()
    return reported


def deploy_local(
    api: ApiClient, task: DeployTask, settings: DeployerSettings, beat: Any, local: LocalServing | None = None
) -> DeployOutcome:
    package = describe_package(task.model_package_arn)
    record = deployment_record(api, task, package, settings.smoke_questions)
    deployment_id, endpoint = int(record["id"]), str(record["endpoint_name"])
    if record["status"] == "in_service":  # a redelivered task whose first delivery finished
        return DeployOutcome(
            deployment_id=deployment_id,
            status="in_service",
            endpoint_name=endpoint,
            endpoint_url=record["endpoint_url"],
        )
    local = local or LocalServing(settings.state_dir, settings.serving_command)
    try:
        model_dir = extract_model(model_data_url(package), local.model_dir(endpoint, deployment_id))
        serving = local.start(
            endpoint, deployment_id, model_dir, timeout_seconds=settings.start_timeout_seconds, beat=beat
        )
    except (PackageNotDeployable, ServingStartFailed) as exc:
        report(api, deployment_id, "failed", reason=str(exc)[:4000])
        raise DeployFailed("Deploy.StartFailed", str(exc)) from exc
    questions = questions_of(record["smoke_questions"], settings.smoke_questions)
    try:
        result = smoke_test(
            ask_local(serving.url, settings.smoke_latency_seconds),
            questions,
            latency_bound_seconds=settings.smoke_latency_seconds,
            max_new_tokens=settings.smoke_max_new_tokens,
        )
    except SmokeTestFailed as exc:
        local.discard(serving)
        previous = local.serving(endpoint)
        status = "rolled_back" if previous is not None else "failed"
        kept = f"; deployment {previous.deployment_id} still serves" if previous is not None else ""
        report(api, deployment_id, status, reason=f"{exc}{kept}"[:4000])
        raise DeployFailed("Deploy.SmokeTestFailed", f"{exc}{kept}") from exc
    local.promote(endpoint, serving)
    report(
        api,
        deployment_id,
        "in_service",
        endpoint_url=serving.url,
        variant=f"v{record['version']}",
        reason=f"smoke test: {result.questions} question(s), slowest {result.slowest_seconds:.2f} s",
    )
    return DeployOutcome(
        deployment_id=deployment_id, status="in_service", endpoint_name=endpoint, endpoint_url=serving.url
    )
