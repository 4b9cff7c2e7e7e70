"""The demo's path through the platform, over HTTP only (as a user of the API would go): register the
samples, launch a `finetune` run of the offline base model, follow it, approve it as an approver,
and check the registry's verdict. Every wait is bounded; anything else than the expected way is a
DemoFailed naming the phase, with what was seen so far."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlops_contracts.api_client import ApiClient, ApiError
from mlops_devstack.base_model import ensure_tiny_model
from mlops_devstack.demo.progress import Progress, Snapshot
from mlops_devstack.samples import (
    RegisteredDataset,
    SampleDataset,
    SampleError,
    register_samples,
    sample_datasets,
)

# Small enough for a CPU, large enough that the loss visibly falls on the 40 sample rows.
DEMO_HYPERPARAMETERS: dict[str, Any] = {
    "epochs": 5,
    "batch_size": 4,
    "max_seq_length": 256,
    "learning_rate": 0.005,
    "max_runtime_seconds": 600,
}
# The offline judge (JUDGE=local) scores embedding overlap, not entailment: its MLScores are not
# comparable with an LLM judge's 0.7. The tiny model's answers are near-random text, so the demo's
# gate sits where the context metrics alone carry a run through and a broken evaluation does not.
DEMO_THRESHOLD = 0.4
FAILED_STATUSES = frozenset({"failed", "cancelled", "rejected"})


class DemoFailed(RuntimeError):
    """A step failed or timed out: `phase` says which; `run` is the run as last seen, if any."""

    def __init__(self, phase: str, message: str, run: dict[str, Any] | None = None) -> None:
        super().__init__(f"{phase}: {message}")
        self.phase = phase
        self.run = run


@dataclass(frozen=True)
class DemoKeys:
    operator: str  # registers the samples, launches the run
    approver: str  # approves it (docs/decisions/0008-security.md: approving needs the approver role)


@dataclass
class PhaseTimeouts:
    training: float = 420.0
    evaluation: float = 300.0
    approval: float = 120.0
    registry: float = 60.0
    serving: float = 180.0  # the Deploy stage: the model data extracted, the server up, the smoke test


@dataclass
class DemoConfig:
    model_dir: Path | None = None  # the tiny model's directory (default .local/models/tiny-llm)
    model_id: str | None = None  # any other base model id: a hub id, s3:// or a path
    model_name: str = "tiny-platform-qa"
    experiment_name: str = "demo"
    hyperparameters: dict[str, Any] = field(default_factory=lambda: dict(DEMO_HYPERPARAMETERS))
    ml_score_threshold: float = DEMO_THRESHOLD
    samples: list[SampleDataset] = field(default_factory=sample_datasets)
    timeouts: PhaseTimeouts = field(default_factory=PhaseTimeouts)
    poll_seconds: float = 1.0


@dataclass
class PhaseTiming:
    name: str
    seconds: float
    note: str = ""


class PhaseClock:
    """Times the demo's phases; a phase that raises is recorded too (as failed)."""

    def __init__(self, now: Callable[[], float] = time.monotonic) -> None:
        self.now = now
        self.started = now()
        self.phases: list[PhaseTiming] = []

    def record(self, name: str, seconds: float, note: str = "") -> None:
        self.phases.append(PhaseTiming(name, seconds, note))

    @contextmanager
    def phase(self, name: str, progress: Progress) -> Iterator[PhaseTiming]:
        timing = PhaseTiming(name, 0.0)
        began = self.now()
        progress.phase_started(name)
        try:
            yield timing
        except BaseException:
            timing.note = timing.note or "failed"
            raise
        finally:
            timing.seconds = self.now() - began
            self.phases.append(timing)
            progress.phase_finished(timing.name, timing.seconds, timing.note)

    def total(self) -> float:
        return self.now() - self.started


@dataclass
class DemoResult:
    run: dict[str, Any]
    datasets: dict[str, RegisteredDataset]
    model_id: str
    approval: dict[str, Any]
    version: dict[str, Any]  # the registry's model version of the run (GET /models/{name}/versions)
    clock: PhaseClock
    # the release's deployment in service (GET /models/{name}/deployments) and what it answered
    deployment: dict[str, Any] | None = None
    answer: dict[str, Any] | None = None


@dataclass
class _Session:
    operator: ApiClient
    approver: ApiClient
    config: DemoConfig
    progress: Progress
    clock: PhaseClock
    run: dict[str, Any] | None = None

    def fetch_run(self, run_id: int) -> dict[str, Any]:
        self.run = self.operator.get_run(run_id)
        return self.run

    def wait_for_status(self, phase: str, run_id: int, wanted: set[str], timeout: float) -> dict[str, Any]:
        began = time.monotonic()
        while True:
            run = self.fetch_run(run_id)
            self.progress.update(_snapshot(phase, run, time.monotonic() - began, self.clock.total()))
            if run["status"] in wanted:
                return run
            if run["status"] in FAILED_STATUSES:
                raise DemoFailed(phase, _why_it_stopped(run), run)
            if time.monotonic() - began > timeout:
                raise DemoFailed(
                    phase, f"run #{run_id} is still '{run['status']}' after {timeout:.0f}s (timed out)", run
                )
            time.sleep(self.config.poll_seconds)

    def poll(self, phase: str, timeout: float, check: Callable[[], Any], what: str) -> Any:
        """`check()` until it returns something truthy, refreshing the display with the run."""
        began = time.monotonic()
        while True:
            found = check()
            if self.run is not None:
                self.progress.update(_snapshot(phase, self.run, time.monotonic() - began, self.clock.total()))
            if found:
                return found
            if time.monotonic() - began > timeout:
                raise DemoFailed(phase, f"{what}: nothing after {timeout:.0f}s (timed out)", self.run)
            time.sleep(self.config.poll_seconds)


def run_demo(
    api_url: str, keys: DemoKeys, config: DemoConfig, progress: Progress, clock: PhaseClock | None = None
) -> DemoResult:
    """Samples -> finetune run -> evaluation -> approval -> registry Approved + go_prod -> served."""
    clock = clock or PhaseClock()
    operator = ApiClient(api_url, keys.operator, timeout=60)
    approver = ApiClient(api_url, keys.approver, timeout=60)
    session = _Session(operator, approver, config, progress, clock)
    try:
        return _run(session)
    except ApiError as exc:  # refused, or the API went away (status 0, after retries)
        failed = [p.name for p in clock.phases if p.note == "failed"]
        raise DemoFailed(failed[-1] if failed else "API", f"the API: {exc}", session.run) from exc
    finally:
        operator.close()
        approver.close()


def _run(s: _Session) -> DemoResult:
    config, timeouts = s.config, s.config.timeouts
    with s.clock.phase("preparation", s.progress) as timing:
        try:
            datasets = register_samples(s.operator, config.samples)
        except SampleError as exc:
            raise DemoFailed("preparation", str(exc)) from exc
        try:
            model_id = config.model_id or str(ensure_tiny_model(config.model_dir, config.samples))
        except Exception as exc:
            raise DemoFailed("preparation", f"building the offline base model failed: {exc}") from exc
        timing.note = ", ".join(f"{d.name} #{d.id} ({d.action})" for d in datasets.values())

    with s.clock.phase("training", s.progress) as timing:
        run = s.operator.create_run(
            {
                "model_name": config.model_name,
                "model_id": model_id,
                "task_type": "finetune",
                "experiment_name": config.experiment_name,
                "train_dataset_id": datasets["train"].id,
                "eval_dataset_id": datasets["eval"].id,
                "hyperparameters": config.hyperparameters,
                "ml_score_threshold": config.ml_score_threshold,
            }
        )
        run_id = int(run["id"])
        s.run = run
        s.progress.note(f"run #{run_id} launched: {config.model_name} from {model_id}")
        s.wait_for_status("training", run_id, {"evaluating", "awaiting_approval"}, timeouts.training)
        timing.note = _training_note(s.run)

    with s.clock.phase("evaluation", s.progress) as timing:
        run = s.wait_for_status("evaluation", run_id, {"awaiting_approval"}, timeouts.evaluation)
        timing.note = _evaluation_note(run)

    with s.clock.phase("approval", s.progress) as timing:
        approval = s.poll(
            "approval", timeouts.approval, lambda: _pending_approval(s.approver, run_id), "approval request"
        )
        decided = s.approver.approve(run_id, "approved by make demo")
        run = s.wait_for_status("approval", run_id, {"approved"}, timeouts.approval)
        timing.note = f"by {decided.get('decided_by')}"

    with s.clock.phase("registry", s.progress) as timing:
        version = s.poll(
            "registry",
            timeouts.registry,
            lambda: _released_version(s.operator, config.model_name, run_id),
            "model package Approved + deployment_status=go_prod",
        )
        timing.note = f"{config.model_name} v{version['version']} {version['approval_status']}"

    with s.clock.phase("serving", s.progress) as timing:
        deployment = s.poll(
            "serving",
            timeouts.serving,
            lambda: _served(s.operator, config.model_name, run_id),
            "the release's deployment in service",
        )
        answer = _ask(s.operator, run_id, int(deployment["id"]))
        timing.note = f"{deployment['endpoint_url']} answered in {answer['latency_ms']:.0f} ms"
    s.fetch_run(run_id)
    assert s.run is not None
    return DemoResult(
        s.run,
        datasets,
        model_id,
        {**approval, **decided},
        version,
        s.clock,
        deployment=deployment,
        answer=answer,
    )


def _served(api: ApiClient, model_name: str, run_id: int) -> dict[str, Any] | None:
    """The deployment the release's Deploy stage made of the run, once in service (SERVING_BACKEND=local:
    a serving process of the approved model on a free port)."""
    items = api.request("GET", f"/models/{model_name}/deployments").json()["items"]
    mine = [d for d in items if d.get("run_id") == run_id]
    if not mine:
        return None
    deployment: dict[str, Any] = mine[0]
    if deployment["status"] in ("failed", "rolled_back"):
        raise DemoFailed(
            "serving", f"deployment {deployment['id']} is {deployment['status']}: {deployment['reason']}"
        )
    return deployment if deployment["status"] == "in_service" else None


def _ask(api: ApiClient, run_id: int, deployment_id: int) -> dict[str, Any]:
    """One of the run's evaluation questions, asked through the API's "try it"."""
    items = api.samples(run_id, limit=1).get("items") or [{}]
    question = str(items[0].get("question") or "What does the platform store runs in?")
    contexts = [str(c) for c in items[0].get("contexts") or []][:4]
    body = {"question": question, "contexts": contexts, "max_new_tokens": 32}
    answered: dict[str, Any] = api.request("POST", f"/deployments/{deployment_id}/invoke", json=body).json()
    return {"question": question, **answered}


def _pending_approval(api: ApiClient, run_id: int) -> dict[str, Any] | None:
    approval = api.approval(run_id)
    if approval is None:  # the approval worker has not registered it yet
        return None
    if approval["status"] not in ("pending", "approved"):
        raise DemoFailed("approval", f"the approval request is '{approval['status']}'")
    return approval


def _released_version(api: ApiClient, model_name: str, run_id: int) -> dict[str, Any] | None:
    versions = api.model_versions(model_name)["items"]
    mine = [v for v in versions if v.get("run_id") == run_id]
    if not mine:
        return None
    version: dict[str, Any] = mine[-1]
    metadata = version.get("metadata") or {}
    if version["approval_status"] == "Approved" and metadata.get("deployment_status") == "go_prod":
        return version
    if version["approval_status"] == "Rejected":
        raise DemoFailed("registry", f"model package v{version['version']} is Rejected (metadata {metadata})")
    return None


def _snapshot(phase: str, run: dict[str, Any], phase_elapsed: float, total: float) -> Snapshot:
    # Status changes are the status itself; the last other step (a workflow fact) says more.
    facts = [e for e in run.get("timeline", []) if e["event_type"] != "run.status_changed"]
    return Snapshot(
        phase=phase,
        run_id=int(run["id"]),
        status=run["status"],
        phase_elapsed=phase_elapsed,
        total_elapsed=total,
        last_event=facts[-1]["event_type"] if facts else None,
        detail=(_training_note(run) if phase == "training" else _evaluation_note(run)) or None,
    )


def training_metrics(run: dict[str, Any]) -> dict[str, Any]:
    """The final training metrics: the training result the dispatcher recorded on the run (with
    its loss history), else the run.training_done step of the timeline."""
    recorded = next((r for r in run.get("results", []) if r["stage"] == "training"), None)
    if recorded and recorded.get("metrics"):
        return dict(recorded["metrics"])
    for event in run.get("timeline", []):
        if event["event_type"] == "run.training_done":
            metrics: dict[str, Any] = (event.get("data") or {}).get("metrics") or {}
            return metrics
    return {}


def evaluation_result(run: dict[str, Any]) -> dict[str, Any] | None:
    return next((r for r in run.get("results", []) if r["stage"] == "evaluation"), None)


def _training_note(run: dict[str, Any] | None) -> str:
    metrics = training_metrics(run or {})
    if not isinstance(metrics.get("train_loss"), int | float):
        return ""
    first = metrics.get("epoch_1_loss")
    loss = (
        f"{first:.3f} -> {metrics['train_loss']:.3f}"
        if isinstance(first, int | float)
        else f"{metrics['train_loss']:.3f}"
    )
    return f"loss {loss}, {int(metrics.get('train_steps') or 0)} steps"


def _evaluation_note(run: dict[str, Any]) -> str:
    result = evaluation_result(run)
    if not result or result.get("ml_score") is None:
        return ""
    return f"MLScore {result['ml_score']:.3f} (threshold {run['ml_score_threshold']:g})"


def _why_it_stopped(run: dict[str, Any]) -> str:
    reason = run.get("status_reason") or "no reason recorded"
    text = f"run #{run['id']} ended '{run['status']}': {reason}"
    result = evaluation_result(run)
    if run["status"] == "rejected" and result and result.get("ml_score") is not None:
        text += (
            f" (MLScore {result['ml_score']:.3f} < threshold {run['ml_score_threshold']:g}; the offline"
            " judge scores low by design, see --threshold)"
        )
    return text
