"""One logging set-up for every service and worker: one JSON object per line (CloudWatch Logs
Insights queries them as fields) with the same keys everywhere: `timestamp`, `level`, `logger`,
`message`, then `run_id` / `request_id` and the other keys bound with `log_context` or passed in
`extra`, and `exception` with its traceback.

A process's main calls `configure_logging()`; a Lambda handler module calls
`configure_lambda_logging()` at import (the SQS runtime and the tests, which host the handlers
elsewhere, have set up logging already)."""

from __future__ import annotations

import logging
import os
import re
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from types import MappingProxyType
from typing import IO, Any

from pythonjsonlogger.json import JsonFormatter

# Their INFO lines (credentials found, connection pool sizes...) drown the platform's own.
NOISY = ("alembic", "botocore", "boto3", "urllib3", "httpx", "httpcore")
# The loggers of uvicorn (`uvicorn.asgi`: its ASGI message trace), which `uvicorn.Config` configures.
UVICORN = ("uvicorn", "uvicorn.error", "uvicorn.access", "uvicorn.asgi")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

_NOTHING: Mapping[str, Any] = MappingProxyType({})
_bound: ContextVar[Mapping[str, Any]] = ContextVar("mlops_log_context", default=_NOTHING)


@contextmanager
def log_context(**keys: Any) -> Iterator[None]:
    """Add `keys` (run_id, request_id, ...) to every log line inside the block: in this thread or
    asyncio task only, so concurrent requests and batches keep theirs apart."""
    token = _bound.set({**_bound.get(), **keys})
    try:
        yield
    finally:
        _bound.reset(token)


# The secrets a log line could quote, each kept by the prefix that names it. The part redacted stops
# at a quote, a space or a backslash, so a JSON line stays valid (its escapes are left whole).
_SECRETS = re.compile(
    # An approval link carries its signed token in the path (/runs/{id}/approval-links/{token}):
    # whoever reads a log line holding one could decide the release. Access logs write every path.
    # (The route's template, `{token}`, is no secret: a span names its route.)
    r"(/approval-links/)(?!\{token\}(?:[/\s\"'\\?#]|$))[^/\s\"'\\?#]+"
    # A Teams webhook URL lets whoever holds it post into the channel (docs/decisions/0008-security.md):
    # an incoming webhook's is all in its path (https://<tenant>.webhook.office.com/webhookb2/<ids>/
    # IncomingWebhook/<id>/<id>..., formerly https://outlook.office.com/webhook/...), a Workflows
    # (Power Automate) one's is its `sig` parameter
    # (https://prod-NN.<region>.logic.azure.com:443/workflows/<id>/triggers/manual/paths/invoke?...&sig=<signature>).
    r"|(/webhookb2/|\.office\.com/webhook/)[^\s\"'\\<>]+"
    r"|([?&]sig=)[^&\s\"'\\#<>]+"
)
REDACTED = "[redacted]"


def redact_secrets(text: str) -> str:
    """`text` with every approval-link token and Teams webhook secret replaced by [redacted]: the one
    place that knows their shapes."""
    return _SECRETS.sub(lambda match: f"{match.group(match.lastindex or 0)}{REDACTED}", text)


def _message(record: logging.LogRecord) -> str | None:
    """The record's message, or None for a malformed call (which the handler reports, as logging does)."""
    try:
        return record.getMessage()
    except Exception:
        return None


def _redact_record(record: logging.LogRecord) -> None:
    """Takes every approval-link token out of `record`, in place. Its arguments are redacted one by
    one where that is enough, so that a formatter that reads them still finds them (uvicorn's access
    formatter takes the request's path from them); otherwise the message becomes its redacted text."""
    message = _message(record)
    if message is None or (redacted := redact_secrets(message)) == message:
        return
    if isinstance(record.msg, str) and isinstance(record.args, tuple):
        record.msg = redact_secrets(record.msg)
        record.args = tuple(redact_secrets(arg) if isinstance(arg, str) else arg for arg in record.args)
        if _message(record) == redacted:
            return
    record.msg, record.args = redacted, ()


def _install_redacting_record_factory() -> None:
    """Every record of the process loses its tokens as it is made, so the redaction holds on any
    handler: one a library gives its own logger (uvicorn's default log config gives `uvicorn.access`
    a stdout handler that does not propagate), pytest's, or ours. Once per process; the factory
    already installed (by the runtime, OpenTelemetry...) is called first."""
    factory = logging.getLogRecordFactory()
    if getattr(factory, "redacts_secrets", False):
        return

    def redacting_factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = factory(*args, **kwargs)
        _redact_record(record)
        return record

    redacting_factory.redacts_secrets = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(redacting_factory)


class _ContextFilter(logging.Filter):
    """Puts the process's fixed keys and the bound ones on each record (a call's `extra` wins)."""

    def __init__(self, fields: Mapping[str, Any]) -> None:
        super().__init__()
        self.fields = dict(fields)

    def filter(self, record: logging.LogRecord) -> bool:
        record.__dict__.pop("color_message", None)  # uvicorn's ANSI-coloured copy of the message
        for key, value in (*_bound.get().items(), *self.fields.items()):
            record.__dict__.setdefault(key, value)
        return True


class PlatformJsonFormatter(JsonFormatter):
    """python-json-logger with the platform's key names and an ISO-8601 UTC timestamp."""

    def __init__(self) -> None:
        super().__init__(
            "%(asctime)s %(levelname)s %(name)s %(message)s",
            rename_fields={
                "asctime": "timestamp",
                "levelname": "level",
                "name": "logger",
                "exc_info": "exception",
            },
        )

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        return datetime.fromtimestamp(record.created, tz=UTC).isoformat(timespec="milliseconds")


class PlatformTextFormatter(logging.Formatter):
    """`LOG_FORMAT=text`, for humans (the local stack's terminal)."""

    def __init__(self) -> None:
        super().__init__(TEXT_FORMAT)


class _RedactingHandler(logging.StreamHandler[IO[str]]):
    """The platform's handler: the secrets are taken out of each line it writes, once formatted, so
    none is left in the exception and its traceback, the stack, a field passed in `extra` or bound
    with `log_context`, whatever the formatter and whichever record factory made the record (the
    record itself only loses those of its message, in the redacting factory)."""

    def format(self, record: logging.LogRecord) -> str:
        return redact_secrets(super().format(record))


def build_handler(
    fmt: str = "json", stream: IO[str] | None = None, fields: Mapping[str, Any] | None = None
) -> logging.Handler:
    handler = _RedactingHandler(sys.stdout if stream is None else stream)
    handler.addFilter(_ContextFilter(fields or {}))
    handler.setFormatter(PlatformTextFormatter() if fmt == "text" else PlatformJsonFormatter())
    return handler


def configure_logging(
    level: str | None = None,
    fmt: str | None = None,
    *,
    stream: IO[str] | None = None,
    fields: Mapping[str, Any] | None = None,
) -> None:
    """Route every logger through one handler on the root logger. `level` and `fmt` default to
    LOG_LEVEL and LOG_FORMAT (json | text); `fields` go on every line of the process (a training
    job's run_id)."""
    level = (level or os.environ.get("LOG_LEVEL") or "INFO").upper()
    fmt = fmt or os.environ.get("LOG_FORMAT") or "json"
    if fmt not in ("json", "text"):
        raise ValueError(f"LOG_FORMAT must be 'json' or 'text', got '{fmt}'")
    _install_redacting_record_factory()
    root = logging.getLogger()
    root.handlers[:] = [build_handler(fmt, stream, fields)]
    root.setLevel(level)
    for name in NOISY:
        logging.getLogger(name).setLevel(logging.WARNING)
    # uvicorn's own loggers go through the same handler at the same level, whatever uvicorn's own
    # log config (its handlers, `log_level`) left on them before; `uvicorn.run(log_level=...)` after
    # this sets their level again.
    for name in UVICORN:
        logger = logging.getLogger(name)
        logger.handlers[:] = []
        logger.propagate = True
        logger.setLevel(logging.NOTSET)
        logger.disabled = False


def configured() -> bool:
    """Whether this process's logging already goes through a handler of this module."""
    return any(
        isinstance(handler.formatter, (PlatformJsonFormatter, PlatformTextFormatter))
        for handler in logging.getLogger().handlers
    )


def configure_lambda_logging() -> None:
    """In AWS Lambda, whose runtime installs a plain-text handler, switch to ours (once). Elsewhere
    the host of the handler (the SQS runtime, a test) owns the process's logging."""
    if os.environ.get("AWS_LAMBDA_FUNCTION_NAME") and not configured():
        configure_logging()
