"""People signed in at the load balancer, against the live API: the identity header is verified with
real ES256 signatures (the development signer's key, fetched by the API over HTTP as it fetches the
ALB's). A valid person is served in their group's role; every forged, expired, foreign or unsigned
identity is 401 and records nothing. Approval links by identity are in test_approvals.py."""

from __future__ import annotations

from typing import Any

import psycopg

from mlops_devstack.dev_signer import DevSigner, person_named
from mlops_testkit.api import IDENTITY_HEADER, Clients, run_body
from mlops_testkit.people import bad_identities


def run_count(db: psycopg.Connection[Any]) -> int:
    row = db.execute("SELECT count(*) FROM pipeline_runs").fetchone()
    assert row is not None
    return int(row[0])


def test_a_signed_in_person_is_served_in_their_groups_role(
    clients: Clients, datasets: dict[str, int], db: psycopg.Connection[Any]
) -> None:
    with clients.person("ada") as ada:
        me = ada.get("/me").json()
    assert me["key_id"] is None
    assert (me["name"], me["subject"], me["email"], me["role"]) == (
        "ada@example.com",
        "local|ada",
        "ada@example.com",
        "approver",
    )
    assert "approve or reject runs" in me["permissions"]
    with clients.person("grace") as grace:
        created = grace.post("/runs", json=run_body(datasets))  # a body: checked by the body guard
        assert created.status_code == 201, created.text
        assert grace.get(f"/runs/{created.json()['id']}").json()["created_by"] == "grace@example.com"
    with clients.person("alan") as alan:  # a viewer reads and may not launch
        assert alan.get("/runs").status_code == 200
        assert alan.post("/runs", json=run_body(datasets)).status_code == 403


def test_forged_expired_foreign_and_unsigned_identities_are_401_and_record_nothing(
    clients: Clients, datasets: dict[str, int], db: psycopg.Connection[Any]
) -> None:
    assert clients.signer is not None
    before = run_count(db)
    with clients.anonymous() as browser:
        for what, token in bad_identities(clients.signer).items():
            for method, path, body in (("GET", "/me", None), ("POST", "/runs", run_body(datasets))):
                answer = browser.request(method, path, json=body, headers={IDENTITY_HEADER: token})
                assert answer.status_code == 401, (what, method, answer.text)
                assert "identity token" in answer.json()["detail"], (what, answer.text)
    assert run_count(db) == before


def test_a_key_and_an_identity_together_are_refused(clients: Clients, datasets: dict[str, int]) -> None:
    """A forged identity next to a key (or a key next to a person) is not quietly resolved to either."""
    with clients.as_("viewer") as viewer:
        both = viewer.get("/me", headers={IDENTITY_HEADER: clients.identity("edsger")})
    assert both.status_code == 401
    assert "not both" in both.json()["detail"]


def test_a_person_whose_groups_map_to_no_role_is_403(clients: Clients) -> None:
    with clients.person("nobody") as nora:
        answer = nora.get("/runs")
    assert answer.status_code == 403
    assert "another-team" in answer.json()["detail"]


def test_the_development_cookie_carries_the_same_signed_identity(clients: Clients) -> None:
    """`make dev` sets the identity as a cookie (OIDC_DEV_COOKIE, development only); it is verified
    like the header."""
    with clients.anonymous() as browser:
        good = browser.get("/me", cookies={"mlops_dev_oidc_data": clients.identity("ada")})
        assert clients.signer is not None
        bad = browser.get("/me", cookies={"mlops_dev_oidc_data": bad_identities(clients.signer)["expired"]})
    assert good.status_code == 200
    assert good.json()["email"] == "ada@example.com"
    assert bad.status_code == 401


def test_an_unknown_signing_key_is_401(clients: Clients) -> None:
    """A token of another development signer (another `make dev`, another kid): its key is not found."""
    stranger = DevSigner()
    person = person_named("ada")
    assert person is not None
    with clients.anonymous() as browser:
        answer = browser.get("/me", headers={IDENTITY_HEADER: stranger.token_for(person)})
    assert answer.status_code == 401
    assert "no public key" in answer.json()["detail"]
