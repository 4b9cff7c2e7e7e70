"""The one logging set-up: the same JSON keys from every component, with the bound run and request ids."""

from __future__ import annotations

import io
import json
import logging
import logging.config
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from mlops_contracts.logs import (
    NOISY,
    UVICORN,
    build_handler,
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


# Teams webhook URLs, as Microsoft gives them: an incoming webhook's secret is its path, a workflow's its `sig`
WEBHOOK = "https://contoso.webhook.office.com/webhookb2/1f2e@7a8b/IncomingWebhook/0c9d8e/4b5a/V2x"
WORKFLOW = (
    "https://prod-12.westeurope.logic.azure.com:443/workflows/9a8b/triggers/manual/paths/invoke"
    "?api-version=2016-06-01&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig=Zx9-Wq_81"
)
SECRETS = (TOKEN, "1f2e@7a8b", "0c9d8e/4b5a", "Zx9-Wq_81")


@pytest.mark.parametrize("fmt", ["json", "text"])
def test_no_secret_in_an_exception_a_field_or_a_bound_key(fmt: str) -> None:
    """Not only the message: the line as written, its traceback and every field."""
    stream = io.StringIO()
    configure_logging("INFO", fmt, stream=stream)
    log = logging.getLogger("mlops_test.redaction")
    link = f"https://api/runs/3/approval-links/{TOKEN}"
    try:  # httpx's error names the URL it called
        httpx.Response(404, request=httpx.Request("GET", link)).raise_for_status()
    except httpx.HTTPStatusError:
        log.exception("the API refused")
    try:
        raise RuntimeError(f"posting to {WEBHOOK} or {WORKFLOW} failed")
    except RuntimeError:
        log.exception("Teams")
    with log_context(link=link):
        log.warning("sent", extra={"webhook": WEBHOOK, "workflow": WORKFLOW})
    text = stream.getvalue()
    assert [secret for secret in SECRETS if secret in text] == []
    assert "for url 'https://api/runs/3/approval-links/[redacted]'" in text
    assert "posting to https://contoso.webhook.office.com/webhookb2/[redacted] or" in text
    if fmt == "json":
        sent = lines(stream)[-1]
        assert (sent["link"], sent["webhook"], sent["workflow"]) == (
            "https://api/runs/3/approval-links/[redacted]",
            "https://contoso.webhook.office.com/webhookb2/[redacted]",
            WORKFLOW.replace("sig=Zx9-Wq_81", "sig=[redacted]"),
        )


def test_the_platform_handler_redacts_whatever_its_formatter() -> None:
    stream = io.StringIO()
    handler = build_handler("json", stream)
    handler.setFormatter(logging.Formatter("%(message)s %(link)s"))
    handler.handle(logging.makeLogRecord({"msg": "sent", "link": f"/runs/3/approval-links/{TOKEN}"}))
    assert stream.getvalue() == "sent /runs/3/approval-links/[redacted]\n"


def test_a_record_no_redacting_factory_made_is_redacted_on_the_way_out() -> None:
    # another library's record factory, installed after ours, makes records that keep their tokens:
    # the platform's handler still writes none
    stream = io.StringIO()
    handler = build_handler("json", stream)
    handler.handle(
        logging.makeLogRecord({"msg": f"link /runs/3/approval-links/{TOKEN}", "levelname": "INFO"})
    )
    assert TOKEN not in stream.getvalue()
    assert json.loads(stream.getvalue())["message"] == "link /runs/3/approval-links/[redacted]"
