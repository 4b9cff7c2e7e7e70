"""The read endpoints the dashboard needs, against the live API and the emulator: who the signed-in
key is (GET /me), the model registry (GET /models, GET /models/{name}/versions) and a run's
per-sample evaluation rows (GET /runs/{id}/samples)."""

from __future__ import annotations

import json
import uuid

from mlops_contracts.aws import aws_client
from mlops_testkit.api import OUTPUTS_BUCKET, Clients, run_body


def test_me_names_the_key_and_its_role(clients: Clients) -> None:
    for role in ("viewer", "operator", "approver", "service", "admin"):
        with clients.as_(role) as client:
            response = client.get("/me")
        assert response.status_code == 200, response.text
        me = response.json()
        assert me["role"] == role
        assert me["name"].startswith(role)
        assert me["key_id"] >= 1
    with clients.as_("approver") as approver:
        assert approver.get("/me").json()["permissions"] == [
            "read runs and datasets",
            "cancel runs",
            "tag and annotate runs",  # issue #22: approvers tag and annotate runs too
            "approve or reject runs",
        ]
    with clients.anonymous() as anonymous:
        assert anonymous.get("/me").status_code == 401
        bad = anonymous.get("/me", headers={"X-API-Key": "mlk_not-a-key"})
    assert bad.status_code == 401
    assert bad.json()["detail"] == "invalid or revoked API key"


def test_models_lists_groups_and_versions_with_scores(clients: Clients, datasets: dict[str, int]) -> None:
    with clients.as_("operator") as op:
        run_id = op.post("/runs", json=run_body(datasets)).json()["id"]
    with clients.as_("service") as svc:
        recorded = svc.put(
            f"/runs/{run_id}/results/evaluation", json={"metrics": {}, "ml_score": 0.81, "passed": True}
        )
        assert recorded.status_code == 200, recorded.text
    group = f"reg-{uuid.uuid4().hex[:8]}"
    sagemaker = aws_client("sagemaker")
    sagemaker.create_model_package_group(ModelPackageGroupName=group, ModelPackageGroupDescription="RAG QA")
    first = sagemaker.create_model_package(
        ModelPackageGroupName=group,
        ModelApprovalStatus="PendingManualApproval",
        ModelPackageDescription="v1",
        CustomerMetadataProperties={"ml_score": "0.64", "run_id": "999999"},
    )["ModelPackageArn"]
    sagemaker.update_model_package(ModelPackageArn=first, ModelApprovalStatus="Rejected")
    second = sagemaker.create_model_package(
        ModelPackageGroupName=group,
        ModelApprovalStatus="PendingManualApproval",
        CustomerMetadataProperties={"run_id": str(run_id)},
    )["ModelPackageArn"]
    sagemaker.update_model_package(
        ModelPackageArn=second,
        ModelApprovalStatus="Approved",
        CustomerMetadataProperties={"deployment_status": "go_prod"},
    )

    with clients.as_("viewer") as viewer:
        listing = viewer.get("/models")
        versions = viewer.get(f"/models/{group}/versions")
        missing = viewer.get("/models/no-such-group/versions")
        invalid = viewer.get("/models/bad_name!/versions")
    assert listing.status_code == 200, listing.text
    [summary] = [g for g in listing.json()["items"] if g["name"] == group]
    assert summary["versions"] == 2
    assert summary["latest_version"] == 2
    assert summary["latest_approval_status"] == "Approved"
    assert summary["approved_versions"] == 1
    assert summary["description"] == "RAG QA"

    assert versions.status_code == 200, versions.text
    body = versions.json()
    assert body["name"] == group
    v1, v2 = body["items"]
    assert (v1["version"], v1["approval_status"], v1["ml_score"], v1["ml_score_source"]) == (
        1,
        "Rejected",
        0.64,
        "registry",
    )
    assert (v1["run_id"], v1["run_status"]) == (999999, None)  # a run this API does not know
    assert (v2["version"], v2["approval_status"], v2["ml_score"], v2["ml_score_source"]) == (
        2,
        "Approved",
        0.81,
        "run",
    )
    assert v2["metadata"] == {"run_id": str(run_id), "deployment_status": "go_prod"}
    assert (v2["run_id"], v2["run_status"]) == (run_id, "pending")
    assert missing.status_code == 404
    assert invalid.status_code == 422
    with clients.anonymous() as anonymous:
        assert anonymous.get("/models").status_code == 401


def test_samples_come_from_the_evaluation_result(clients: Clients, datasets: dict[str, int]) -> None:
    with clients.as_("operator") as op:
        run = op.post("/runs", json=run_body(datasets)).json()
    run_id, model = run["id"], run["model_name"]
    with clients.as_("viewer") as viewer:
        none_yet = viewer.get(f"/runs/{run_id}/samples")
    assert none_yet.status_code == 404
    assert "no per-sample" in none_yet.json()["detail"]

    rows = [
        {"index": i, "question": f"q{i}", "answer": f"a{i}", "faithfulness": i / 10, "scored": True}
        for i in range(5)
    ]
    key = f"{model}/evaluations/run-{run_id}/exec/samples.jsonl"  # the run's own prefix
    body = "".join(json.dumps(r) + "\n" for r in rows) + "not json\n"
    aws_client("s3").put_object(Bucket=OUTPUTS_BUCKET, Key=key, Body=body.encode())
    with clients.as_("evaluator") as svc:
        metrics = {"samples_uri": f"s3://{OUTPUTS_BUCKET}/{key}"}
        assert svc.put(f"/runs/{run_id}/results/evaluation", json={"metrics": metrics}).status_code == 200
    with clients.as_("viewer") as viewer:
        everything = viewer.get(f"/runs/{run_id}/samples")
        first_two = viewer.get(f"/runs/{run_id}/samples", params={"limit": 2})
        no_run = viewer.get("/runs/999999/samples")
    assert everything.status_code == 200, everything.text
    assert everything.json()["items"] == rows  # the damaged line is skipped
    assert everything.json()["total"] == 6
    assert first_two.json()["items"] == rows[:2]
    assert first_two.json()["truncated"] is True
    assert no_run.status_code == 404

    with clients.as_("evaluator") as svc:
        gone = {"samples_uri": f"s3://{OUTPUTS_BUCKET}/{model}/run-{run_id}/nothing-here.jsonl"}
        svc.put(f"/runs/{run_id}/results/evaluation", json={"metrics": gone})
    with clients.as_("viewer") as viewer:
        assert viewer.get(f"/runs/{run_id}/samples").status_code == 404
