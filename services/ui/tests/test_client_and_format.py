"""The API client's error messages and the dashboard's formatting, without a server."""

from __future__ import annotations

import httpx
import pytest

from mlops_contracts.api_client import ApiClient, ApiError, error_from_response
from mlops_ui import charts, ui


def response(status: int, body: object) -> httpx.Response:
    return httpx.Response(status, json=body, request=httpx.Request("POST", "http://api/runs"))


def test_validation_errors_become_field_messages() -> None:
    error = error_from_response(
        response(
            422,
            {
                "detail": [
                    {"loc": ["body", "model_name"], "msg": "String should match pattern", "type": "x"},
                    {
                        "loc": ["body", "hyperparameters", "epochs"],
                        "msg": "Input should be <= 50",
                        "type": "x",
                    },
                    {"loc": ["body"], "msg": "Value error, train_dataset_id is required", "type": "x"},
                ]
            },
        )
    )
    assert error.field_errors == {
        "model_name": "String should match pattern",
        "hyperparameters.epochs": "Input should be <= 50",
    }
    assert error.message.startswith("train_dataset_id is required; model_name: String should match pattern")


def test_dataset_reports_and_plain_details() -> None:
    report = error_from_response(
        response(
            422,
            {"detail": {"message": "x.jsonl: 1 invalid line(s)", "errors": [{"line": 3, "error": "bad"}]}},
        )
    )
    assert report.message == "x.jsonl: 1 invalid line(s)"
    assert [(e.line, e.error) for e in report.line_errors] == [(3, "bad")]
    assert str(error_from_response(response(409, {"detail": "already approved"}))) == "already approved"
    broken = httpx.Response(502, text="<html>", request=httpx.Request("GET", "http://api/runs"))
    assert "the API failed (502 Bad Gateway)" in error_from_response(broken).message


def test_an_unreachable_api_is_status_zero() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    client = ApiClient("http://api.invalid", "key", attempts=1, transport=httpx.MockTransport(refuse))
    with pytest.raises(ApiError) as caught:
        client.me()
    assert caught.value.unreachable
    assert caught.value.message == "cannot reach the API at http://api.invalid (ConnectError)"


def test_client_follows_the_cursor() -> None:
    pages = {
        None: {"items": [{"id": 3}, {"id": 2}], "next_cursor": 2},
        "2": {"items": [{"id": 1}], "next_cursor": None},
    }

    def answer(request: httpx.Request) -> httpx.Response:
        assert request.headers["X-API-Key"] == "key"
        return httpx.Response(200, json=pages[request.url.params.get("cursor")])

    client = ApiClient("http://api", "key", transport=httpx.MockTransport(answer))
    assert client.list_runs(limit=2) == ([{"id": 3}, {"id": 2}, {"id": 1}], False)
    assert client.list_runs(limit=2, max_items=2) == ([{"id": 3}, {"id": 2}], True)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (None, "—"),
        (0.25, "250 ms"),
        (12.34, "12.3 s"),
        (125, "2 min 05 s"),
        (3 * 3600 + 60, "3 h 01 min"),
        (3 * 86400, "3 d 0 h"),
    ],
)
def test_durations(seconds: float | None, text: str) -> None:
    assert ui.duration(seconds) == text


def test_sizes_money_and_history() -> None:
    assert [ui.size(n) for n in (512, 2048, 5 * 2**20)] == ["512 B", "2.0 KiB", "5.0 MiB"]
    assert (ui.money(0.0132), ui.money(12.5)) == ("$0.0132", "$12.50")
    frame = charts.history_frame([{"step": 1, "train_loss": 2.0, "tokens_per_second": 10.0}, {"loss": 1.0}])
    assert frame.to_dict("records") == [{"step": 1, "loss": 2.0, "tokens_per_second": 10.0}]
