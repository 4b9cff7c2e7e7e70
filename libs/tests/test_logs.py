"""The one logging set-up: the same JSON keys from every component, with the bound run and request ids."""

from __future__ import annotations

import io
import json
import logging
import logging.config
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from mlops_contracts.logs import (
    NOISY,
    UVICORN,
    configure_lambda_logging,
    configure_logging,
    configured,
    log_context,
)


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    """Puts back all the process-wide state `configure_logging` changes, for the tests after these."""
    root = logging.getLogger()
    loggers = [logging.getLogger(name) for name in (*NOISY, *UVICORN)]
    saved = [(logger.handlers[:], logger.level, logger.propagate, logger.disabled) for logger in loggers]
    handlers, level, factory = root.handlers[:], root.level, logging.getLogRecordFactory()
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    logging.setLogRecordFactory(factory)
    for logger, (handlers, level, propagate, disabled) in zip(loggers, saved, strict=True):
        logger.handlers[:], logger.propagate, logger.disabled = handlers, propagate, disabled
        logger.setLevel(level)


def uvicorn_log_config(level: str, stream: io.StringIO) -> dict[str, Any]:
    """What `uvicorn.Config(app, log_level=level)` with its default log config sets up
    (`uvicorn.config.LOGGING_CONFIG`): `uvicorn.access` writes through a handler of its own, which
    reads the request's path from the record's arguments, and does not propagate."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"access": {"()": AccessFormatter}},
        "handlers": {"access": {"class": "logging.StreamHandler", "formatter": "access", "stream": stream}},
        "loggers": {"uvicorn.access": {"handlers": ["access"], "level": level, "propagate": False}},
    }


class AccessFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        client, method, path, version, status = record.args  # type: ignore[misc]
        return f'{client} - "{method} {path} HTTP/{version}" {status}'


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


TOKEN = "v1.c2VjcmV0LXRva2Vu.sig"
ACCESS_ARGS = ("1.2.3.4", "GET", f"/runs/3/approval-links/{TOKEN}?a=1", "1.1", 200)
ACCESS_LINE = '1.2.3.4 - "GET /runs/3/approval-links/[redacted]?a=1 HTTP/1.1" 200'


def test_approval_link_tokens_are_redacted_from_every_line() -> None:
    stream = io.StringIO()
    configure_logging("INFO", "json", stream=stream)
    logging.getLogger("uvicorn.access").info('%s - "%s %s HTTP/%s" %d', *ACCESS_ARGS)
    logging.getLogger("mlops_test.redaction").warning("link https://api/runs/3/approval-links/%s sent", TOKEN)
    text = stream.getvalue()
    assert TOKEN not in text
    lines = [json.loads(line)["message"] for line in text.splitlines()]
    assert lines == [ACCESS_LINE, "link https://api/runs/3/approval-links/[redacted] sent"]


def test_uvicorn_configured_first_still_logs_through_the_one_handler() -> None:
    """A uvicorn server started before in the process (a test's, with `log_level="warning"`) left
    `uvicorn.access` at WARNING: `configure_logging` takes its level back with its handlers."""
    logging.config.dictConfig(uvicorn_log_config("WARNING", io.StringIO()))
    stream = io.StringIO()
    configure_logging("INFO", "json", stream=stream)
    logging.getLogger("uvicorn.access").info('%s - "%s %s HTTP/%s" %d', *ACCESS_ARGS)
    assert [json.loads(line)["message"] for line in stream.getvalue().splitlines()] == [ACCESS_LINE]


def test_a_handler_a_library_gave_its_logger_gets_no_token_either() -> None:
    """uvicorn configured after `configure_logging` (its default log config) writes its access log
    through its own handler, not ours: the tokens are gone from the records themselves."""
    configure_logging("INFO", "json", stream=io.StringIO())
    uvicorn_stream = io.StringIO()
    logging.config.dictConfig(uvicorn_log_config("INFO", uvicorn_stream))
    logging.getLogger("uvicorn.access").info('%s - "%s %s HTTP/%s" %d', *ACCESS_ARGS)
    assert uvicorn_stream.getvalue() == ACCESS_LINE + "\n"
