"""The Step Functions task-token protocol, written once: heartbeat, succeed, fail.

A `.waitForTaskToken` task hands its token to a worker (or, for the approval, to the API) and
waits for exactly one answer, with heartbeats in between when it has HeartbeatSeconds.

The rule for a dead token, the same everywhere: Step Functions' `TaskTimedOut` (timed out or
already answered), `TaskDoesNotExist` and `InvalidToken` all mean that nothing will ever accept an
answer on this token, and raise `TokenDead`; the caller stops its work. `InvalidToken` is on the
list because AWS gives it for a token it never issued, and the emulator (moto) also for the token
of an execution that has ended - the state in which AWS says `TaskTimedOut`.

The one exception is the emulator's grace period, below. Any other error (throttling, 5xx, no
network) is raised unchanged: the boto3 client's own retry policy (`mlops_contracts.aws`) has
already retried what is worth retrying, and each caller decides what a lost answer means for it.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from botocore.exceptions import ClientError
from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_incrementing

from mlops_contracts.aws import aws_client

log = logging.getLogger(__name__)

DEAD_TOKEN_CODES = frozenset({"TaskTimedOut", "TaskDoesNotExist", "InvalidToken"})

# The limits of SendTaskFailure in botocore's service model (shapes SensitiveError and
# SensitiveCause, in characters); AWS refuses a longer value instead of cutting it.
MAX_ERROR_CHARS = 256
MAX_CAUSE_CHARS = 32_768

# The emulator's grace period. moto registers a task's token before the task sends its message,
# but sets up the heartbeat that HeartbeatSeconds waits on only after the message is sent; a
# heartbeat in between is answered `InvalidToken` although the token is valid (a fast worker hits
# that window with the heartbeat it sends first). So a heartbeat's `InvalidToken` is retried for
# about a second (waits of 0.1, 0.2, 0.3, 0.4 s) before the token is taken for dead. Answers need
# no grace: moto stores an answer from the moment the token exists. On AWS the grace costs one
# second, once, for a token that is dead anyway.
GRACE_ATTEMPTS = 5
GRACE_FIRST_WAIT_SECONDS = 0.1


class TokenDead(Exception):
    """Nothing waits on this task token any more: the task timed out or was answered, the
    execution ended, or the token was never valid. `code` is Step Functions' error code."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code

    def __str__(self) -> str:
        return f"the workflow no longer waits on this task token ({self.code})"


def _error_code(exc: BaseException) -> str:
    return str(exc.response.get("Error", {}).get("Code", "")) if isinstance(exc, ClientError) else ""


class TaskToken:
    """One task token and the Step Functions client that answers it (by default the platform's
    `aws_client("stepfunctions")`, built on first use). Every method raises `TokenDead` for a
    dead token and any other error unchanged."""

    def __init__(
        self, token: str, *, client: Any = None, sleep: Callable[[float], None] = time.sleep
    ) -> None:
        self._token = token
        self._client = client
        self._sleep = sleep  # the grace period's waits (a test passes a recorder)

    def __repr__(self) -> str:
        return "TaskToken(...)"  # a token answers for its task: it stays out of logs

    @property
    def _stepfunctions(self) -> Any:
        if self._client is None:
            self._client = aws_client("stepfunctions")
        return self._client

    def heartbeat(self) -> None:
        """SendTaskHeartbeat, with the emulator's grace period for `InvalidToken`."""
        retrying = Retrying(
            retry=retry_if_exception(lambda exc: _error_code(exc) == "InvalidToken"),
            wait=wait_incrementing(start=GRACE_FIRST_WAIT_SECONDS, increment=GRACE_FIRST_WAIT_SECONDS),
            stop=stop_after_attempt(GRACE_ATTEMPTS),
            sleep=self._sleep,
            reraise=True,
        )
        self._call(lambda: retrying(self._stepfunctions.send_task_heartbeat, taskToken=self._token))

    def succeed(self, output: Mapping[str, Any]) -> None:
        """SendTaskSuccess with `output` as the task's JSON result."""
        document = json.dumps(output)
        self._call(lambda: self._stepfunctions.send_task_success(taskToken=self._token, output=document))

    def fail(self, error: str, cause: str) -> None:
        """SendTaskFailure; `error` and `cause` are cut to Step Functions' limits (the start of a
        cause says the most)."""
        self._call(
            lambda: self._stepfunctions.send_task_failure(
                taskToken=self._token, error=error[:MAX_ERROR_CHARS], cause=cause[:MAX_CAUSE_CHARS]
            )
        )

    @staticmethod
    def _call(send: Callable[[], object]) -> None:
        try:
            send()
        except ClientError as exc:
            code = _error_code(exc)
            if code in DEAD_TOKEN_CODES:
                raise TokenDead(code) from exc
            raise


class HeartbeatThread:
    """Calls `beat` every `interval` seconds from a daemon thread while the `with` block runs.

    The first `TokenDead` stops it and sets `dead` (work can check the event and give up); any
    other error is logged and the next beat tries again: one lost heartbeat is not fatal, as
    HeartbeatSeconds spans several intervals."""

    def __init__(self, beat: Callable[[], object], interval: float) -> None:
        self.dead = threading.Event()
        self._beat = beat
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="heartbeat", daemon=True)

    def __enter__(self) -> HeartbeatThread:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                self._beat()
            except TokenDead as exc:
                log.warning("heartbeats stopped: %s", exc)
                self.dead.set()
                return
            except Exception as exc:
                log.warning("heartbeat not sent: %s", exc)
