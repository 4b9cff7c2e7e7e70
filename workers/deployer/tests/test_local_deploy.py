"""The local serving backend end to end against the live API, PostgreSQL and the strict emulator:
an approved package's model data (the tiny model, merged weights) is served by a real
`python -m mlops_serving serve` process; the API's "try it" reaches it; a deployment whose smoke
test fails is rolled back and leaves the previous one in service and answering; retiring stops it."""

from __future__ import annotations

import io
import json
import tarfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from mlops_contracts.api_client import ApiClient
from mlops_contracts.aws import aws_client
from mlops_contracts.prompts import DEFAULT_PROMPT_TEMPLATE
from mlops_deployer.deploy import DeployFailed, deploy_local
from mlops_deployer.local import LocalServing, pid_alive
from mlops_deployer.messages import DeployTask
from mlops_deployer.settings import DeployerSettings
from mlops_testkit.api import OUTPUTS_BUCKET, AwsFixture, Clients

CORPUS = ["Runs are stored in PostgreSQL.", "The MLScore gate fails closed."]


@pytest.fixture(scope="module")
def model_tar(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """A training artifact with merged weights (the tiny model) and its prompt metadata."""
    from mlops_devstack.tiny_model import build_tiny_model

    tiny = build_tiny_model(
        tmp_path_factory.mktemp("tiny"),
        [DEFAULT_PROMPT_TEMPLATE.format(context=c, question="?") + c for c in CORPUS] * 4,
    )
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        tar.add(tiny, arcname="merged")
        meta = json.dumps(
            {"prompt": {"format": "qa", "template": DEFAULT_PROMPT_TEMPLATE, "bos": True}}
        ).encode()
        info = tarfile.TarInfo("metadata.json")
        info.size = len(meta)
        tar.addfile(info, io.BytesIO(meta))
    return buffer.getvalue()


def _approved_package(group: str, model_tar: bytes, version_label: str) -> str:
    key = f"{group}/{version_label}/model.tar.gz"
    aws_client("s3").put_object(Bucket=OUTPUTS_BUCKET, Key=key, Body=model_tar)
    sagemaker = aws_client("sagemaker")
    arn: str = sagemaker.create_model_package(
        ModelPackageGroupName=group,
        ModelApprovalStatus="PendingManualApproval",
        InferenceSpecification={
            "Containers": [
                {
                    "Image": "123456789012.dkr.ecr.eu-west-1.amazonaws.com/mlops-serving:1",
                    "ModelDataUrl": f"s3://{OUTPUTS_BUCKET}/{key}",
                }
            ],
            "SupportedContentTypes": ["application/json"],
            "SupportedResponseMIMETypes": ["application/json"],
        },
    )["ModelPackageArn"]
    sagemaker.update_model_package(ModelPackageArn=arn, ModelApprovalStatus="Approved")
    return arn


@pytest.fixture
def local(tmp_path: Path) -> Iterator[LocalServing]:
    serving = LocalServing(tmp_path / "deployments")
    yield serving
    for state in (tmp_path / "deployments" / "endpoints").glob("*.json"):
        serving.retire(state.stem, json.loads(state.read_text())["deployment_id"])


def test_serve_try_roll_back_and_retire(
    clients: Clients,
    aws: AwsFixture,
    clean: None,
    model_tar: bytes,
    local: LocalServing,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    group = f"served-{uuid.uuid4().hex[:6]}"
    aws_client("sagemaker").create_model_package_group(ModelPackageGroupName=group)
    first_arn = _approved_package(group, model_tar, "v1")
    second_arn = _approved_package(group, model_tar, "v2")
    settings = DeployerSettings(
        DEPLOYER_STATE_DIR=tmp_path / "deployments", DEPLOYER_START_TIMEOUT_SECONDS=120
    )
    beats: list[int] = []
    api = ApiClient(clients.base_url, clients.keys["deployer"])

    release = DeployTask(task_token="t", mode="release", model_name=group, model_package_arn=first_arn)
    outcome = deploy_local(api, release, settings, lambda: beats.append(1), local)
    assert outcome.status == "in_service"
    assert outcome.endpoint_url
    assert outcome.endpoint_url.startswith("http://127.0.0.1:")
    first = local.serving(group)
    assert first is not None
    assert first.deployment_id == outcome.deployment_id

    with clients.as_("operator") as op:
        tried = op.post(
            f"/deployments/{outcome.deployment_id}/invoke", json={"question": "Where are runs stored?"}
        )
    assert tried.status_code == 200, tried.text
    assert tried.json()["answer"].strip()
    assert tried.json()["latency_ms"] > 0

    # The operator deploys v2; its smoke test cannot meet a latency bound of a microsecond.
    with clients.as_("operator") as op:
        requested = op.post("/deployments", json={"model_name": group, "version": 2})
    assert requested.status_code == 202, requested.text
    strict = settings.model_copy(update={"smoke_latency_seconds": 1e-6})
    task = DeployTask(
        task_token="t",
        mode="deploy",
        model_name=group,
        model_package_arn=second_arn,
        deployment_id=requested.json()["id"],
    )
    with pytest.raises(DeployFailed) as failed:
        deploy_local(api, task, strict, lambda: None, local)
    assert failed.value.error == "Deploy.SmokeTestFailed"
    assert "over the bound" in failed.value.reason
    with clients.as_("viewer") as viewer:
        listing = viewer.get(f"/models/{group}/deployments").json()
    assert [(d["version"], d["status"]) for d in listing["items"]] == [(2, "rolled_back"), (1, "in_service")]
    assert f"deployment {outcome.deployment_id} still serves" in listing["items"][0]["reason"]
    assert local.serving(group) == first  # the previous process still answers
    assert httpx.get(first.url + "/ping").status_code == 200

    with clients.as_("operator") as op:
        retired = op.delete(f"/deployments/{outcome.deployment_id}")
    assert retired.json()["status"] == "retired"
    # The bus's deployment.status_changed (retired) reaches the deployer, which stops the process.
    [event] = [
        e
        for e in aws.drain_events(expect=5)
        if e["detail-type"] == "deployment.status_changed"
        and e["detail"]["status"] == "retired"
        and e["detail"]["deployment_id"] == outcome.deployment_id
    ]
    monkeypatch.setenv("DEPLOYER_STATE_DIR", str(tmp_path / "deployments"))
    monkeypatch.setenv("SERVING_BACKEND", "local")
    from mlops_deployer.handler import retire

    assert retire(event) == "stopped"
    assert not pid_alive(first.pid)
    assert local.serving(group) is None
