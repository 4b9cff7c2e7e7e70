"""`make dev`'s development signer: its public key where the API looks for the ALB's, a sign-in page
that sets a signed identity as the development cookie, and no open redirect."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import jwt
import pytest

from mlops_devstack.dev_signer import DEV_COOKIE, LOCAL_PEOPLE, DevSigner, DevSignInServer

pytestmark = pytest.mark.unit

DASHBOARD = "http://127.0.0.1:8501"


@pytest.fixture
def server() -> Iterator[DevSignInServer]:
    started = DevSignInServer(DevSigner(), default_next=DASHBOARD, allowed_next=(DASHBOARD,)).start()
    yield started
    started.stop()


def test_the_public_key_is_served_by_kid(server: DevSignInServer) -> None:
    key = httpx.get(f"{server.public_key_url}/{server.signer.kid}")
    assert key.status_code == 200
    assert key.text == server.signer.public_pem
    assert "BEGIN PUBLIC KEY" in key.text
    assert httpx.get(f"{server.public_key_url}/another-kid").status_code == 404


def test_signing_in_sets_a_signed_identity_and_returns_to_the_dashboard(server: DevSignInServer) -> None:
    page = httpx.get(server.sign_in_url, params={"next": f"{DASHBOARD}/run?id=3"})
    assert page.status_code == 200
    for person in LOCAL_PEOPLE:
        assert person.email in page.text
    assert f'value="{DASHBOARD}/run?id=3"' in page.text

    answer = httpx.post(server.sign_in_url, data={"user": "ada", "next": f"{DASHBOARD}/run?id=3"})
    assert answer.status_code == 303
    assert answer.headers["location"] == f"{DASHBOARD}/run?id=3"
    cookie = answer.headers["set-cookie"]
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie
    token = cookie.split(";")[0].removeprefix(f"{DEV_COOKIE}=")
    header = jwt.get_unverified_header(token)
    assert (header["alg"], header["kid"], header["signer"]) == (
        "ES256",
        server.signer.kid,
        server.signer.alb_arn,
    )
    claims = jwt.decode(token, server.signer.public_pem, algorithms=["ES256"])
    assert (claims["sub"], claims["email"], claims["groups"]) == (
        "local|ada",
        "ada@example.com",
        ["mlops-approvers"],
    )


def test_no_open_redirect_and_no_unknown_person(server: DevSignInServer) -> None:
    for evil in ("https://evil.example/", f"{DASHBOARD}.evil.example/", "//evil.example"):
        answer = httpx.post(server.sign_in_url, data={"user": "grace", "next": evil})
        assert answer.headers["location"] == DASHBOARD, evil
    assert httpx.post(server.sign_in_url, data={"user": "mallory"}).status_code == 400
    signed_out = httpx.get(f"{server.url}/sign-out")
    assert signed_out.status_code == 303
    assert "Max-Age=0" in signed_out.headers["set-cookie"]


def test_make_devs_settings_make_the_api_accept_the_signers_people(
    server: DevSignInServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What `make dev` sets (stack.sign_in_environment) is enough for the API's own verifier to
    accept a sign-in page's token, fetching the key from the signer - and for the dashboard to find it."""
    import asyncio

    from mlops_api.config import Settings, identity_verifier
    from mlops_devstack.stack import sign_in_environment
    from mlops_ui.config import Settings as UiSettings

    for name, value in sign_in_environment(server).items():
        monkeypatch.setenv(name, value)
    verifier = identity_verifier(Settings())
    assert verifier is not None
    answer = httpx.post(server.sign_in_url, data={"user": "ada"})
    token = answer.headers["set-cookie"].split(";")[0].removeprefix(f"{DEV_COOKIE}=")
    person = asyncio.run(verifier.verify(token))
    assert (person.email, verifier.role_of(person)) == ("ada@example.com", "approver")
    ui = UiSettings()
    assert (ui.identity_cookie, ui.sign_in_url, ui.api_key_sign_in) == (DEV_COOKIE, server.sign_in_url, True)
