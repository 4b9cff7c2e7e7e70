"""The one logging set-up: the same JSON keys from every component, with the bound run and request ids."""

from __future__ import annotations

import io
import json
import logging
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from mlops_contracts.logs import configure_lambda_logging, configure_logging, configured, log_context


@pytest.fixture(autouse=True)
def restore_root_logger() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_every_line_has_the_same_keys_and_the_bound_ids() -> None:
    out = io.StringIO()
    configure_logging("INFO", "json", stream=out, fields={"run_id": 1})
    log = logging.getLogger("mlops_test.component")
    log.info("plain")
    with log_context(request_id="req-1", run_id=2):
        log.info("bound %s", "here", extra={"mapping": "training"})
        with log_context(run_id=3):
            log.warning("inner")
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        log.exception("failed")
    plain, bound, inner, failed = lines(out)
    assert list(plain) == ["timestamp", "level", "logger", "message", "run_id"]
    assert plain["timestamp"].endswith("+00:00")
    assert (plain["level"], plain["logger"], plain["message"]) == ("INFO", "mlops_test.component", "plain")
    assert (bound["message"], bound["run_id"], bound["request_id"], bound["mapping"]) == (
        "bound here",
        2,
        "req-1",
        "training",
    )
    assert (inner["run_id"], inner["request_id"]) == (3, "req-1")
    assert failed["run_id"] == 1
    assert "request_id" not in failed
    assert "RuntimeError: boom" in failed["exception"]


def test_bound_keys_stay_in_their_thread() -> None:
    out = io.StringIO()
    configure_logging("INFO", "json", stream=out)
    log = logging.getLogger("mlops_test.threads")
    with log_context(request_id="mine"):
        thread = threading.Thread(target=log.info, args=("other thread",))
        thread.start()
        thread.join()
    assert "request_id" not in lines(out)[0]


def test_text_format_and_bad_format() -> None:
    out = io.StringIO()
    configure_logging("WARNING", "text", stream=out)
    logging.getLogger("mlops_test.text").info("hidden")
    logging.getLogger("mlops_test.text").warning("shown")
    assert out.getvalue().rstrip().endswith("WARNING mlops_test.text: shown")
    with pytest.raises(ValueError, match="LOG_FORMAT"):
        configure_logging("INFO", "yaml")


def test_lambda_logging_only_in_lambda(monkeypatch: pytest.MonkeyPatch) -> None:
    root = logging.getLogger()
    monkeypatch.delenv("AWS_LAMBDA_FUNCTION_NAME", raising=False)
    root.handlers[:] = [logging.StreamHandler(io.StringIO())]
    configure_lambda_logging()
    assert not configured()
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "projector")
    configure_lambda_logging()
    assert configured()
    ours = list(root.handlers)
    configure_lambda_logging()
    assert root.handlers == ours


def test_approval_link_tokens_are_redacted_from_every_line() -> None:
    stream = io.StringIO()
    configure_logging("INFO", "json", stream=stream)
    token = "v1.c2VjcmV0LXRva2Vu.sig"
    logging.getLogger("uvicorn.access").info(
        '%s - "%s %s HTTP/%s" %d', "1.2.3.4", "GET", f"/runs/3/approval-links/{token}?a=1", "1.1", 200
    )
    logging.getLogger("x").warning("link https://api/runs/3/approval-links/%s sent", token)
    text = stream.getvalue()
    assert token not in text
    lines = [json.loads(line)["message"] for line in text.splitlines()]
    assert lines == [
        '1.2.3.4 - "GET /runs/3/approval-links/[redacted]?a=1 HTTP/1.1" 200',
        "link https://api/runs/3/approval-links/[redacted] sent",
    ]
