"""Human approval against the live API, PostgreSQL and real Step Functions executions of the
emulator: decisions through the API, signed links and the timeout; links that are forged, altered,
expired or reused decide nothing; only approvers decide; the audit trail is complete."""

from __future__ import annotations

import json
import re
import time
import uuid
from typing import Any

import httpx
import psycopg
import pytest
from itsdangerous import URLSafeSerializer

from mlops_contracts.aws import aws_client
from mlops_testkit.api import IDENTITY_HEADER, AwsFixture, Clients, run_body
from mlops_testkit.people import bad_identities
from mlops_testkit.servers import WaitingTask

SIGNING_SECRET = "mlops/approval-signing-key"
SIGNING_KEY = "test-approval-signing-key-" + "k" * 32
SCORES = {"faithfulness": 0.91, "answer_relevancy": 0.84, "context_precision": 0.8, "context_recall": 0.77}


@pytest.fixture(scope="module", autouse=True)
def signing_key(aws: AwsFixture) -> str:
    """The API reads its link signing key from Secrets Manager (the production path)."""
    secrets = aws_client("secretsmanager")
    try:
        secrets.create_secret(Name=SIGNING_SECRET, SecretString=SIGNING_KEY)
    except secrets.exceptions.ResourceExistsException:
        secrets.put_secret_value(SecretId=SIGNING_SECRET, SecretString=SIGNING_KEY)
    return SIGNING_KEY


# --- helpers -------------------------------------------------------------------------------------


def awaiting_run(clients: Clients, datasets: dict[str, int]) -> int:
    with clients.as_("operator") as op:
        run_id = int(op.post("/runs", json=run_body(datasets, ml_score_threshold=0.7)).json()["id"])
    with clients.as_("projector") as projector:
        for status in ("evaluating", "awaiting_approval"):
            assert projector.patch(f"/runs/{run_id}/status", json={"status": status}).status_code == 200
    return run_id


def register(clients: Clients, run_id: int, token: str, **overrides: Any) -> httpx.Response:
    body: dict[str, Any] = {
        "task_token": token,
        "execution_arn": f"arn:aws:states:eu-west-1:123456789012:execution:release:run-{run_id}",
        "model_package_arn": f"arn:aws:sagemaker:eu-west-1:123456789012:model-package/mistral-7b-rag-qa/{run_id}",
        "ml_score": 0.832,
        "scores": SCORES,
        "ml_score_threshold": 0.7,
        "timeout_seconds": 3600,
        **overrides,
    }
    with clients.as_("approval-worker") as worker:
        return worker.post(f"/runs/{run_id}/approvals", json=body)


def registered(clients: Clients, run_id: int, token: str, **overrides: Any) -> dict[str, Any]:
    response = register(clients, run_id, token, **overrides)
    assert response.status_code == 201, response.text
    return dict(response.json())


def audit(clients: Clients, run_id: int) -> list[dict[str, Any]]:
    with clients.as_("viewer") as viewer:
        response = viewer.get(f"/runs/{run_id}/audit")
    assert response.status_code == 200, response.text
    return list(response.json())


def approval_row(db: psycopg.Connection[Any], run_id: int) -> dict[str, Any]:
    cursor = db.execute(
        "SELECT status, task_token, decided_by, decision_via, comment FROM approvals "
        "WHERE run_id = %s ORDER BY id DESC LIMIT 1",
        (run_id,),
    )
    row = cursor.fetchone()
    assert row is not None
    return dict(zip(["status", "task_token", "decided_by", "decision_via", "comment"], row, strict=True))


def key_name(db: psycopg.Connection[Any], key: str) -> str:
    import hashlib

    row = db.execute(
        "SELECT name FROM api_keys WHERE key_hash = %s", (hashlib.sha256(key.encode()).hexdigest(),)
    ).fetchone()
    assert row is not None
    return str(row[0])


def still_waiting(task: WaitingTask) -> bool:
    return bool(
        aws_client("stepfunctions").describe_execution(executionArn=task.execution_arn)["status"] == "RUNNING"
    )


def assert_nothing_decided(
    clients: Clients, db: psycopg.Connection[Any], run_id: int, task: WaitingTask | None
) -> None:
    assert approval_row(db, run_id)["status"] == "pending"
    assert [entry["action"] for entry in audit(clients, run_id)] == ["requested"]
    if task is not None:
        assert still_waiting(task)


def path_of(url: str) -> str:
    return httpx.URL(url).path


APPROVER = "ada@example.com"  # the local approver of the development signer (LOCAL_PEOPLE)


def browser(clients: Clients) -> httpx.Client:
    """An approver's browser behind the load balancer: a signed identity, no API key."""
    return clients.person("ada")


# --- decisions through the API ------------------------------------------------------------------


def test_approve_through_the_api_answers_the_task_token(
    clients: Clients, datasets: dict[str, int], db: psycopg.Connection[Any], waiting_task: WaitingTask
) -> None:
    run_id = awaiting_run(clients, datasets)
    first = registered(clients, run_id, waiting_task.token)
    assert first["created"] is True
    assert first["approval"]["status"] == "pending"
    assert first["approve_url"].startswith(f"{clients.base_url}/runs/{run_id}/approval-links/")
    again = register(clients, run_id, waiting_task.token)  # a redelivered request
    assert again.status_code == 200
    assert again.json()["created"] is False
    assert again.json()["approval"]["id"] == first["approval"]["id"]
    assert again.json()["approve_url"] == first["approve_url"]

    # only approvers decide (admins too where ADMIN_MAY_APPROVE is set; not here, the default)
    for role in ("viewer", "operator", "service", "admin", "projector", "evaluator", "approval-worker"):
        with clients.as_(role) as client:
            denied = client.post(f"/runs/{run_id}/approve", json={"comment": "ship it"})
        assert denied.status_code == 403, role
        assert denied.json()["detail"].endswith("this needs one of: approver")
    with clients.anonymous() as anonymous:
        assert anonymous.post(f"/runs/{run_id}/approve").status_code == 401
    assert_nothing_decided(clients, db, run_id, waiting_task)

    with clients.as_("approver") as approver:
        response = approver.post(f"/runs/{run_id}/approve", json={"comment": "scores look right"})
        assert response.status_code == 200, response.text
        decided = response.json()
        second = approver.post(f"/runs/{run_id}/approve", json={})
        other_way = approver.post(f"/runs/{run_id}/reject", json={"comment": "changed my mind"})
    approver_name = key_name(db, clients.keys["approver"])
    assert decided["status"] == "approved"
    assert decided["decided_by"] == approver_name
    assert decided["decision_via"] == "api"
    assert second.status_code == 409
    assert f"already approved by {approver_name}" in second.json()["detail"]
    assert other_way.status_code == 409

    execution = waiting_task.result()
    assert execution["status"] == "SUCCEEDED"
    assert json.loads(execution["output"]) == {
        "approved": True,
        "approver": approver_name,
        "registry_approver": approver_name,
        "comment": "scores look right",
    }

    trail = audit(clients, run_id)
    assert [(e["action"], e["via"]) for e in trail] == [("requested", "workflow"), ("approved", "api")]
    entry = trail[1]
    assert entry["actor"] == approver_name
    assert entry["comment"] == "scores look right"
    assert entry["ml_score"] == 0.832
    assert entry["ml_score_threshold"] == 0.7
    assert entry["approval_id"] == first["approval"]["id"]
    assert entry["occurred_at"]
    assert entry["details"]["client_ip"] == "127.0.0.1"
    assert trail[0]["details"]["scores"] == SCORES

    # the token: kept server-side while waiting, erased after, never in a response but the worker's
    assert approval_row(db, run_id)["task_token"] is None
    with clients.as_("admin") as admin:
        for path in (f"/runs/{run_id}", f"/runs/{run_id}/approval", f"/runs/{run_id}/audit"):
            text = admin.get(path).text
            assert waiting_task.token not in text
            assert "task_token" not in text
    assert "task_token" not in json.dumps(first)


def test_reject_through_the_api_needs_a_comment(
    clients: Clients, datasets: dict[str, int], db: psycopg.Connection[Any], waiting_task: WaitingTask
) -> None:
    run_id = awaiting_run(clients, datasets)
    registered(clients, run_id, waiting_task.token)
    with clients.as_("approver") as approver:
        for body in ({}, {"comment": ""}, {"comment": "   "}):
            response = approver.post(f"/runs/{run_id}/reject", json=body)
            assert response.status_code == 422, body
        assert "comment" in json.dumps(approver.post(f"/runs/{run_id}/reject", json={"comment": " "}).json())
    assert_nothing_decided(clients, db, run_id, waiting_task)

    with clients.as_("admin") as admin:  # separation of duties: admins decide only where configured
        by_admin = admin.post(f"/runs/{run_id}/reject", json={"comment": "context recall regressed"})
    assert by_admin.status_code == 403
    with clients.as_("approver") as approver:  # how a decision arrived is the server's to say
        claimed_via = approver.post(
            f"/runs/{run_id}/reject", json={"comment": "context recall regressed", "via": "dashboard"}
        )
    assert claimed_via.status_code == 422
    assert "`via` is not accepted" in json.dumps(claimed_via.json())
    assert_nothing_decided(clients, db, run_id, waiting_task)
    with clients.as_("approver") as approver:
        response = approver.post(f"/runs/{run_id}/reject", json={"comment": "context recall regressed"})
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "rejected"
    admin_name = key_name(db, clients.keys["approver"])
    execution = waiting_task.result()
    assert execution["status"] == "SUCCEEDED"
    assert json.loads(execution["output"]) == {
        "approved": False,
        "approver": admin_name,
        "registry_approver": admin_name,
        "comment": "context recall regressed",
    }
    last = audit(clients, run_id)[-1]
    assert (last["action"], last["via"], last["actor"]) == ("rejected", "api", admin_name)
    assert last["comment"] == "context recall regressed"


def test_nothing_to_decide_is_a_clear_404_or_409(clients: Clients, datasets: dict[str, int]) -> None:
    with clients.as_("operator") as op:
        run_id = op.post("/runs", json=run_body(datasets)).json()["id"]
    with clients.as_("approver") as approver:
        missing = approver.post("/runs/999999/approve", json={})
        waiting_for_nothing = approver.post(f"/runs/{run_id}/approve", json={})
        no_request = approver.get(f"/runs/{run_id}/approval")
        no_run_audit = approver.get("/runs/999999/audit")
    assert missing.status_code == 404
    assert waiting_for_nothing.status_code == 409
    assert "has no approval request (status 'pending')" in waiting_for_nothing.json()["detail"]
    assert no_request.status_code == 404
    assert no_run_audit.status_code == 404
    assert audit(clients, run_id) == []


def test_registration_rules(clients: Clients, datasets: dict[str, int], db: psycopg.Connection[Any]) -> None:
    run_id = awaiting_run(clients, datasets)
    with clients.as_("operator") as op:
        body = {"task_token": "t", "ml_score": 0.8}
        assert op.post(f"/runs/{run_id}/approvals", json=body).status_code == 403
    assert register(clients, 999999, "token-a").status_code == 404
    assert register(clients, run_id, "token-a", ml_score=1.5).status_code == 422
    assert register(clients, run_id, "token-a", scores={"faithfulness": "high"}).status_code == 422
    first = registered(clients, run_id, "token-a")
    other_run = awaiting_run(clients, datasets)
    assert register(clients, other_run, "token-a").status_code == 409  # a token belongs to one run

    # a second request of the same execution while the wait is live changes nothing (#23)
    same_execution = register(clients, run_id, "token-b", ml_score_threshold=None)
    assert same_execution.status_code == 409
    assert "a second request does not replace it" in same_execution.json()["detail"]
    with browser(clients) as page:
        assert page.get(path_of(first["approve_url"])).status_code == 200
    # a new execution's wait supersedes the old one: its links die
    new_execution = f"arn:aws:states:eu-west-1:123456789012:execution:release:run-{run_id}-again"
    second = registered(clients, run_id, "token-b", ml_score_threshold=None, execution_arn=new_execution)
    assert second["approval"]["ml_score_threshold"] == 0.7  # the run's
    with browser(clients) as page:
        assert page.get(path_of(first["approve_url"])).status_code == 410
    assert [(e["action"], e["approval_id"]) for e in audit(clients, run_id)] == [
        ("requested", first["approval"]["id"]),
        ("closed", first["approval"]["id"]),
        ("requested", second["approval"]["id"]),
    ]
    with clients.as_("projector") as projector:
        assert projector.patch(f"/runs/{run_id}/status", json={"status": "cancelled"}).status_code == 200
    assert register(clients, run_id, "token-c").status_code == 409  # nothing left to approve
    assert approval_row(db, run_id)["status"] == "closed"  # the cancelled run closed its wait
    with browser(clients) as page:
        assert page.get(path_of(second["approve_url"])).status_code == 410


# --- worker-key misuse (#23) ---------------------------------------------------------------------


def run_row(db: psycopg.Connection[Any], run_id: int) -> tuple[Any, ...]:
    row = db.execute("SELECT status, status_reason, updated_at FROM pipeline_runs WHERE id = %s", (run_id,))
    found = row.fetchone()
    assert found is not None
    return tuple(found)


def test_a_fake_registration_does_not_supersede_a_live_wait(
    clients: Clients, datasets: dict[str, int], db: psycopg.Connection[Any], waiting_task: WaitingTask
) -> None:
    """The shared worker key once registered a made-up token for a waiting run: the real links then
    answered 410 and the workflow waited out its 72 h."""
    run_id = awaiting_run(clients, datasets)
    real = registered(clients, run_id, waiting_task.token)
    execution = real["approval"]["execution_arn"]
    for role in ("service", "approval-worker"):
        with clients.as_(role) as client:
            fake = client.post(
                f"/runs/{run_id}/approvals",
                json={"task_token": f"fake-{role}", "execution_arn": execution, "ml_score": 0.99},
            )
            no_execution = client.post(
                f"/runs/{run_id}/approvals", json={"task_token": f"fake-{role}-2", "ml_score": 0.99}
            )
        assert fake.status_code == 409, fake.text
        assert no_execution.status_code == 409, no_execution.text
    for role in ("viewer", "operator", "approver", "admin", "projector", "evaluator"):
        with clients.as_(role) as client:
            denied = client.post(f"/runs/{run_id}/approvals", json={"task_token": "x", "ml_score": 0.99})
        assert denied.status_code == 403, role
    assert_nothing_decided(clients, db, run_id, waiting_task)
    with browser(clients) as page:
        assert page.get(path_of(real["approve_url"])).status_code == 200
    with clients.as_("approver") as approver:
        assert approver.post(f"/runs/{run_id}/approve", json={}).status_code == 200
    assert waiting_task.result()["status"] == "SUCCEEDED"


def test_a_registration_of_another_execution_than_the_runs_is_409(
    clients: Clients, datasets: dict[str, int], db: psycopg.Connection[Any]
) -> None:
    with clients.as_("operator") as op:
        run_id = int(op.post("/runs", json=run_body(datasets, ml_score_threshold=0.7)).json()["id"])
    own = f"arn:aws:states:eu-west-1:123456789012:execution:release:run-{run_id}"
    with clients.as_("projector") as projector:  # the run learns its execution from the workflow
        for status in ("evaluating", "awaiting_approval"):
            event = {"status": status, "execution_arn": own}
            assert projector.patch(f"/runs/{run_id}/status", json=event).status_code == 200
    other = register(clients, run_id, "token-other", execution_arn=own + "-not-mine")
    assert other.status_code == 409
    assert "does not own run" in other.json()["detail"]
    assert audit(clients, run_id) == []


def test_a_status_patch_naming_an_approver_decides_nothing(
    clients: Clients, datasets: dict[str, int], db: psycopg.Connection[Any], waiting_task: WaitingTask
) -> None:
    """The shared worker key once set a waiting run to approved, any approver name in the audit,
    while the execution kept waiting."""
    run_id = awaiting_run(clients, datasets)
    links = registered(clients, run_id, waiting_task.token)
    before = run_row(db, run_id)
    execution = links["approval"]["execution_arn"]
    for role, status in (("service", "approved"), ("service", "rejected"), ("admin", "approved")):
        with clients.as_(role) as client:
            body = {"status": status, "data": {"approval": {"approver": "alice", "approved": True}}}
            denied = client.patch(f"/runs/{run_id}/status", json=body)
        assert denied.status_code == 403, (role, denied.text)
    with clients.as_("projector") as projector:  # even the projector, while the wait is live
        for status, approver in (("approved", "alice"), ("rejected", "mallory")):
            event = {
                "status": status,
                "event_id": str(uuid.uuid4()),
                "execution_arn": execution,
                "data": {"approval": {"approver": approver, "approved": status == "approved"}},
            }
            denied = projector.patch(f"/runs/{run_id}/status", json=event)
            assert denied.status_code == 403, denied.text
            assert "still waits for a decision" in denied.json()["detail"]
        no_event = projector.patch(
            f"/runs/{run_id}/status",
            json={"status": "rejected", "data": {"approval": {"approver": "timeout"}}},
        )
        assert no_event.status_code == 403
        assert "execution_arn and event_id are required" in no_event.json()["detail"]
        other_timeout = projector.patch(
            f"/runs/{run_id}/status",
            json={
                "status": "rejected",
                "event_id": str(uuid.uuid4()),
                "execution_arn": execution + "-other",
                "data": {"approval": {"approver": "timeout"}},
            },
        )
        assert other_timeout.status_code == 403
    assert run_row(db, run_id) == before
    assert_nothing_decided(clients, db, run_id, waiting_task)

    # the API's own decision, then the workflow's event of it: applied
    with clients.as_("approver") as approver:
        assert approver.post(f"/runs/{run_id}/approve", json={}).status_code == 200
    approver_name = key_name(db, clients.keys["approver"])
    with clients.as_("projector") as projector:
        event = {
            "status": "approved",
            "event_id": str(uuid.uuid4()),
            "execution_arn": execution,
            "data": {"approval": {"approver": approver_name, "approved": True}},
        }
        assert projector.patch(f"/runs/{run_id}/status", json=event).status_code == 200
    assert run_row(db, run_id)[0] == "approved"
    assert [e["action"] for e in audit(clients, run_id)] == ["requested", "approved"]


# --- signed links -------------------------------------------------------------------------------


def test_approve_link_shows_a_page_and_only_the_confirming_post_decides(
    clients: Clients, datasets: dict[str, int], db: psycopg.Connection[Any], waiting_task: WaitingTask
) -> None:
    run_id = awaiting_run(clients, datasets)
    links = registered(clients, run_id, waiting_task.token)
    approve = path_of(links["approve_url"])
    with browser(clients) as page:
        for _ in range(2):  # a link-preview bot, then the person: opening never decides
            shown = page.get(approve)
            assert shown.status_code == 200
            assert shown.headers["content-type"].startswith("text/html")
            assert shown.headers["cache-control"] == "no-store"
            assert shown.headers["referrer-policy"] == "no-referrer"
            assert "frame-ancestors 'none'" in shown.headers["content-security-policy"]
            assert '<form method="post">' in shown.text
            assert "mistral-7b-rag-qa" in shown.text
            assert "0.832" in shown.text
            assert "faithfulness" in shown.text
        assert_nothing_decided(clients, db, run_id, waiting_task)

        assert f"Signed in as <b>{APPROVER}</b>" in shown.text
        assert 'name="name"' not in shown.text  # nobody types who they are
        too_long = page.post(approve, data={"comment": "x" * 4001})
        assert too_long.status_code == 400
        assert "at most 4000 characters" in too_long.text
        assert_nothing_decided(clients, db, run_id, waiting_task)

        # the form names someone else: the decision is still the signed-in person's
        done = page.post(
            approve, data={"name": "Alice Martin", "comment": "Good to go"}, headers={"User-Agent": "Firefox"}
        )
        assert done.status_code == 200, done.text
        assert f"approved by {APPROVER}" in done.text
        assert "Alice Martin" not in done.text

        reused_get = page.get(approve)
        reused_post = page.post(approve, data={"name": "Mallory"})
        other_link = page.post(path_of(links["reject_url"]), data={"name": "Mallory", "comment": "no"})
    assert (reused_get.status_code, reused_post.status_code, other_link.status_code) == (410, 410, 410)
    assert "already used" in reused_post.text

    execution = waiting_task.result()
    assert execution["status"] == "SUCCEEDED"
    assert json.loads(execution["output"]) == {
        "approved": True,
        "approver": APPROVER,
        "registry_approver": APPROVER,  # in the alphabet of SageMaker's metadata
        "comment": "Good to go",
    }
    trail = audit(clients, run_id)
    assert [(e["action"], e["via"], e["actor"]) for e in trail][1:] == [("approved", "link", APPROVER)]
    assert trail[1]["details"]["user_agent"] == "Firefox"
    assert (trail[1]["details"]["subject"], trail[1]["details"]["email"]) == ("local|ada", APPROVER)
    assert approval_row(db, run_id)["decided_by"] == APPROVER
    assert trail[1]["ml_score"] == 0.832


def test_reject_link_needs_a_comment(
    clients: Clients, datasets: dict[str, int], db: psycopg.Connection[Any], waiting_task: WaitingTask
) -> None:
    run_id = awaiting_run(clients, datasets)
    reject = path_of(registered(clients, run_id, waiting_task.token)["reject_url"])
    with browser(clients) as page:
        shown = page.get(reject)
        assert shown.status_code == 200
        assert "Why is it rejected? (required)" in shown.text
        no_reason = page.post(reject, data={"name": "Bob"})
        assert no_reason.status_code == 400
        assert "say why" in no_reason.text
        assert_nothing_decided(clients, db, run_id, waiting_task)
        done = page.post(reject, data={"name": "Bob", "comment": "<script>alert(1)</script> hallucinates"})
    assert done.status_code == 200
    assert "<script>" not in done.text  # escaped
    execution = waiting_task.result()
    assert json.loads(execution["output"]) == {
        "approved": False,
        "approver": APPROVER,
        "registry_approver": APPROVER,
        "comment": "<script>alert(1)</script> hallucinates",
    }
    assert approval_row(db, run_id)["status"] == "rejected"


def _tampered(token: str) -> list[str]:
    payload, signature = token.rsplit(".", 1)
    flipped = payload[:-1] + ("A" if payload[-1] != "A" else "B")
    return [f"{flipped}.{signature}", f"{payload}.{signature[:-2]}xx", f"{payload}.", payload]


def test_forged_and_tampered_links_are_403_and_decide_nothing(
    clients: Clients, datasets: dict[str, int], db: psycopg.Connection[Any], waiting_task: WaitingTask
) -> None:
    run_id = awaiting_run(clients, datasets)
    links = registered(clients, run_id, waiting_task.token)
    approve = path_of(links["approve_url"])
    token = approve.rsplit("/", 1)[1]
    approval_id = links["approval"]["id"]
    genuine = URLSafeSerializer(SIGNING_KEY, salt="mlops.approval-link.v1").loads(token)
    nonce = genuine["n"]
    forged_claims = {"r": run_id, "a": approval_id, "d": "approve", "n": nonce, "e": genuine["e"]}
    forged = [
        URLSafeSerializer("an-attacker-key-" + "x" * 32, salt="mlops.approval-link.v1").dumps(forged_claims),
        URLSafeSerializer(SIGNING_KEY, salt="another-purpose").dumps(forged_claims),
    ]
    # the reject link with its decision changed to approve, signature kept
    reject_token = path_of(links["reject_url"]).rsplit("/", 1)[1]
    _, reject_signature = reject_token.rsplit(".", 1)
    payload_of_approve = token.rsplit(".", 1)[0]
    swapped = f"{payload_of_approve}.{reject_signature}"
    bad_tokens = [*forged, *_tampered(token), swapped]
    other_run = awaiting_run(clients, datasets)
    with browser(clients) as page:
        for bad in bad_tokens:
            for method in ("GET", "POST"):
                response = page.request(
                    method,
                    f"/runs/{run_id}/approval-links/{bad}",
                    data={"name": "Mallory"} if method == "POST" else None,
                )
                assert response.status_code == 403, (bad, method, response.status_code)
                assert "not valid" in response.text
                assert response.headers["content-type"].startswith("text/html")
        # a genuine link moved to another run
        moved = page.post(f"/runs/{other_run}/approval-links/{token}", data={"name": "Mallory"})
        assert moved.status_code == 403
        # a link signed with the real key for another run's approval (key leak aside): nonce differs
        forged_nonce = URLSafeSerializer(SIGNING_KEY, salt="mlops.approval-link.v1").dumps(
            {**forged_claims, "n": "0" * 32}
        )
        assert (
            page.post(f"/runs/{run_id}/approval-links/{forged_nonce}", data={"name": "M"}).status_code == 410
        )
    assert_nothing_decided(clients, db, run_id, waiting_task)
    # the genuine link still works afterwards
    with browser(clients) as page:
        assert page.post(approve, data={"name": "Alice"}).status_code == 200
    assert waiting_task.result()["status"] == "SUCCEEDED"


def test_links_need_a_signed_in_approver_and_refusals_decide_nothing(
    clients: Clients, datasets: dict[str, int], db: psycopg.Connection[Any], waiting_task: WaitingTask
) -> None:
    """Holding the link is not enough (a forwarded message, a shared channel): nobody signed in is
    401, with a sign-in link where one is configured; a forged, expired, foreign or unsigned identity
    is 401; a signed-in person who is not an approver is 403. None of them decides or records."""
    assert clients.signer is not None
    run_id = awaiting_run(clients, datasets)
    links = registered(clients, run_id, waiting_task.token)
    approve = path_of(links["approve_url"])
    with clients.anonymous() as nobody:
        opened = nobody.get(approve)
        posted = nobody.post(approve, data={"name": "Mallory", "comment": "ok"})
        with_key = nobody.post(
            approve, data={"comment": "ok"}, headers={"X-API-Key": clients.keys["approver"]}
        )
        for what, token in bad_identities(clients.signer, "ada").items():
            for method in ("GET", "POST"):
                answer = nobody.request(
                    method, approve, data={"comment": "ok"} if method == "POST" else None,
                    headers={IDENTITY_HEADER: token},
                )  # fmt: skip
                assert answer.status_code == 401, (what, method, answer.text)
                assert answer.headers["content-type"].startswith("text/html")
    assert (opened.status_code, posted.status_code, with_key.status_code) == (401, 401, 401)
    assert "Sign in to decide" in opened.text
    assert "/sign-in?next=" in opened.text  # SIGN_IN_URL of this API (the development signer's page)
    for user in ("grace", "alan", "edsger", "nobody"):  # operator, viewer, admin, no mapped group
        with clients.person(user) as person:
            page, decided = person.get(approve), person.post(approve, data={"comment": "ok"})
        assert (page.status_code, decided.status_code) == (403, 403), (user, decided.text)
    assert_nothing_decided(clients, db, run_id, waiting_task)
    with browser(clients) as ada:
        assert ada.post(approve, data={"name": "Edsger Dijkstra"}).status_code == 200
    assert json.loads(waiting_task.result()["output"])["approver"] == APPROVER


def test_expired_links_and_late_decisions_are_410_and_decide_nothing(
    clients: Clients, datasets: dict[str, int], db: psycopg.Connection[Any], waiting_task: WaitingTask
) -> None:
    run_id = awaiting_run(clients, datasets)
    links = registered(clients, run_id, waiting_task.token, timeout_seconds=1)
    time.sleep(1.2)
    with browser(clients) as page:
        opened = page.get(path_of(links["approve_url"]))
        posted = page.post(path_of(links["approve_url"]), data={"name": "Alice"})
        rejected = page.post(path_of(links["reject_url"]), data={"name": "Alice", "comment": "late"})
    assert (opened.status_code, posted.status_code, rejected.status_code) == (410, 410, 410)
    assert "expired" in opened.text
    with clients.as_("approver") as approver:
        late = approver.post(f"/runs/{run_id}/approve", json={})
        shown = approver.get(f"/runs/{run_id}/approval").json()
    assert late.status_code == 410
    assert "timed out" in late.json()["detail"]
    assert shown["status"] == "expired"
    assert_nothing_decided(clients, db, run_id, waiting_task)


# --- the timeout ---------------------------------------------------------------------------------


def test_the_workflows_timeout_is_recorded_and_ends_the_links(
    clients: Clients, datasets: dict[str, int], db: psycopg.Connection[Any]
) -> None:
    run_id = awaiting_run(clients, datasets)
    links = registered(clients, run_id, f"token-{uuid.uuid4()}")
    # what the projector applies when WaitForHumanApproval times out (run.rejected from the workflow)
    timeout_event = {
        "status": "rejected",
        "reason": "no decision within 72 h",
        "event_id": str(uuid.uuid4()),
        "execution_arn": links["approval"]["execution_arn"],
        "data": {"approval": {"approved": False, "approver": "timeout", "comment": "approval timed out"}},
    }
    with clients.as_("projector") as projector:
        assert projector.patch(f"/runs/{run_id}/status", json=timeout_event).status_code == 200
        assert projector.patch(f"/runs/{run_id}/status", json=timeout_event).status_code == 200  # redelivered
    row = approval_row(db, run_id)
    assert (row["status"], row["decided_by"], row["decision_via"], row["task_token"]) == (
        "expired",
        "timeout",
        "timeout",
        None,
    )
    trail = audit(clients, run_id)
    assert [(e["action"], e["via"], e["actor"]) for e in trail] == [
        ("requested", "workflow", key_name(db, clients.keys["approval-worker"])),
        ("timed_out", "timeout", "timeout"),
    ]
    assert trail[1]["comment"] == "approval timed out"
    assert trail[1]["ml_score"] == 0.832
    with clients.as_("approver") as approver:
        assert approver.post(f"/runs/{run_id}/approve", json={}).status_code == 410
    with browser(clients) as page:
        assert page.post(path_of(links["approve_url"]), data={"name": "Alice"}).status_code == 410
    assert len(audit(clients, run_id)) == 2


def test_a_decision_the_workflow_no_longer_waits_for_is_410(
    clients: Clients, datasets: dict[str, int], db: psycopg.Connection[Any], emulator: Any
) -> None:
    """Step Functions itself timed the task out (here after 1 s) before the API noticed: its refusal
    is a 410 and the approval is recorded as timed out, never as approved."""
    sqs, sfn = aws_client("sqs"), aws_client("stepfunctions")
    suffix = uuid.uuid4().hex[:8]
    queue_url = sqs.create_queue(QueueName=f"approval-timeout-{suffix}")["QueueUrl"]
    definition = {
        "StartAt": "WaitForHumanApproval",
        "States": {
            "WaitForHumanApproval": {
                "Type": "Task",
                "Resource": "arn:aws:states:::sqs:sendMessage.waitForTaskToken",
                "Parameters": {"QueueUrl": queue_url, "MessageBody": {"task_token.$": "$$.Task.Token"}},
                "TimeoutSeconds": 1,
                "End": True,
            }
        },
    }
    machine = sfn.create_state_machine(
        name=f"approval-timeout-{suffix}",
        definition=json.dumps(definition),
        roleArn="arn:aws:iam::123456789012:role/test",
    )["stateMachineArn"]
    execution = sfn.start_execution(stateMachineArn=machine, name=f"run-{suffix}")["executionArn"]
    message = sqs.receive_message(QueueUrl=queue_url, WaitTimeSeconds=5)["Messages"][0]
    token = json.loads(message["Body"])["task_token"]
    run_id = awaiting_run(clients, datasets)
    registered(clients, run_id, token)  # the API believes it has an hour
    deadline = time.monotonic() + 10
    while sfn.describe_execution(executionArn=execution)["status"] == "RUNNING":
        assert time.monotonic() < deadline
        time.sleep(0.1)

    with clients.as_("approver") as approver:
        late = approver.post(f"/runs/{run_id}/approve", json={"comment": "sorry, late"})
    assert late.status_code == 410, late.text
    assert "no longer waits" in late.json()["detail"]
    row = approval_row(db, run_id)
    assert row["status"] == "expired"
    trail = audit(clients, run_id)
    assert [e["action"] for e in trail] == ["requested", "timed_out"]
    assert trail[1]["details"]["refused_attempt"]["approved"] is True
    assert "approved" not in {e["action"] for e in trail}


# --- storage ------------------------------------------------------------------------------------


def test_the_audit_trail_is_append_only(
    clients: Clients, datasets: dict[str, int], db: psycopg.Connection[Any]
) -> None:
    run_id = awaiting_run(clients, datasets)
    registered(clients, run_id, f"token-{uuid.uuid4()}")
    for statement in ("UPDATE approval_audit SET actor = 'mallory'", "DELETE FROM approval_audit"):
        with pytest.raises(psycopg.errors.RaiseException, match="append-only"):
            db.execute(statement)
    assert audit(clients, run_id)[0]["actor"].startswith("approval-worker")


def test_link_signing_key_configuration(monkeypatch: pytest.MonkeyPatch) -> None:
    import asyncio

    from pydantic import ValidationError

    from mlops_api.approvals.links import SigningKeys
    from mlops_api.config import Settings
    from mlops_api.errors import ApiError

    monkeypatch.delenv("APPROVAL_SIGNING_KEY", raising=False)
    with pytest.raises(ValidationError, match="at least 32 characters"):
        Settings(APPROVAL_SIGNING_KEY="short")
    missing = SigningKeys(Settings(APPROVAL_SIGNING_SECRET_ID=""))
    with pytest.raises(ApiError) as info:
        asyncio.run(missing.get())
    assert info.value.status_code == 503
    assert "APPROVAL_SIGNING_KEY" in str(info.value.detail)
    absent = SigningKeys(Settings(APPROVAL_SIGNING_SECRET_ID="mlops/no-such-secret"))
    with pytest.raises(ApiError, match=re.escape("'mlops/no-such-secret' cannot be read")):
        asyncio.run(absent.get())
    direct = SigningKeys(Settings(APPROVAL_SIGNING_KEY="d" * 32))
    assert asyncio.run(direct.get()) == "d" * 32
