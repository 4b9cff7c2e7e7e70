"""Structured logs: one JSON object per line (CloudWatch Logs Insights queries them as fields),
with `run_id` / `execution_arn` when the code passes them in `extra`."""

from __future__ import annotations

import logging

from pythonjsonlogger.json import JsonFormatter

NOISY = ("alembic", "botocore", "boto3", "urllib3")


def _drop_colors(record: logging.LogRecord) -> bool:
    record.__dict__.pop("color_message", None)  # uvicorn's ANSI-coloured copy of the message
    return True


def configure(level: str, fmt: str) -> None:
    handler = logging.StreamHandler()
    handler.addFilter(_drop_colors)
    if fmt == "json":
        handler.setFormatter(
            JsonFormatter(
                "%(asctime)s %(levelname)s %(name)s %(message)s",
                rename_fields={"asctime": "timestamp", "levelname": "level", "name": "logger"},
            )
        )
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name in NOISY:
        logging.getLogger(name).setLevel(logging.WARNING)
    # uvicorn's own loggers go through the same handler
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        logger.handlers[:] = []
        logger.propagate = True
