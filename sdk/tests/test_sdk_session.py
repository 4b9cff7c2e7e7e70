"""`Client.from_env()` as the signed-in person (MLOPS_SESSION_COOKIE) against the live API, whose
people are signed by the development signer (mlops_devstack.dev_signer) and read from its cookie,
as under `make dev`: the same verification as the load balancer's header in AWS."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from mlops_client import ApiError, AsyncClient, Client, ConfigurationError
from mlops_client.credentials import SIGNED_IN_HEADER
from mlops_devstack.dev_signer import DevSignInServer, person_named
from mlops_testkit.api import Clients

ENV = ("MLOPS_API_URL", "API_URL", "MLOPS_API_KEY", "API_KEY", "MLOPS_SESSION_COOKIE")


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, clients: Clients) -> pytest.MonkeyPatch:
    for name in ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MLOPS_API_URL", clients.base_url)
    return monkeypatch


def _cookie(dev_sign_in: DevSignInServer, clients: Clients, user: str) -> str:
    return f"{dev_sign_in.cookie}={clients.identity(user)}"


def _fields(datasets: dict[str, int]) -> dict[str, Any]:
    return {
        "model_name": "session-model",
        "model_id": "mistralai/Mistral-7B-v0.1",
        "experiment_name": "signed-in",
        "train_dataset_id": datasets["train"],
        "eval_dataset_id": datasets["eval"],
    }


def test_a_script_launches_as_the_signed_in_person(
    env: pytest.MonkeyPatch, clients: Clients, dev_sign_in: DevSignInServer, datasets: dict[str, int]
) -> None:
    env.setenv("MLOPS_SESSION_COOKIE", _cookie(dev_sign_in, clients, "grace"))  # an operator
    with Client.from_env() as client:
        run = client.runs.launch(**_fields(datasets))
        assert client.runs.get(run.id).created_by == "grace@example.com"
    # a viewer's session reads but may not launch: the API applied that person's role
    env.setenv("MLOPS_SESSION_COOKIE", _cookie(dev_sign_in, clients, "alan"))
    with Client.from_env() as client:
        assert [r.id for r in client.runs.list()] == [run.id]
        with pytest.raises(ApiError) as refused:
            client.runs.launch(**_fields(datasets))
    assert refused.value.status_code == 403


def test_the_async_client_too(
    env: pytest.MonkeyPatch, clients: Clients, dev_sign_in: DevSignInServer, datasets: dict[str, int]
) -> None:
    env.setenv("MLOPS_SESSION_COOKIE", _cookie(dev_sign_in, clients, "grace"))

    async def launch() -> str:
        async with AsyncClient.from_env() as client:
            run = await client.runs.launch(**_fields(datasets))
            return (await client.runs.get(run.id)).created_by

    assert asyncio.run(launch()) == "grace@example.com"


def test_an_expired_session_says_to_sign_in_again(
    env: pytest.MonkeyPatch, clients: Clients, dev_sign_in: DevSignInServer, datasets: dict[str, int]
) -> None:
    person = person_named("grace")
    assert person is not None
    expired = dev_sign_in.signer.token_for(person, seconds=-60)
    env.setenv("MLOPS_SESSION_COOKIE", f"{dev_sign_in.cookie}={expired}")
    with Client.from_env() as client, pytest.raises(ApiError) as refused:
        client.runs.launch(**_fields(datasets))
    assert refused.value.status_code == 401
    assert "sign in again in the browser" in str(refused.value)


def test_a_key_and_a_session_together_are_refused(
    env: pytest.MonkeyPatch, clients: Clients, dev_sign_in: DevSignInServer
) -> None:
    env.setenv("MLOPS_API_KEY", clients.keys["operator"])
    env.setenv("MLOPS_SESSION_COOKIE", _cookie(dev_sign_in, clients, "grace"))
    with pytest.raises(ConfigurationError, match="MLOPS_API_KEY and MLOPS_SESSION_COOKIE are set"):
        Client.from_env()
    with pytest.raises(ConfigurationError, match="never both"):
        AsyncClient.from_env()


@pytest.mark.parametrize("value", ["eyJhbGciOiJFUzI1NiJ9", "=abc", "  ;  "])
def test_a_session_value_that_is_no_cookie_is_refused(env: pytest.MonkeyPatch, value: str) -> None:
    env.setenv("MLOPS_SESSION_COOKIE", value)
    with pytest.raises(ConfigurationError, match="MLOPS_SESSION_COOKIE"):
        Client.from_env()


def test_nothing_set_names_both_ways(env: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigurationError, match=r"MLOPS_API_KEY \(or MLOPS_SESSION_COOKIE\)"):
        Client.from_env()


def test_the_load_balancer_sees_the_cookie_and_the_signed_in_header(env: pytest.MonkeyPatch) -> None:
    """What reaches the load balancer: the session's cookies as the browser sends them, the header its
    signed-in API rule matches (terraform/modules/alb), and no API key. A redirect to the identity
    provider (a rule that signs browsers in) is an error a script can read, not a page to parse."""
    seen: list[httpx.Request] = []

    def alb(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(302, headers={"location": "https://idp.example.com/authorize?client_id=x"})

    env.setenv("MLOPS_SESSION_COOKIE", "AWSELBAuthSessionCookie-0=abc/+=; AWSELBAuthSessionCookie-1=def")
    with Client.from_env(transport=httpx.MockTransport(alb)) as client, pytest.raises(ApiError) as refused:
        client.models.list()
    (request,) = seen
    assert request.headers["cookie"] == "AWSELBAuthSessionCookie-0=abc/+=; AWSELBAuthSessionCookie-1=def"
    assert request.headers[SIGNED_IN_HEADER] == "1"
    assert "x-api-key" not in request.headers
    assert "redirected to sign in (https://idp.example.com/authorize" in str(refused.value)
