"""Structured JSON logs (aws-lambda-powertools) carrying run_id and execution_arn."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from aws_lambda_powertools import Logger

_logger: Logger | None = None


def configure_logging() -> Logger:
    """JSON logs for every `mlops_evaluation.*` logger (once per process)."""
    global _logger
    if _logger is None:
        _logger = Logger(service="mlops_evaluation", level=os.environ.get("LOG_LEVEL", "INFO"))
    return _logger


@contextmanager
def log_context(**keys: Any) -> Iterator[None]:
    """Add keys to every log line inside the block (no-op until configure_logging ran)."""
    if _logger is None:
        yield
        return
    _logger.append_keys(**keys)
    try:
        yield
    finally:
        _logger.remove_keys(list(keys))
