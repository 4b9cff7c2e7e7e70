"""Heartbeats to the release workflow's task token while the job runs.

The interface is a plain callable: the training loop calls `heartbeat()` after every optimizer step
and the implementation decides whether it is time to send (throttled). A dispatcher passes its own
callable to `run_job`, or the entrypoint builds one from the environment (TASK_TOKEN).

While the job is in a phase with no steps (downloading the base model, tokenizing, merging, packing
the artifact) `keep_alive()` beats from a background thread; during training only the loop beats,
so a hung loop stops the heartbeats and the workflow's HeartbeatSeconds catches it.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any, Protocol

from mlops_contracts.task_tokens import HeartbeatThread, TaskToken, TokenDead

log = logging.getLogger(__name__)

DEFAULT_INTERVAL_SECONDS = 60.0


class Heartbeat(Protocol):
    def __call__(self) -> None: ...


class WorkflowGaveUp(TokenDead):
    """The workflow no longer waits for this job (task timed out, execution stopped): stop spending
    GPU time on it."""

    def __str__(self) -> str:
        return f"the workflow no longer waits for this job ({self.code})"


def no_heartbeat() -> None:
    """The heartbeat of a job that no workflow waits on."""


class StepFunctionsHeartbeat:
    """`SendTaskHeartbeat` at most once per `interval` seconds."""

    def __init__(
        self,
        task_token: str,
        *,
        interval: float = DEFAULT_INTERVAL_SECONDS,
        client: Any = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._token = TaskToken(task_token, client=client)
        self._interval = interval
        self._clock = clock
        self._last: float | None = None
        self._lock = threading.Lock()
        self._gave_up: str | None = None
        self.sent = 0

    def __call__(self) -> None:
        if self._gave_up:
            raise WorkflowGaveUp(self._gave_up)
        with self._lock:
            now = self._clock()
            if self._last is not None and now - self._last < self._interval:
                return
            self._last = now
            self._send()
        if self._gave_up:
            raise WorkflowGaveUp(self._gave_up)

    def _send(self) -> None:
        try:
            self._token.heartbeat()
            self.sent += 1
        except TokenDead as exc:
            self._gave_up = exc.code
        except Exception as exc:  # a heartbeat lost to the network is retried at the next beat
            log.warning("heartbeat not sent: %s", exc)

    @contextlib.contextmanager
    def keep_alive(self) -> Iterator[None]:
        """Beat from a background thread for the duration of a step-less phase (the thread asks
        every 5 s at most; the throttle decides whether a beat is due)."""
        with HeartbeatThread(self, min(self._interval, 5.0)):
            yield
        if self._gave_up:
            raise WorkflowGaveUp(self._gave_up)


@contextlib.contextmanager
def keep_alive(heartbeat: Heartbeat) -> Iterator[None]:
    """`heartbeat.keep_alive()` when it has one (a plain callable just beats before and after)."""
    manager = getattr(heartbeat, "keep_alive", None)
    if manager is None:
        heartbeat()
        yield
        heartbeat()
        return
    with manager():
        yield


def heartbeat_from_env(env: Mapping[str, str]) -> Heartbeat:
    """TASK_TOKEN (and HEARTBEAT_INTERVAL_SECONDS) -> a Step Functions heartbeat; none without."""
    token = env.get("TASK_TOKEN")
    if not token:
        return no_heartbeat
    interval = float(env.get("HEARTBEAT_INTERVAL_SECONDS", DEFAULT_INTERVAL_SECONDS))
    return StepFunctionsHeartbeat(token, interval=interval)
