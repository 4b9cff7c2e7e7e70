"""SERVING_BACKEND=sagemaker: the approved package on a SageMaker real-time endpoint, one endpoint
per model, updated in place with SageMaker's deployment guardrails.

CreateModel (the package version: Containers[].ModelPackageName), CreateEndpointConfig (the GPU
instance type of libs' one sizing table, data capture to S3), the endpoint's two alarms (the
variant's 5XX invocation errors and model latency; PutMetricAlarm, idempotent), then CreateEndpoint
for a new model or UpdateEndpoint with a blue/green CANARY traffic shift whose AutoRollbackConfiguration
watches those alarms. Then a wait for InService (heartbeats to the workflow) and the smoke test
through sagemaker-runtime InvokeEndpoint. A failed smoke test updates the endpoint back to the
previous endpoint config; SageMaker's own rollback (an alarm during the canary) shows as the
endpoint InService on its previous config. Either way the deployment is reported rolled_back.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from typing import Any

from botocore.exceptions import ClientError

from mlops_contracts.api_client import ApiClient
from mlops_contracts.aws import aws_client
from mlops_contracts.gpu_sizing import SizingError, instance
from mlops_deployer.deploy import DeployFailed, deployment_record, report
from mlops_deployer.messages import DeployOutcome, DeployTask
from mlops_deployer.settings import DeployerSettings
from mlops_deployer.smoke import SmokeTestFailed, questions_of, smoke_test

log = logging.getLogger(__name__)

VARIANT = "AllTraffic"
DEFAULT_SERVING_INSTANCE = "ml.g5.xlarge"  # one A10G (24 GB): a 7B model with its adapter in bf16
POLL_SECONDS = 30.0
TAGS = [{"Key": "project", "Value": "mlops"}]
# UpdateEndpoint's blue/green limits (botocore: MaximumExecutionTimeoutInSeconds 600..14400)
MAX_EXECUTION_SECONDS = 3600
BAKE_SECONDS = 600  # TerminationWaitInSeconds: the old fleet is kept this long after the full shift


def runtime_url(region: str, endpoint: str) -> str:
    return f"https://runtime.sagemaker.{region}.amazonaws.com/endpoints/{endpoint}/invocations"


def alarm_names(settings: DeployerSettings, endpoint: str) -> list[str]:
    return [
        f"{settings.alarm_prefix}-{endpoint}-5xx-errors",
        f"{settings.alarm_prefix}-{endpoint}-model-latency",
    ]


def put_alarms(cloudwatch: Any, settings: DeployerSettings, endpoint: str) -> list[str]:
    """The variant's error and latency alarms that the canary's AutoRollbackConfiguration watches."""
    errors, latency = alarm_names(settings, endpoint)
    dimensions = [{"Name": "EndpointName", "Value": endpoint}, {"Name": "VariantName", "Value": VARIANT}]
    common = {"Namespace": "AWS/SageMaker", "Dimensions": dimensions, "Period": 60, "EvaluationPeriods": 1}
    cloudwatch.put_metric_alarm(
        AlarmName=errors,
        AlarmDescription=f"5XX invocation errors of {endpoint}: rolls a deployment back",
        MetricName="Invocation5XXErrors",
        Statistic="Sum",
        Threshold=0.0,
        ComparisonOperator="GreaterThanThreshold",
        TreatMissingData="notBreaching",
        Tags=TAGS,
        **common,
    )
    cloudwatch.put_metric_alarm(
        AlarmName=latency,
        AlarmDescription=f"model latency of {endpoint} over the smoke test's bound: rolls a deployment back",
        MetricName="ModelLatency",  # microseconds
        Statistic="Average",
        Threshold=settings.smoke_latency_seconds * 1_000_000,
        ComparisonOperator="GreaterThanThreshold",
        TreatMissingData="notBreaching",
        Tags=TAGS,
        **common,
    )
    return [errors, latency]


def deployment_config(settings: DeployerSettings, alarms: list[str]) -> dict[str, Any]:
    return {
        "BlueGreenUpdatePolicy": {
            "TrafficRoutingConfiguration": {
                "Type": "CANARY",
                "CanarySize": {"Type": "CAPACITY_PERCENT", "Value": settings.canary_percent},
                "WaitIntervalInSeconds": settings.canary_wait_seconds,
            },
            "TerminationWaitInSeconds": BAKE_SECONDS,
            "MaximumExecutionTimeoutInSeconds": MAX_EXECUTION_SECONDS,
        },
        "AutoRollbackConfiguration": {"Alarms": [{"AlarmName": name} for name in alarms]},
    }


def endpoint_config(
    settings: DeployerSettings, name: str, model_name: str, instance_type: str
) -> dict[str, Any]:
    config: dict[str, Any] = {
        "EndpointConfigName": name,
        "ProductionVariants": [
            {
                "VariantName": VARIANT,
                "ModelName": model_name,
                "InstanceType": instance_type,
                "InitialInstanceCount": settings.initial_instance_count,
            }
        ],
        "Tags": TAGS,
    }
    if settings.data_capture_uri:
        config["DataCaptureConfig"] = {
            "EnableCapture": True,
            "InitialSamplingPercentage": 100,
            "DestinationS3Uri": settings.data_capture_uri,
            "CaptureOptions": [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}],
            "CaptureContentTypeHeader": {"JsonContentTypes": ["application/json"]},
        }
    return config


def current_config(sagemaker: Any, endpoint: str) -> str | None:
    """The endpoint's config, None when the endpoint does not exist yet."""
    try:
        described = sagemaker.describe_endpoint(EndpointName=endpoint)
    except ClientError as exc:
        if "Could not find endpoint" in str(exc.response.get("Error", {}).get("Message", "")):
            return None
        raise
    return str(described["EndpointConfigName"])


def wait_in_service(
    sagemaker: Any,
    endpoint: str,
    *,
    timeout_seconds: float,
    beat: Callable[[], None],
    sleep: Callable[[float], None],
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_seconds
    while True:
        described: dict[str, Any] = sagemaker.describe_endpoint(EndpointName=endpoint)
        status = described["EndpointStatus"]
        if status in ("InService", "Failed", "UpdateRollbackFailed", "OutOfService"):
            return described
        if time.monotonic() > deadline:
            raise DeployFailed(
                "Deploy.Timeout", f"endpoint {endpoint} still {status} after {timeout_seconds:g} s"
            )
        beat()
        sleep(POLL_SECONDS)


def config_name(endpoint: str, deployment_id: int) -> str:
    """The model and endpoint config of a deployment (SageMaker names: at most 63 characters)."""
    return f"{endpoint[:50]}-d{deployment_id}"[:63]


def delete_if_serving(endpoint: str, deployment_id: int, sagemaker: Any = None) -> bool:
    """A retired deployment's endpoint is deleted when it still serves that deployment's config."""
    sagemaker = sagemaker or aws_client("sagemaker")
    if current_config(sagemaker, endpoint) != config_name(endpoint, deployment_id):
        return False
    sagemaker.delete_endpoint(EndpointName=endpoint)
    return True


def ask_sagemaker(runtime: Any, endpoint: str) -> Callable[[dict[str, Any]], str]:
    def ask(body: dict[str, Any]) -> str:
        response = runtime.invoke_endpoint(
            EndpointName=endpoint,
            ContentType="application/json",
            Accept="application/json",
            Body=json.dumps(body).encode(),
        )
        return str(json.loads(response["Body"].read())["answer"])

    return ask


def deploy_sagemaker(
    api: ApiClient,
    task: DeployTask,
    settings: DeployerSettings,
    beat: Callable[[], None],
    *,
    clients: dict[str, Any] | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> DeployOutcome:
    clients = clients or {}
    sagemaker = clients.get("sagemaker") or aws_client("sagemaker")
    runtime = clients.get("sagemaker-runtime") or aws_client("sagemaker-runtime", max_attempts=2)
    cloudwatch = clients.get("cloudwatch") or aws_client("cloudwatch")
    if not settings.execution_role_arn:
        raise DeployFailed("Deploy.NotConfigured", "SAGEMAKER_EXECUTION_ROLE_ARN is not set")
    instance_type = settings.instance_type or DEFAULT_SERVING_INSTANCE
    try:
        instance(instance_type)
    except SizingError as exc:
        raise DeployFailed("Deploy.NotConfigured", f"SERVING_INSTANCE_TYPE: {exc}") from exc

    package = sagemaker.describe_model_package(ModelPackageName=task.model_package_arn)
    record = deployment_record(api, task, package, settings.smoke_questions)
    deployment_id, endpoint = int(record["id"]), str(record["endpoint_name"])
    url = runtime_url(settings.aws_region, endpoint)
    if record["status"] == "in_service":
        return DeployOutcome(
            deployment_id=deployment_id, status="in_service", endpoint_name=endpoint, endpoint_url=url
        )
    name = config_name(endpoint, deployment_id)

    def fail(status: str, error: str, reason: str) -> DeployFailed:
        report(api, deployment_id, status, reason=reason[:4000])
        return DeployFailed(error, reason)

    try:
        previous = current_config(sagemaker, endpoint)
        sagemaker.create_model(
            ModelName=name,
            ExecutionRoleArn=settings.execution_role_arn,
            Containers=[{"ModelPackageName": task.model_package_arn}],
            Tags=TAGS,
        )
        sagemaker.create_endpoint_config(**endpoint_config(settings, name, name, instance_type))
        alarms = put_alarms(cloudwatch, settings, endpoint)
        if previous is None:
            sagemaker.create_endpoint(EndpointName=endpoint, EndpointConfigName=name, Tags=TAGS)
        else:
            sagemaker.update_endpoint(
                EndpointName=endpoint,
                EndpointConfigName=name,
                DeploymentConfig=deployment_config(settings, alarms),
            )
    except ClientError as exc:
        error = exc.response.get("Error", {})
        raise fail(
            "failed",
            "Deploy.Refused",
            f"SageMaker refused the deployment: {error.get('Code')}: {error.get('Message')}",
        ) from exc

    described = wait_in_service(
        sagemaker, endpoint, timeout_seconds=settings.start_timeout_seconds, beat=beat, sleep=sleep
    )
    if described["EndpointStatus"] != "InService":
        raise fail(
            "failed",
            "Deploy.EndpointFailed",
            f"endpoint {endpoint} is {described['EndpointStatus']}: {described.get('FailureReason', '')}",
        )
    if described["EndpointConfigName"] != name:  # the guardrails' alarms rolled the canary back
        raise fail(
            "rolled_back",
            "Deploy.RolledBack",
            f"SageMaker rolled {endpoint} back to {described['EndpointConfigName']}: an alarm fired during the canary",
        )

    try:
        result = smoke_test(
            ask_sagemaker(runtime, endpoint),
            questions_of(record["smoke_questions"], settings.smoke_questions),
            latency_bound_seconds=settings.smoke_latency_seconds,
            max_new_tokens=settings.smoke_max_new_tokens,
        )
    except SmokeTestFailed as exc:
        if previous is None:
            raise fail("failed", "Deploy.SmokeTestFailed", str(exc)) from exc
        sagemaker.update_endpoint(EndpointName=endpoint, EndpointConfigName=previous)
        restored = wait_in_service(
            sagemaker, endpoint, timeout_seconds=settings.start_timeout_seconds, beat=beat, sleep=sleep
        )
        reason = f"{exc}; the endpoint is back on {previous} ({restored['EndpointStatus']})"
        raise fail("rolled_back", "Deploy.SmokeTestFailed", reason) from exc

    report(
        api,
        deployment_id,
        "in_service",
        endpoint_url=url,
        variant=VARIANT,
        reason=f"smoke test: {result.questions} question(s), slowest {result.slowest_seconds:.2f} s",
    )
    return DeployOutcome(
        deployment_id=deployment_id, status="in_service", endpoint_name=endpoint, endpoint_url=url
    )
