"""Deployments (issue #20) against the live API, PostgreSQL and the strict emulator's registry: an
approved version is deployed (the request announced on the bus, where it starts the workflow's
deploy-only mode), an older approved one too (a rollback), a version that is not Approved is a 409;
the deployer's reports move the record, in service retires the one it replaces; DELETE retires."""

from __future__ import annotations

import uuid
from typing import Any

from mlops_contracts.aws import aws_client
from mlops_testkit.api import AwsFixture, Clients


def _registry(statuses: list[str], run_ids: list[int] | None = None) -> tuple[str, list[str]]:
    """A package group with one version per status (the workflow's verdict written as it writes it)."""
    group = f"dep-{uuid.uuid4().hex[:8]}"
    sagemaker = aws_client("sagemaker")
    sagemaker.create_model_package_group(ModelPackageGroupName=group)
    arns = []
    for index, status in enumerate(statuses):
        arn = sagemaker.create_model_package(
            ModelPackageGroupName=group,
            ModelApprovalStatus="PendingManualApproval",
            CustomerMetadataProperties={"run_id": str((run_ids or [])[index] if run_ids else 100 + index)},
        )["ModelPackageArn"]
        if status != "PendingManualApproval":
            sagemaker.update_model_package(ModelPackageArn=arn, ModelApprovalStatus=status)
        arns.append(arn)
    return group, arns


def _deployment_events(aws: AwsFixture, expect: int) -> list[dict[str, Any]]:
    return [e for e in aws.drain_events(expect=expect) if e["detail-type"].startswith("deployment.")]


def test_deploy_report_replace_and_retire(clients: Clients, aws: AwsFixture, clean: None) -> None:
    group, arns = _registry(["Approved", "Rejected", "Approved", "PendingManualApproval"])
    with clients.as_("operator") as op:
        newest = op.post("/deployments", json={"model_name": group})
    assert newest.status_code == 202, newest.text
    first = newest.json()
    assert (first["version"], first["model_package_arn"], first["status"]) == (3, arns[2], "deploying")
    assert (first["run_id"], first["endpoint_name"], first["origin"]) == (102, group, "api")
    assert first["requested_by"].startswith("operator")

    [requested] = _deployment_events(aws, 1)
    assert (requested["source"], requested["detail-type"]) == ("mlops.api", "deployment.requested")
    assert requested["detail"]["mode"] == "deploy"
    assert requested["detail"]["deployment_id"] == first["id"]
    assert requested["detail"]["model_package_arn"] == arns[2]

    with clients.as_("operator") as op:
        busy = op.post("/deployments", json={"model_name": group, "version": 1})
    assert busy.status_code == 409
    assert "still deploying" in busy.json()["detail"]

    with clients.as_("deployer") as deployer:
        served = deployer.patch(
            f"/deployments/{first['id']}/status",
            json={"status": "in_service", "endpoint_url": "http://127.0.0.1:9", "variant": "v3"},
        )
        again = deployer.patch(f"/deployments/{first['id']}/status", json={"status": "in_service"})
        not_allowed = deployer.post("/deployments", json={"model_name": group})
    assert served.status_code == 200, served.text
    assert (served.json()["status"], served.headers["x-status-changed"]) == ("in_service", "true")
    assert again.headers["x-status-changed"] == "false"
    assert not_allowed.status_code == 403

    # Rolling back is deploying an earlier approved version.
    with clients.as_("operator") as op:
        rollback = op.post(
            "/deployments", json={"model_name": group, "version": 1, "reason": "v3 answers worse"}
        )
    assert rollback.status_code == 202, rollback.text
    second = rollback.json()
    assert (second["version"], second["model_package_arn"], second["reason"]) == (
        1,
        arns[0],
        "v3 answers worse",
    )
    with clients.as_("deployer") as deployer:
        assert (
            deployer.patch(f"/deployments/{second['id']}/status", json={"status": "in_service"}).status_code
            == 200
        )
        back = deployer.patch(f"/deployments/{second['id']}/status", json={"status": "deploying"})
    assert back.status_code == 422  # the deployer reports outcomes only

    with clients.as_("viewer") as viewer:
        listing = viewer.get(f"/models/{group}/deployments").json()
    assert [(d["id"], d["status"]) for d in listing["items"]] == [
        (second["id"], "in_service"),
        (first["id"], "retired"),
    ]
    assert listing["items"][1]["reason"] == f"replaced by deployment {second['id']}"
    assert listing["items"][0]["reason"] == "v3 answers worse"  # why it was rolled back stays
    assert listing["serving"]["id"] == second["id"]

    with clients.as_("operator") as op:
        retired = op.delete(f"/deployments/{second['id']}")
        twice = op.delete(f"/deployments/{second['id']}")
    assert (retired.status_code, retired.json()["status"]) == (200, "retired")
    assert twice.status_code == 200
    with clients.as_("deployer") as deployer:
        late = deployer.patch(f"/deployments/{second['id']}/status", json={"status": "in_service"})
    assert late.status_code == 409
    changes = [
        (e["detail"]["deployment_id"], e["detail"].get("previous_status"), e["detail"]["status"])
        for e in _deployment_events(aws, 5)
        if e["detail-type"] == "deployment.status_changed"
    ]
    assert changes == [
        (first["id"], "deploying", "in_service"),
        (first["id"], "in_service", "retired"),
        (second["id"], "deploying", "in_service"),
        (second["id"], "in_service", "retired"),
    ]


def test_a_version_that_is_not_approved_is_refused(clients: Clients, clean: None) -> None:
    group, _ = _registry(["Rejected", "PendingManualApproval"])
    with clients.as_("operator") as op:
        rejected = op.post("/deployments", json={"model_name": group, "version": 1})
        pending = op.post("/deployments", json={"model_name": group, "version": 2})
        newest = op.post("/deployments", json={"model_name": group})
        missing = op.post("/deployments", json={"model_name": group, "version": 9})
    assert rejected.status_code == 409
    assert (
        rejected.json()["detail"]
        == f"version 1 of '{group}' is Rejected: only an Approved package can be deployed"
    )
    assert pending.status_code == 409
    assert "PendingManualApproval" in pending.json()["detail"]
    assert (newest.status_code, newest.json()["detail"]) == (
        409,
        f"model '{group}' has no approved version to deploy",
    )
    assert missing.status_code == 404
    with clients.as_("viewer") as viewer:
        assert viewer.post("/deployments", json={"model_name": group}).status_code == 403
        assert viewer.get(f"/models/{group}/deployments").json()["items"] == []


def test_the_release_registers_its_deployment_once(clients: Clients, clean: None) -> None:
    group, arns = _registry(["Approved"])
    body = {"model_name": group, "model_package_arn": arns[0], "version": 1, "run_id": 7}
    with clients.as_("deployer") as deployer:
        created = deployer.post("/deployments/release", json=body)
        redelivered = deployer.post("/deployments/release", json=body)
        failed = deployer.patch(
            f"/deployments/{created.json()['id']}/status",
            json={"status": "failed", "reason": "no /ping in 300 s"},
        )
    assert created.status_code == 201, created.text
    assert (created.json()["origin"], created.json()["status"]) == ("release", "deploying")
    assert (redelivered.status_code, redelivered.json()["id"]) == (200, created.json()["id"])
    assert (failed.json()["status"], failed.json()["reason"]) == ("failed", "no /ping in 300 s")
    assert failed.json()["finished_at"] is not None
    with clients.as_("operator") as op:
        refused = op.post("/deployments/release", json=body)
        not_serving = op.post(f"/deployments/{created.json()['id']}/invoke", json={"question": "hi"})
    assert refused.status_code == 403
    assert not_serving.status_code == 409
