"""The Step Functions task token: heartbeats while the evaluation runs, and its one answer.

AWS answers a closed task's token with TaskTimedOut; the emulator answers InvalidToken, and also
does so for a few milliseconds after it sent the message, before it registered the callback. So a
heartbeat's InvalidToken is retried briefly before the token is taken for dead.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from typing import Any

from botocore.exceptions import ClientError

from mlops_contracts.aws import aws_client
from mlops_evaluation.limiter import error_code

log = logging.getLogger(__name__)

DEAD_TOKEN_CODES = frozenset({"TaskTimedOut", "TaskDoesNotExist"})
MAX_ERROR_CHARS = 256
MAX_CAUSE_CHARS = 32_768


class TokenClosed(Exception):
    """The workflow no longer waits on this token (answered, timed out or never valid)."""


def _sfn() -> Any:
    return aws_client("stepfunctions")


def heartbeat(task_token: str, *, retries: int = 4, delay: float = 0.1) -> None:
    """One heartbeat; raises TokenClosed when the token is dead."""
    for attempt in range(retries + 1):
        try:
            _sfn().send_task_heartbeat(taskToken=task_token)
            return
        except ClientError as exc:
            code = error_code(exc)
            if code in DEAD_TOKEN_CODES:
                raise TokenClosed(f"task token closed ({code})") from exc
            if code == "InvalidToken" and attempt < retries:
                time.sleep(delay * (attempt + 1))
                continue
            if code == "InvalidToken":
                raise TokenClosed("task token not valid (InvalidToken)") from exc
            raise


class Heartbeat:
    """A daemon thread that sends a heartbeat every `interval` seconds; when the token is closed it
    sets `closed`, which the evaluation checks to stop early."""

    def __init__(self, task_token: str, interval: float) -> None:
        self.task_token = task_token
        self.interval = interval
        self.closed = threading.Event()
        self.sent = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="heartbeat", daemon=True)

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                heartbeat(self.task_token, retries=2)
                self.sent += 1
            except TokenClosed as exc:
                log.warning("stopping: %s", exc)
                self.closed.set()
                return
            except Exception as exc:  # a missed heartbeat is not fatal; the next one may get through
                log.warning("heartbeat failed: %s", exc)


def _answer(call: str, **params: Any) -> bool:
    """Send an answer; False when the token was already closed (a redelivery, a timeout)."""
    for attempt in range(4):
        try:
            getattr(_sfn(), call)(**params)
            return True
        except ClientError as exc:
            code = error_code(exc)
            if code in DEAD_TOKEN_CODES:
                log.warning("%s: token already closed (%s)", call, code)
                return False
            if code == "InvalidToken" and attempt < 3:
                time.sleep(0.1 * (attempt + 1))
                continue
            if code == "InvalidToken":
                log.error("%s: the task token is not valid; nothing waits on it", call)
                return False
            raise
    return False


def send_success(task_token: str, output: dict[str, Any]) -> bool:
    return _answer("send_task_success", taskToken=task_token, output=json.dumps(output))


def send_failure(task_token: str, error: str, cause: str) -> bool:
    return _answer(
        "send_task_failure",
        taskToken=task_token,
        error=error[:MAX_ERROR_CHARS],
        cause=cause[:MAX_CAUSE_CHARS],
    )
