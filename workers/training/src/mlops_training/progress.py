"""Training progress on the platform's event bus: one `run.training_progress` fact per logging window
(step, total steps, ETA, the window's loss), which the projector records as a timeline step of the run
(docs/decisions/0001-one-orchestrator.md: events are facts that feed projection;
docs/decisions/0005-system-of-record.md: only the API writes the run, through the projector).

The job publishes with source `mlops.training` (terraform/routing.json sends it to the projector).
Progress is a report, never a reason to stop training: the first failure to publish is logged and
publishing stops for the rest of the job.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from mlops_contracts.events import EVENT_SOURCE_TRAINING, EventType
from mlops_training.loop import StepInfo

log = logging.getLogger(__name__)

PROGRESS_EVENT = EventType.TRAINING_PROGRESS.value


def eta_seconds(step: int, total: int, first_step: int, elapsed: float) -> float | None:
    """Seconds left at the pace of the steps this process ran (a resumed job's earlier steps took
    another process's time); None before the first step."""
    done = step - first_step
    if done <= 0 or elapsed <= 0:
        return None
    return max(0.0, elapsed / done * (total - step))


def progress_detail(
    run_id: int, info: StepInfo, *, eta: float | None, mlflow: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """The event's detail, in the projector's shape (run_id, reason, data)."""
    eta_text = f", about {_duration(eta)} left" if eta is not None else ""
    loss_text = f", loss {info.loss:.4f}" if info.loss is not None else ""
    data: dict[str, Any] = {
        "step": info.step,
        "total_steps": info.total_steps,
        "epoch": info.epoch,
        "eta_seconds": round(eta, 1) if eta is not None else None,
        "train_loss": info.loss,
    }
    if mlflow:
        data["mlflow"] = dict(mlflow)
    return {
        "run_id": run_id,
        "reason": f"step {info.step} of {info.total_steps}{loss_text}{eta_text}",
        "data": data,
    }


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


class ProgressReporter:
    """`on_step` callable of the training loop: publishes when a logging window closed (the step
    carries a loss), and at the last step."""

    def __init__(
        self,
        run_id: int,
        bus_name: str,
        *,
        client: Any = None,
        clock: Callable[[], float] = time.monotonic,
        mlflow: Callable[[], Mapping[str, str] | None] = lambda: None,
    ) -> None:
        self.run_id, self.bus_name = run_id, bus_name
        self._client = client
        self._clock = clock
        self._mlflow = mlflow
        self._started: float | None = None
        self._first_step = 0
        self.enabled = True
        self.sent = 0

    def start(self, resumed_from_step: int) -> None:
        self._started, self._first_step = self._clock(), resumed_from_step

    def __call__(self, info: StepInfo) -> None:
        if not self.enabled or (info.loss is None and info.step != info.total_steps):
            return
        if self._started is None:
            self.start(0)
        assert self._started is not None
        eta = eta_seconds(info.step, info.total_steps, self._first_step, self._clock() - self._started)
        detail = progress_detail(self.run_id, info, eta=eta, mlflow=self._mlflow())
        self._publish(detail)

    def _publish(self, detail: dict[str, Any]) -> None:
        try:
            if self._client is None:
                from mlops_contracts.aws import aws_client

                self._client = aws_client("events", max_attempts=2)
            answer = self._client.put_events(
                Entries=[
                    {
                        "Source": EVENT_SOURCE_TRAINING,
                        "DetailType": PROGRESS_EVENT,
                        "Detail": json.dumps(detail),
                        "EventBusName": self.bus_name,
                        "Time": datetime.now(UTC),
                    }
                ]
            )
            if answer.get("FailedEntryCount"):
                entry = answer["Entries"][0]
                raise RuntimeError(f"{entry.get('ErrorCode')}: {entry.get('ErrorMessage')}")
            self.sent += 1
        except Exception as exc:
            log.warning("training progress not published, publishing stops for this job: %s", exc)
            self.enabled = False


def reporter_from_env(run_id: str | None, env: Mapping[str, str], **kwargs: Any) -> ProgressReporter | None:
    """A reporter when the job knows its run and its dispatcher named the bus (EVENT_BUS_NAME);
    None for a job run by hand."""
    bus = env.get("EVENT_BUS_NAME")
    if not bus or not run_id or not str(run_id).isdigit():
        return None
    return ProgressReporter(int(run_id), bus, **kwargs)
