"""The demo's closing report: the run's timeline, the MLScore breakdown against the threshold, the
registry's verdict and the time each phase took."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from rich.console import Console
from rich.table import Table

from mlops_devstack.demo.flow import (
    DemoFailed,
    DemoResult,
    PhaseClock,
    PhaseTiming,
    evaluation_result,
    training_metrics,
)

METRICS = ("faithfulness", "answer_relevancy", "context_precision", "context_recall")


def print_report(console: Console, result: DemoResult) -> None:
    run = result.run
    console.print()
    console.print(
        f"[bold]Run #{run['id']}[/bold] {run['model_name']} ({run['task_type']}, base model {result.model_id}): "
        f"[bold green]{run['status']}[/bold green]"
    )
    print_timeline(console, run)
    print_training(console, run)
    print_mlscore(console, run)
    print_registry(console, result)
    print_serving(console, result)
    print_timings(console, result.clock.phases, result.clock.total())


def print_failure(console: Console, failure: DemoFailed, clock: PhaseClock) -> None:
    """What was seen before the failure, then the message naming the phase."""
    if failure.run is not None:
        console.print(f"\nRun #{failure.run['id']} is '{failure.run['status']}'")
        print_timeline(console, failure.run)
    print_timings(console, clock.phases, clock.total())
    console.print(f"\n[bold red]make demo failed[/bold red] in phase {failure}", soft_wrap=True)


def print_timeline(console: Console, run: dict[str, Any]) -> None:
    table = Table(title="Timeline", title_justify="left", expand=False)
    for column in ("+s", "event", "status", "source", "reason"):
        table.add_column(column, justify="right" if column == "+s" else "left")
    events = run.get("timeline") or []
    start = _time(events[0]["occurred_at"]) if events else None
    for event in events:
        # Workflow facts carry EventBridge's whole-second times: never show them before the start.
        offset = max((_time(event["occurred_at"]) - start).total_seconds(), 0.0) if start else 0.0
        moved = (
            f"{event['previous_status'] or '-'} -> {event['status']}"
            if event.get("status") and event.get("status") != event.get("previous_status")
            else (event.get("status") or "")
        )
        table.add_row(
            f"{offset:.1f}",
            event["event_type"],
            moved,
            event.get("source") or "",
            (event.get("reason") or "")[:60],
        )
    console.print(table)


def print_training(console: Console, run: dict[str, Any]) -> None:
    metrics = training_metrics(run)
    if not metrics:
        return
    losses = [
        metrics[k]
        for k in sorted(metrics, key=_epoch_number)
        if k.startswith("epoch_") and k.endswith("_loss")
    ]
    history = metrics.get("history") if isinstance(metrics.get("history"), list) else []
    console.print(
        f"Training: {int(metrics.get('train_steps') or 0)} steps in {metrics.get('train_runtime_seconds', 0):.1f}s, "
        f"loss by epoch {' -> '.join(f'{v:.3f}' for v in losses) or metrics.get('train_loss')}"
        + (f", loss history of {len(history)} points recorded on the run" if history else "")
    )


def print_mlscore(console: Console, run: dict[str, Any]) -> None:
    result = evaluation_result(run)
    if not result:
        console.print("MLScore: no evaluation result recorded")
        return
    metrics = result.get("metrics") or {}
    scores = metrics.get("scores") or {}
    weights = metrics.get("weights") or {}
    threshold = float(metrics.get("threshold", run["ml_score_threshold"]))
    table = Table(title="MLScore breakdown", title_justify="left")
    for column in ("metric", "score", "weight", "contribution"):
        table.add_column(column, justify="left" if column == "metric" else "right")
    for name in METRICS:
        score, weight = scores.get(name), weights.get(name)
        contribution = (
            score * weight if isinstance(score, int | float) and isinstance(weight, int | float) else None
        )
        table.add_row(name, _num(score), _num(weight, 2), _num(contribution))
    ml_score = result.get("ml_score")
    verdict = "PASS" if result.get("passed") else "BELOW"
    table.add_section()
    table.add_row(
        "[bold]MLScore[/bold]", f"[bold]{_num(ml_score)}[/bold]", "", f"threshold {threshold:g}: {verdict}"
    )
    console.print(table)
    judge = metrics.get("judge") or {}
    console.print(
        f"  judge {judge.get('kind', '?')}, {metrics.get('scored_samples', '?')}/{metrics.get('samples', '?')} "
        f"samples scored (coverage {_num(metrics.get('coverage'), 2)}, minimum {metrics.get('min_coverage', '?')})"
    )


def print_registry(console: Console, result: DemoResult) -> None:
    version = result.version
    metadata = version.get("metadata") or {}
    table = Table(title="Model registry (SageMaker)", title_justify="left")
    table.add_column("field")
    table.add_column("value")
    table.add_row("package group", result.run["model_name"])
    table.add_row("version", str(version.get("version")))
    table.add_row("approval status", f"[bold]{version.get('approval_status')}[/bold]")
    for key in ("deployment_status", "validation"):
        table.add_row(f"metadata {key}", metadata.get(key, "(missing)"))
    others = {k: v for k, v in metadata.items() if k not in ("deployment_status", "validation")}
    if others:
        table.add_row("other metadata", ", ".join(f"{k}={v}" for k, v in sorted(others.items())))
    approval = result.approval
    table.add_row("approved by", f"{approval.get('decided_by')} at {approval.get('decided_at')}")
    table.add_row("package ARN", str(version.get("arn")))
    console.print(table)


def print_serving(console: Console, result: DemoResult) -> None:
    """The approved model served: its endpoint, one sample question, the answer and the latency."""
    deployment, answer = result.deployment, result.answer
    if deployment is None or answer is None:
        return
    table = Table(title="Served (the release's Deploy stage)", title_justify="left")
    table.add_column("field")
    table.add_column("value")
    table.add_row("endpoint", f"{deployment['endpoint_name']} at {deployment['endpoint_url']}")
    table.add_row("deployment", f"#{deployment['id']} v{deployment['version']} {deployment['status']}")
    table.add_row("question", str(answer["question"]))
    table.add_row("answer", str(answer["answer"]))
    table.add_row("latency", f"{answer['latency_ms']:.0f} ms")
    console.print(table)


def print_timings(console: Console, phases: list[PhaseTiming], total: float) -> None:
    table = Table(title="Phase timings", title_justify="left")
    table.add_column("phase")
    table.add_column("seconds", justify="right")
    table.add_column("note")
    for phase in phases:
        table.add_row(phase.name, f"{phase.seconds:.1f}", phase.note)
    table.add_section()
    table.add_row("[bold]total[/bold]", f"[bold]{total:.1f}[/bold]", "")
    console.print(table)


def _time(value: str) -> datetime:
    return datetime.fromisoformat(value)


def _epoch_number(key: str) -> int:
    middle = key.removeprefix("epoch_").removesuffix("_loss")
    return int(middle) if middle.isdigit() else 0


def _num(value: Any, digits: int = 3) -> str:
    return f"{value:.{digits}f}" if isinstance(value, int | float) else "-"
