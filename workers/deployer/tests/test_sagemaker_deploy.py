"""The SageMaker backend's requests, each checked against botocore's service model by Stubber (moto
has no UpdateEndpoint), with the live API: a first deployment creates the endpoint; the next one
updates it with a blue/green canary and auto-rollback on the variant's alarms; a failing smoke test
updates the endpoint back to the previous config, reports rolled_back and leaves the previous
deployment in service."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.response import StreamingBody
from botocore.stub import ANY, Stubber

from mlops_contracts.api_client import ApiClient
from mlops_contracts.aws import aws_client
from mlops_deployer.deploy import DeployFailed
from mlops_deployer.messages import DeployTask
from mlops_deployer.sagemaker import deploy_sagemaker
from mlops_deployer.settings import DeployerSettings
from mlops_testkit.api import Clients

ROLE = "arn:aws:iam::123456789012:role/mlops-sagemaker-execution"
GROUP = "support-bot"
ARNS = [f"arn:aws:sagemaker:eu-west-1:123456789012:model-package/{GROUP}/{v}" for v in (1, 2)]
CAPTURE = "s3://mlops-model-outputs/data-capture/"
ALARMS = [f"mlops-serving-{GROUP}-5xx-errors", f"mlops-serving-{GROUP}-model-latency"]


@pytest.fixture
def stubs() -> Iterator[dict[str, Stubber]]:
    clients = {
        name: aws_client(name, region="eu-west-1")
        for name in ("sagemaker", "sagemaker-runtime", "cloudwatch")
    }
    stubbers = {name: Stubber(client) for name, client in clients.items()}
    for stubber in stubbers.values():
        stubber.activate()
    yield stubbers
    for stubber in stubbers.values():
        stubber.assert_no_pending_responses()
        stubber.deactivate()


def _clients(stubs: dict[str, Stubber]) -> dict[str, Any]:
    return {name: stubber.client for name, stubber in stubs.items()}  # type: ignore[attr-defined]


def _package(version: int) -> dict[str, Any]:
    return {
        "ModelPackageName": GROUP,
        "ModelPackageGroupName": GROUP,
        "ModelPackageVersion": version,
        "ModelPackageArn": ARNS[version - 1],
        "CreationTime": "2026-12-07T00:00:00Z",
        "ModelPackageStatus": "Completed",
        "ModelApprovalStatus": "Approved",
        "ModelPackageStatusDetails": {"ValidationStatuses": [], "ImageScanStatuses": []},
    }


def _endpoint(status: str, config: str) -> dict[str, Any]:
    return {
        "EndpointName": GROUP,
        "EndpointArn": f"arn:aws:sagemaker:eu-west-1:123456789012:endpoint/{GROUP}",
        "EndpointConfigName": config,
        "EndpointStatus": status,
        "CreationTime": "2026-12-07T00:00:00Z",
        "LastModifiedTime": "2026-12-07T00:00:00Z",
    }


def _answer(text: str) -> dict[str, Any]:
    raw = json.dumps({"answer": text}).encode()
    return {"Body": StreamingBody(io.BytesIO(raw), len(raw)), "ContentType": "application/json"}


def _creates(stubs: dict[str, Stubber], version: int, deployment_id: int) -> str:
    name = f"{GROUP}-d{deployment_id}"
    stubs["sagemaker"].add_response(
        "create_model",
        {"ModelArn": f"arn:aws:sagemaker:eu-west-1:123456789012:model/{name}"},
        {
            "ModelName": name,
            "ExecutionRoleArn": ROLE,
            "Containers": [{"ModelPackageName": ARNS[version - 1]}],
            "Tags": ANY,
        },
    )
    stubs["sagemaker"].add_response(
        "create_endpoint_config",
        {"EndpointConfigArn": f"arn:aws:sagemaker:eu-west-1:123456789012:endpoint-config/{name}"},
        {
            "EndpointConfigName": name,
            "ProductionVariants": [
                {
                    "VariantName": "AllTraffic",
                    "ModelName": name,
                    "InstanceType": "ml.g5.2xlarge",
                    "InitialInstanceCount": 2,
                }
            ],
            "DataCaptureConfig": {
                "EnableCapture": True,
                "InitialSamplingPercentage": 100,
                "DestinationS3Uri": CAPTURE,
                "CaptureOptions": [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}],
                "CaptureContentTypeHeader": {"JsonContentTypes": ["application/json"]},
            },
            "Tags": ANY,
        },
    )
    for alarm, metric in zip(ALARMS, ("Invocation5XXErrors", "ModelLatency"), strict=True):
        stubs["cloudwatch"].add_response("put_metric_alarm", {}, {**_alarm_params(alarm, metric)})
    return name


def _alarm_params(alarm: str, metric: str) -> dict[str, Any]:
    return {
        "AlarmName": alarm,
        "AlarmDescription": ANY,
        "MetricName": metric,
        "Namespace": "AWS/SageMaker",
        "Statistic": ANY,
        "Dimensions": [
            {"Name": "EndpointName", "Value": GROUP},
            {"Name": "VariantName", "Value": "AllTraffic"},
        ],
        "Period": 60,
        "EvaluationPeriods": 1,
        "Threshold": ANY,
        "ComparisonOperator": "GreaterThanThreshold",
        "TreatMissingData": "notBreaching",
        "Tags": ANY,
    }


def test_create_then_canary_update_rolled_back_by_the_smoke_test(
    clients: Clients, clean: None, stubs: dict[str, Stubber]
) -> None:
    settings = DeployerSettings(
        SAGEMAKER_EXECUTION_ROLE_ARN=ROLE,
        SERVING_INSTANCE_TYPE="ml.g5.2xlarge",
        SERVING_INSTANCE_COUNT=2,
        SERVING_DATA_CAPTURE_URI=CAPTURE,
        SERVING_CANARY_PERCENT=10,
        SERVING_CANARY_WAIT_SECONDS=300,
        DEPLOYER_SMOKE_QUESTIONS=1,
    )
    api = ApiClient(clients.base_url, clients.keys["deployer"])
    sagemaker = stubs["sagemaker"]
    beats: list[int] = []

    # 1. A new endpoint.
    sagemaker.add_response("describe_model_package", _package(1), {"ModelPackageName": ARNS[0]})
    sagemaker.add_client_error(
        "describe_endpoint",
        "ValidationException",
        f'Could not find endpoint "{GROUP}".',
        expected_params={"EndpointName": GROUP},
    )
    first_config = _creates(stubs, 1, 1)
    sagemaker.add_response(
        "create_endpoint",
        {"EndpointArn": f"arn:aws:sagemaker:eu-west-1:123456789012:endpoint/{GROUP}"},
        {"EndpointName": GROUP, "EndpointConfigName": first_config, "Tags": ANY},
    )
    sagemaker.add_response("describe_endpoint", _endpoint("Creating", first_config), {"EndpointName": GROUP})
    sagemaker.add_response("describe_endpoint", _endpoint("InService", first_config), {"EndpointName": GROUP})
    stubs["sagemaker-runtime"].add_response(
        "invoke_endpoint",
        _answer("Runs are stored in PostgreSQL."),
        {"EndpointName": GROUP, "ContentType": "application/json", "Accept": "application/json", "Body": ANY},
    )
    task = DeployTask(task_token="t", mode="release", model_name=GROUP, model_package_arn=ARNS[0])
    first = deploy_sagemaker(
        api, task, settings, lambda: beats.append(1), clients=_clients(stubs), sleep=lambda _: None
    )
    assert first.status == "in_service"
    assert (
        first.endpoint_url
        == f"https://runtime.sagemaker.eu-west-1.amazonaws.com/endpoints/{GROUP}/invocations"
    )
    assert beats == [1]  # one heartbeat while the endpoint was Creating

    # 2. The next version: UpdateEndpoint with the guardrails; its smoke test gets an empty answer.
    sagemaker.add_response("describe_model_package", _package(2), {"ModelPackageName": ARNS[1]})
    sagemaker.add_response("describe_endpoint", _endpoint("InService", first_config), {"EndpointName": GROUP})
    second_config = _creates(stubs, 2, 2)
    sagemaker.add_response(
        "update_endpoint",
        {"EndpointArn": f"arn:aws:sagemaker:eu-west-1:123456789012:endpoint/{GROUP}"},
        {
            "EndpointName": GROUP,
            "EndpointConfigName": second_config,
            "DeploymentConfig": {
                "BlueGreenUpdatePolicy": {
                    "TrafficRoutingConfiguration": {
                        "Type": "CANARY",
                        "CanarySize": {"Type": "CAPACITY_PERCENT", "Value": 10},
                        "WaitIntervalInSeconds": 300,
                    },
                    "TerminationWaitInSeconds": 600,
                    "MaximumExecutionTimeoutInSeconds": 3600,
                },
                "AutoRollbackConfiguration": {"Alarms": [{"AlarmName": name} for name in ALARMS]},
            },
        },
    )
    sagemaker.add_response(
        "describe_endpoint", _endpoint("InService", second_config), {"EndpointName": GROUP}
    )
    stubs["sagemaker-runtime"].add_response("invoke_endpoint", _answer("  "), None)
    sagemaker.add_response(
        "update_endpoint",
        {"EndpointArn": f"arn:aws:sagemaker:eu-west-1:123456789012:endpoint/{GROUP}"},
        {"EndpointName": GROUP, "EndpointConfigName": first_config},
    )
    sagemaker.add_response("describe_endpoint", _endpoint("Updating", first_config), {"EndpointName": GROUP})
    sagemaker.add_response("describe_endpoint", _endpoint("InService", first_config), {"EndpointName": GROUP})
    task = DeployTask(task_token="t", mode="release", model_name=GROUP, model_package_arn=ARNS[1])
    with pytest.raises(DeployFailed) as failed:
        deploy_sagemaker(api, task, settings, lambda: None, clients=_clients(stubs), sleep=lambda _: None)
    assert failed.value.error == "Deploy.SmokeTestFailed"
    assert (
        failed.value.reason
        == f"smoke question 1 got an empty answer; the endpoint is back on {first_config} (InService)"
    )

    with clients.as_("viewer") as viewer:
        listing = viewer.get(f"/models/{GROUP}/deployments").json()
    assert [(d["version"], d["status"]) for d in listing["items"]] == [(2, "rolled_back"), (1, "in_service")]
    assert listing["serving"]["variant"] == "AllTraffic"


def test_a_bad_instance_type_is_refused_before_any_request(
    clients: Clients, stubs: dict[str, Stubber]
) -> None:
    settings = DeployerSettings(SAGEMAKER_EXECUTION_ROLE_ARN=ROLE, SERVING_INSTANCE_TYPE="ml.m5.large")
    api = ApiClient(clients.base_url, clients.keys["deployer"])
    task = DeployTask(task_token="t", mode="release", model_name=GROUP, model_package_arn=ARNS[0])
    with pytest.raises(DeployFailed) as failed:
        deploy_sagemaker(api, task, settings, lambda: None, clients=_clients(stubs))
    assert failed.value.error == "Deploy.NotConfigured"
    assert "ml.m5.large" in failed.value.reason
