"""The shared API client's retries, auth header and errors, against a mock transport."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from mlops_contracts.api_client import ApiClient, ApiError


def client_answering(*answers: httpx.Response | Exception, attempts: int = 5) -> tuple[ApiClient, list[str]]:
    """A client whose transport gives `answers` in turn; the list records the requests' keys."""
    queue = list(answers)
    seen: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers.get("X-API-Key", ""))
        item = queue.pop(0)
        if isinstance(item, Exception):
            raise item
        return item

    return ApiClient("http://api/", "k-1", attempts=attempts, transport=httpx.MockTransport(answer)), seen


def test_a_transient_failure_is_retried_with_the_key() -> None:
    api, seen = client_answering(
        httpx.Response(503, json={"detail": "database unavailable"}),
        httpx.Response(200, json={"role": "service"}),
    )
    assert api.me() == {"role": "service"}
    assert seen == ["k-1", "k-1"]


def test_a_refusal_raises_at_once_with_the_apis_detail() -> None:
    api, seen = client_answering(httpx.Response(409, json={"detail": "run 7 is already 'approved'"}))
    with pytest.raises(ApiError) as caught:
        api.request("PATCH", "/runs/7/status", json={"status": "failed"})
    assert (caught.value.status_code, caught.value.detail) == (409, "run 7 is already 'approved'")
    assert str(caught.value) == "run 7 is already 'approved'"
    assert not caught.value.transient
    assert len(seen) == 1


def test_no_answer_is_status_zero_after_the_attempts() -> None:
    refused = httpx.ConnectError("refused")
    api, seen = client_answering(refused, refused, attempts=2)
    with pytest.raises(ApiError) as caught:
        api.get_run(1)
    assert caught.value.unreachable
    assert isinstance(caught.value.__cause__, httpx.ConnectError)
    assert len(seen) == 2


def test_an_approval_that_does_not_exist_is_none() -> None:
    api, _ = client_answering(httpx.Response(404, json={"detail": "run 3 has no approval request"}))
    assert api.approval(3) is None


def test_the_deployment_calls_send_what_the_api_expects() -> None:
    sent: list[tuple[str, str, Any, float | None]] = []

    def answer(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content) if request.content else None
        sent.append((request.method, str(request.url), body, request.extensions["timeout"]["read"]))
        if request.url.path.endswith("/invoke"):
            return httpx.Response(200, json={"answer": "Runs are stored in PostgreSQL.", "latency_ms": 41.5})
        if request.method == "POST" and "version" in body:
            detail = "version 2 of 'qa' is Rejected: only an Approved package can be deployed"
            return httpx.Response(409, json={"detail": detail})
        if request.method == "POST":
            return httpx.Response(202, json={"id": 8, "version": 3, "status": "deploying"})
        return httpx.Response(200, json={"model_name": "qa", "serving": None, "items": []})

    api = ApiClient("http://api", "k-1", attempts=3, transport=httpx.MockTransport(answer))
    assert api.deployments("qa", limit=5)["serving"] is None
    with pytest.raises(ApiError) as refused:
        api.deploy("qa", 2, reason="v3 answers worse")
    assert (refused.value.status_code, refused.value.message) == (
        409,
        "version 2 of 'qa' is Rejected: only an Approved package can be deployed",
    )
    assert api.deploy("qa")["status"] == "deploying"
    api.retire_deployment(7)
    reply = api.invoke_deployment(7, "Where are runs stored?", max_new_tokens=16, timeout=75)
    assert reply["answer"] == "Runs are stored in PostgreSQL."
    assert [(method, url) for method, url, _, _ in sent] == [
        ("GET", "http://api/models/qa/deployments?limit=5"),
        ("POST", "http://api/deployments"),  # a refusal is not retried
        ("POST", "http://api/deployments"),
        ("DELETE", "http://api/deployments/7"),
        ("POST", "http://api/deployments/7/invoke"),
    ]
    assert sent[1][2] == {"model_name": "qa", "version": 2, "reason": "v3 answers worse"}
    assert sent[2][2] == {"model_name": "qa"}  # the newest approved version
    assert sent[4][2] == {"question": "Where are runs stored?", "contexts": [], "max_new_tokens": 16}
    assert (sent[0][3], sent[4][3]) == (10.0, 75)  # the endpoint may take long: the call's own timeout
