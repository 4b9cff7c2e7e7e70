"""The SDK's and the CLI's deployment calls against the live API (testkit's server on a real
PostgreSQL and the strict emulator's model registry). The deployer worker's part is played through
the API's deployer routes, as the worker reports (services/api/tests/test_deployments.py does the
same); no model is served: a deployment "in service" points at a port where nothing listens."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from typer.testing import CliRunner

from mlops_client import (
    ApiError,
    AsyncClient,
    Client,
    Deployment,
    DeploymentConflict,
    DeploymentFailed,
    DeploymentStatus,
    DeploymentWaitTimeout,
)
from mlops_client.cli import app
from mlops_contracts.aws import aws_client
from mlops_testkit.api import Clients

pytestmark = pytest.mark.usefixtures("clean")

NOWHERE = "http://127.0.0.1:9"  # nothing listens on the discard port


def _registry(*statuses: str) -> str:
    """A package group with one version per registry status, as the release workflow leaves them."""
    group = f"sdk-dep-{uuid.uuid4().hex[:8]}"
    sagemaker = aws_client("sagemaker")
    sagemaker.create_model_package_group(ModelPackageGroupName=group)
    for index, status in enumerate(statuses):
        arn = sagemaker.create_model_package(
            ModelPackageGroupName=group,
            ModelApprovalStatus="PendingManualApproval",
            CustomerMetadataProperties={"run_id": str(100 + index)},
        )["ModelPackageArn"]
        if status != "PendingManualApproval":
            sagemaker.update_model_package(ModelPackageArn=arn, ModelApprovalStatus=status)
    return group


def _report(clients: Clients, deployment_id: int, status: str, **fields: Any) -> None:
    """The deployer's report of a deployment's outcome."""
    with clients.as_("deployer") as deployer:
        answer = deployer.patch(f"/deployments/{deployment_id}/status", json={"status": status, **fields})
    assert answer.status_code == 200, answer.text


def _deploying(clients: Clients, group: str) -> int:
    """The id of the model's deployment once the API recorded it (`deploy(wait=True)` runs meanwhile)."""
    deadline = time.monotonic() + 10
    with clients.as_("viewer") as viewer:
        while time.monotonic() < deadline:
            items = viewer.get(f"/models/{group}/deployments").json()["items"]
            if items and items[0]["status"] == "deploying":
                return int(items[0]["id"])
            time.sleep(0.05)
    raise AssertionError(f"no deployment of {group} was recorded")


def test_deploy_wait_list_invoke_and_retire(clients: Clients) -> None:
    group = _registry("Approved", "Rejected", "Approved")
    with Client(clients.base_url, clients.keys["operator"], attempts=1) as client:
        with pytest.raises(DeploymentConflict) as rejected:
            client.deployments.deploy(group, 2)
        assert rejected.value.status_code == 409
        assert (
            str(rejected.value)
            == f"version 2 of '{group}' is Rejected: only an Approved package can be deployed"
        )

        # deploy(wait=True) polls until the deployer reports the deployment in service
        with ThreadPoolExecutor(max_workers=1) as pool:
            waiting = pool.submit(client.deployments.deploy, group, wait=True, timeout=30, poll_interval=0.1)
            newest = _deploying(clients, group)
            _report(clients, newest, "in_service", endpoint_url=NOWHERE, variant="v3")
            served = waiting.result(timeout=30)
        assert (served.id, served.version, served.status) == (newest, 3, DeploymentStatus.IN_SERVICE)
        assert (served.endpoint_url, served.origin, served.run_id) == (NOWHERE, "api", 102)

        # an earlier version is the rollback; the deployer rolls it back and the wait says so
        rollback = client.deployments.deploy(group, 1, reason="v3 answers worse")
        assert (rollback.version, rollback.status, rollback.reason) == (
            1,
            DeploymentStatus.DEPLOYING,
            "v3 answers worse",
        )
        with pytest.raises(DeploymentConflict, match="still deploying"):
            client.deployments.deploy(group)
        with pytest.raises(DeploymentWaitTimeout) as timed_out:
            client.deployments.wait(rollback.id, timeout=0.3, poll_interval=0.1)
        assert timed_out.value.deployment.status is DeploymentStatus.DEPLOYING
        _report(clients, rollback.id, "rolled_back", reason="smoke test: empty answer")
        with pytest.raises(DeploymentFailed, match="rolled_back: smoke test: empty answer") as failed:
            client.deployments.wait(rollback.id, timeout=5)
        assert failed.value.deployment.id == rollback.id

        listing = client.deployments.list(group)
        assert listing.model_name == group
        assert listing.serving is not None
        assert listing.serving.id == newest
        assert [(d.id, d.status) for d in listing.items] == [
            (rollback.id, DeploymentStatus.ROLLED_BACK),
            (newest, DeploymentStatus.IN_SERVICE),
        ]
        assert [d.id for d in client.deployments.list(group, limit=1).items] == [rollback.id]

        # the API forwards the question to the endpoint, which does not answer: 503, not a conflict
        with pytest.raises(ApiError) as unavailable:
            client.deployments.invoke(newest, "Where are runs stored?")
        assert unavailable.value.status_code == 503
        assert not isinstance(unavailable.value, DeploymentConflict)
        assert "the endpoint did not answer" in str(unavailable.value)

        retired = client.deployments.retire(newest)
        assert retired.status is DeploymentStatus.RETIRED
        assert (retired.reason or "").startswith("retired by operator")
        assert client.deployments.retire(newest).status is DeploymentStatus.RETIRED  # idempotent
        with pytest.raises(DeploymentConflict, match="only one in service answers"):
            client.deployments.invoke(newest, "Where are runs stored?")
        with pytest.raises(DeploymentConflict, match="only one in service can be retired"):
            client.deployments.retire(rollback.id)
        assert client.deployments.list(group).serving is None
    with Client(clients.base_url, clients.keys["viewer"]) as viewer, pytest.raises(ApiError) as forbidden:
        viewer.deployments.deploy(group)
    assert forbidden.value.status_code == 403


def test_async_client_does_the_same(clients: Clients) -> None:
    group = _registry("PendingManualApproval", "Approved")

    async def scenario() -> tuple[Deployment, Deployment, str]:
        async with AsyncClient(clients.base_url, clients.keys["operator"]) as client:
            with pytest.raises(DeploymentConflict) as pending:
                await client.deployments.deploy(group, 1)
            waiting = asyncio.create_task(
                client.deployments.deploy(group, wait=True, timeout=30, poll_interval=0.1)
            )
            deployment_id = await asyncio.to_thread(_deploying, clients, group)
            await asyncio.to_thread(_report, clients, deployment_id, "in_service", endpoint_url=NOWHERE)
            served = await waiting
            retired = await client.deployments.retire(served.id)
            listing = await client.deployments.list(group)
            assert [d.id for d in listing.items] == [served.id]
            return served, retired, str(pending.value)

    served, retired, pending = asyncio.run(scenario())
    assert (served.version, served.status) == (2, DeploymentStatus.IN_SERVICE)
    assert retired.status is DeploymentStatus.RETIRED
    assert (
        pending
        == f"version 1 of '{group}' is PendingManualApproval: only an Approved package can be deployed"
    )


def _mlops(clients: Clients, *args: str, role: str = "operator") -> tuple[int, str, str]:
    """The command's Typer app in this process, as sdk/tests/test_cli.py runs it."""
    env: dict[str, str | None] = {
        "MLOPS_SESSION_COOKIE": None,
        "MLOPS_API_URL": clients.base_url,
        "MLOPS_API_KEY": clients.keys[role],
    }
    result = CliRunner().invoke(app, list(args), env=env, catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def test_cli_deploy_list_invoke_retire_and_exit_codes(clients: Clients) -> None:
    pending = _registry("PendingManualApproval")
    code, _, err = _mlops(clients, "deployments", "deploy", pending)
    assert code == 1  # the API refused
    assert f"refused: model '{pending}' has no approved version to deploy" in err
    code, _, err = _mlops(clients, "deployments", "deploy", pending, "--version", "1")
    assert code == 1
    assert "is PendingManualApproval: only an Approved package can be deployed" in err
    assert _mlops(clients, "deployments", "deploy", pending, "--version", "0")[0] == 2  # usage

    group = _registry("Approved")
    code, out, err = _mlops(clients, "deployments", "deploy", group, "--wait", "--timeout", "0.3", "--json")
    assert code == 3, err  # nobody deploys it: the wait times out, showing where it stands
    deployment = json.loads(out)
    assert (deployment["version"], deployment["status"]) == (1, "deploying")
    assert f"deployment {deployment['id']} is still 'deploying'" in err

    code, out, err = _mlops(clients, "deployments", "invoke", str(deployment["id"]), "Where are runs stored?")
    assert code == 1
    assert "only one in service answers" in err

    code, out, err = _mlops(clients, "deployments", "wait", str(deployment["id"]), "--timeout", "0.2")
    assert code == 3, err  # still deploying: the wait says where it stands
    assert "deploying" in out

    _report(clients, deployment["id"], "in_service", endpoint_url=NOWHERE, variant="v1")
    code, out, err = _mlops(clients, "deployments", "wait", str(deployment["id"]), "--json", role="viewer")
    assert code == 0, err
    assert json.loads(out)["status"] == "in_service"
    code, out, err = _mlops(clients, "deployments", "get", str(deployment["id"]), role="viewer")
    assert code == 0, err
    assert "in_service" in out
    assert NOWHERE in out
    assert _mlops(clients, "deployments", "get", "987654", role="viewer")[0] == 1  # no such deployment
    code, out, err = _mlops(clients, "deployments", "list", group, "--json", role="viewer")
    assert code == 0, err
    listing = json.loads(out)
    assert listing["model_name"] == group
    assert listing["serving"]["id"] == deployment["id"]
    assert [(d["id"], d["status"]) for d in listing["items"]] == [(deployment["id"], "in_service")]
    code, out, err = _mlops(clients, "deployments", "list", group, role="viewer")
    assert code == 0, err
    assert f"{group}: v1 in service (deployment {deployment['id']})" in out
    assert NOWHERE in out

    code, out, err = _mlops(clients, "deployments", "retire", str(deployment["id"]), "--json")
    assert code == 0, err
    assert json.loads(out)["status"] == "retired"
    code, out, err = _mlops(clients, "deployments", "retire", str(deployment["id"]))
    assert code == 0, err
    assert "retired" in out
    assert f"{group}: nothing in service" in _mlops(clients, "deployments", "list", group)[1]
