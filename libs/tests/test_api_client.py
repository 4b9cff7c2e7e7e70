"""The shared API client's retries, auth header and errors, against a mock transport."""

from __future__ import annotations

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
