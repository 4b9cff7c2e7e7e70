"""The SageMaker backend against the strict emulator (every request checked against botocore's
model, UpdateEndpoint from the emulator's extension) with the live API: the first deployment
creates the endpoint and its rollback alarms; the next updates it to its own config; a failing smoke
test (the endpoint's answers are Stubber's: no model runs here) updates it back, so the endpoint
serves the previous config and the previous deployment stays in service."""

from __future__ import annotations

import io
import json
import uuid
from typing import Any

import pytest
from botocore.response import StreamingBody
from botocore.stub import Stubber

from mlops_contracts.api_client import ApiClient
from mlops_contracts.aws import aws_client
from mlops_deployer.deploy import DeployFailed
from mlops_deployer.messages import DeployTask
from mlops_deployer.sagemaker import deploy_sagemaker
from mlops_deployer.settings import DeployerSettings
from mlops_testkit.api import OUTPUTS_BUCKET, AwsFixture, Clients

ROLE = "arn:aws:iam::123456789012:role/mlops-sagemaker-role"


def _answer(text: str) -> dict[str, Any]:
    raw = json.dumps({"answer": text}).encode()
    return {"Body": StreamingBody(io.BytesIO(raw), len(raw)), "ContentType": "application/json"}


def _approved(group: str, version: str) -> str:
    sagemaker = aws_client("sagemaker")
    arn: str = sagemaker.create_model_package(
        ModelPackageGroupName=group,
        ModelApprovalStatus="PendingManualApproval",
        InferenceSpecification={
            "Containers": [
                {
                    "Image": "123456789012.dkr.ecr.eu-west-1.amazonaws.com/mlops-serving:1",
                    "ModelDataUrl": f"s3://{OUTPUTS_BUCKET}/{group}/{version}/model.tar.gz",
                }
            ],
            "SupportedContentTypes": ["application/json"],
            "SupportedResponseMIMETypes": ["application/json"],
        },
    )["ModelPackageArn"]
    sagemaker.update_model_package(ModelPackageArn=arn, ModelApprovalStatus="Approved")
    return arn


def test_create_update_and_roll_back_on_the_emulator(clients: Clients, aws: AwsFixture, clean: None) -> None:
    group = f"ep-{uuid.uuid4().hex[:6]}"
    sagemaker, cloudwatch = aws_client("sagemaker"), aws_client("cloudwatch")
    sagemaker.create_model_package_group(ModelPackageGroupName=group)
    arns = [_approved(group, "v1"), _approved(group, "v2")]
    runtime = aws_client("sagemaker-runtime")
    answers = Stubber(runtime)
    answers.add_response("invoke_endpoint", _answer("Runs are stored in PostgreSQL."))
    answers.add_response("invoke_endpoint", _answer(""))
    answers.activate()
    clients_ = {"sagemaker": sagemaker, "sagemaker-runtime": runtime, "cloudwatch": cloudwatch}
    settings = DeployerSettings(
        SAGEMAKER_EXECUTION_ROLE_ARN=ROLE,
        SERVING_DATA_CAPTURE_URI=f"s3://{OUTPUTS_BUCKET}/data-capture/",
        DEPLOYER_SMOKE_QUESTIONS=1,
    )
    api = ApiClient(clients.base_url, clients.keys["deployer"])

    first = deploy_sagemaker(
        api,
        DeployTask(task_token="t", mode="release", model_name=group, model_package_arn=arns[0]),
        settings,
        lambda: None,
        clients=clients_,
        sleep=lambda _: None,
    )
    assert first.status == "in_service"
    endpoint = sagemaker.describe_endpoint(EndpointName=group)
    assert (endpoint["EndpointStatus"], endpoint["EndpointConfigName"]) == ("InService", f"{group}-d1")
    config = sagemaker.describe_endpoint_config(EndpointConfigName=f"{group}-d1")
    [variant] = config["ProductionVariants"]
    assert (variant["InstanceType"], variant["InitialInstanceCount"]) == ("ml.g5.xlarge", 1)
    assert config["DataCaptureConfig"]["EnableCapture"] is True
    model = sagemaker.describe_model(ModelName=f"{group}-d1")
    assert model["Containers"][0]["ModelPackageName"] == arns[0]
    alarms = cloudwatch.describe_alarms(AlarmNamePrefix=f"mlops-serving-{group}-")["MetricAlarms"]
    assert sorted(a["MetricName"] for a in alarms) == ["Invocation5XXErrors", "ModelLatency"]

    with clients.as_("operator") as op:
        requested = op.post("/deployments", json={"model_name": group, "version": 2}).json()
    with pytest.raises(DeployFailed) as failed:
        deploy_sagemaker(
            api,
            DeployTask(
                task_token="t",
                mode="deploy",
                model_name=group,
                model_package_arn=arns[1],
                deployment_id=requested["id"],
            ),
            settings,
            lambda: None,
            clients=clients_,
            sleep=lambda _: None,
        )
    assert failed.value.error == "Deploy.SmokeTestFailed"
    # v2's config was put in service by UpdateEndpoint, then the rollback put v1's back
    assert sagemaker.describe_endpoint_config(EndpointConfigName=f"{group}-d{requested['id']}")
    assert sagemaker.describe_endpoint(EndpointName=group)["EndpointConfigName"] == f"{group}-d1"
    with clients.as_("viewer") as viewer:
        listing = viewer.get(f"/models/{group}/deployments").json()
    assert [(d["version"], d["status"]) for d in listing["items"]] == [(2, "rolled_back"), (1, "in_service")]
    answers.assert_no_pending_responses()
