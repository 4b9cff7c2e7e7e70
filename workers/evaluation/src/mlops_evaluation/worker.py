"""One evaluation, end to end - the single code path both entrypoints (Lambda, long-running) call:

read the dataset -> load the candidate -> generate answers -> score with the judge -> gate (MLScore,
coverage) -> per-sample rows to S3, summary to the API, EMF metrics -> answer the task token.

Every failure ends in an answer: SendTaskFailure with the reason (error name `Evaluation.*`), so the
workflow never waits for its timeout on a known failure, and never sees a pass it should not.
"""

from __future__ import annotations

import gc
import logging
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Literal

from mlops_contracts.task_tokens import HeartbeatThread, TaskToken, TokenDead
from mlops_evaluation import reporting
from mlops_evaluation.candidate import fetch_candidate
from mlops_evaluation.dataset import load_eval_dataset
from mlops_evaluation.engine import Sample, SampleResult, fit_concurrency, score_samples
from mlops_evaluation.judges import Judge, build_judge
from mlops_evaluation.judges.availability import require_judge_models
from mlops_evaluation.messages import EvaluationTask
from mlops_evaluation.mlscore import EvaluationError, Verdict, decide
from mlops_evaluation.settings import EvaluationSettings
from mlops_evaluation.vllm_engine import load_candidate

log = logging.getLogger(__name__)


@dataclass
class Outcome:
    """What one evaluation produced: a verdict, or the error that prevented one."""

    task: EvaluationTask
    threshold: float
    verdict: Verdict | None = None
    error: EvaluationError | None = None
    results: list[SampleResult] = field(default_factory=list)
    judge: Judge | None = None
    timings: dict[str, float] = field(default_factory=dict)
    samples_uri: str | None = None
    # where the answers were generated: the entrypoint ("job": python -m mlops_evaluation job, on
    # SageMaker or as the local backend's subprocess; "in-process": the queue's consumer), engine, device
    inference: dict[str, Any] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return self.verdict is not None and self.verdict.passed

    def summary(self, settings: EvaluationSettings) -> dict[str, Any]:
        """The run's evaluation summary (the API's `metrics`), JSON-safe."""
        scored = sum(r.scored for r in self.results)
        extra_names = sorted({name for r in self.results for name in r.extra})
        extra_scores: dict[str, float | None] = {}
        for name in extra_names:
            values = [r.extra[name] for r in self.results if r.extra.get(name) is not None]
            extra_scores[name] = (
                round(sum(v for v in values if v is not None) / len(values), 6) if values else None
            )
        errors = Counter(e for r in self.results for e in r.errors)
        judge = self.judge
        return {
            "scores": self.verdict.scores if self.verdict else None,
            "extra_scores": extra_scores,
            "ml_score": self.verdict.ml_score if self.verdict else None,
            "passed": self.passed,
            "coverage": round(scored / len(self.results), 6) if self.results else None,
            "samples": len(self.results),
            "scored_samples": scored,
            "unscored_samples": len(self.results) - scored,
            "timed_out_samples": sum(r.timed_out for r in self.results),
            "threshold": self.threshold,
            "min_coverage": settings.min_coverage,
            "weights": settings.mlscore_weights,
            "judge": judge.describe() if judge else {"kind": settings.judge},
            "usage": judge.usage.as_dict() if judge else None,
            "cost_usd": judge.cost_usd() if judge else 0.0,
            "duration_seconds": {k: round(v, 3) for k, v in self.timings.items()},
            "inference": self.inference,
            "samples_uri": self.samples_uri,
            "top_errors": [[text, count] for text, count in errors.most_common(5)],
            "error": {"code": self.error.code, "reason": self.error.reason} if self.error else None,
            "task_type": str(self.task.task_type),
            "artifact_uri": self.task.artifact_uri,
            "execution_arn": self.task.execution_arn,
        }


def evaluate(
    task: EvaluationTask,
    settings: EvaluationSettings,
    *,
    judge: Judge | None = None,
    cancel: threading.Event | None = None,
    entrypoint: str = "in-process",
) -> Outcome:
    """Generate and score; never raises for an evaluation failure (it is in `Outcome.error`)."""
    threshold = task.ml_score_threshold if task.ml_score_threshold is not None else settings.default_threshold
    outcome = Outcome(task=task, threshold=threshold, inference={"entrypoint": entrypoint})
    started = time.monotonic()
    try:
        if judge is None and settings.judge == "bedrock":
            require_judge_models(settings)  # before minutes of inference, not after
        rows = load_eval_dataset(task.eval_dataset_uri)
        log.info("evaluating %d samples", len(rows))
        work_dir = settings.work_dir / f"run-{task.run_id}"
        files = fetch_candidate(task.model_id, task.artifact_uri, work_dir)
        # The collection after generation frees the model's reference cycles. Walking every object of
        # the process with it held the GIL for seconds (over a million objects in a test process),
        # long enough to starve the heartbeat thread past the task's HeartbeatSeconds: what exists now
        # is set aside until then, so the collection walks only what the candidate allocated.
        gc.freeze()
        try:
            candidate = load_candidate(files, device=settings.device, engine=settings.inference_engine)
            outcome.inference.update(candidate.describe())
            prompts = candidate.prompt_ids([r.question for r in rows], [r.contexts for r in rows])
            answers = candidate.generate(
                prompts,
                batch_size=settings.generation_batch_size,
                max_new_tokens=settings.max_new_tokens,
                max_input_tokens=settings.max_input_tokens,
                cancel=cancel,
                on_batch=lambda done, total: log.info("generated %d/%d answers", done, total),
            )
            del candidate
            gc.collect()
        finally:
            gc.unfreeze()
        outcome.timings["generation"] = time.monotonic() - started

        scoring_started = time.monotonic()
        judge = judge or build_judge(settings)
        outcome.judge = judge
        samples = [
            Sample(question=r.question, contexts=list(r.contexts), ground_truth=r.ground_truth, answer=a)
            for r, a in zip(rows, answers, strict=True)
        ]
        concurrency = fit_concurrency(
            settings.sample_concurrency, settings.sample_timeout_seconds, judge, samples
        )
        outcome.results = score_samples(
            samples,
            judge,
            concurrency=concurrency,
            timeout=settings.sample_timeout_seconds,
            cancel=cancel,
            parallel_metrics=settings.metrics_in_parallel,
        )
        outcome.timings["scoring"] = time.monotonic() - scoring_started
        if cancel is not None and cancel.is_set():
            raise EvaluationError("Evaluation.Cancelled", "the task token was closed during scoring")
        outcome.verdict = decide(
            [r.scores for r in outcome.results],  # a timed-out sample's scores are all None
            weights=settings.mlscore_weights,
            threshold=threshold,
            min_coverage=settings.min_coverage,
        )
    except EvaluationError as exc:
        outcome.error = exc
    except Exception as exc:
        log.exception("evaluation failed")
        outcome.error = EvaluationError("Evaluation.Error", f"{type(exc).__name__}: {exc}")
    if outcome.error is not None and outcome.results:
        common = Counter(e for r in outcome.results for e in r.errors).most_common(3)
        if common:
            detail = "; ".join(f"{text} (x{count})" for text, count in common)
            outcome.error = EvaluationError(
                outcome.error.code, f"{outcome.error.reason}; most common errors: {detail}"
            )
    outcome.timings["total"] = time.monotonic() - started
    if outcome.verdict is not None:
        log.info(
            "MLScore %.4f (threshold %.2f, coverage %.1f%%): %s",
            outcome.verdict.ml_score,
            threshold,
            outcome.verdict.coverage * 100,
            "pass" if outcome.passed else "below threshold",
        )
    else:
        log.warning("evaluation error %s: %s", outcome.error.code if outcome.error else "?", outcome.error)
    return outcome


def publish(outcome: Outcome, settings: EvaluationSettings) -> None:
    """Rows to S3, summary to the API, metrics as EMF. Raises ResultsNotRecorded on failure."""
    task = outcome.task
    if outcome.results:
        if not settings.model_outputs_bucket:
            raise reporting.ResultsNotRecorded("MODEL_OUTPUTS_BUCKET is not set")
        key = reporting.samples_key(task.model_name, task.run_id, task.execution_arn)
        try:
            outcome.samples_uri = reporting.write_samples(settings.model_outputs_bucket, key, outcome.results)
        except Exception as exc:
            raise reporting.ResultsNotRecorded(f"cannot write the per-sample rows: {exc}") from exc
    summary = outcome.summary(settings)
    reporting.put_results(
        settings,
        task.run_id,
        {"metrics": summary, "ml_score": summary["ml_score"], "passed": outcome.passed},
    )
    usage = summary["usage"] or {}
    reporting.emit_metrics(
        settings,
        model_name=task.model_name,
        judge=settings.judge,
        run_id=task.run_id,
        execution_arn=task.execution_arn,
        ml_score=summary["ml_score"],
        coverage=summary["coverage"],
        unscored=summary["unscored_samples"],
        passed=outcome.passed if outcome.verdict is not None else None,
        cost_usd=summary["cost_usd"],
        tokens=int(usage.get("input_tokens", 0)) + int(usage.get("output_tokens", 0)),
        duration_seconds=outcome.timings.get("total", 0.0),
    )


TaskResult = Literal["passed", "below_threshold", "failed", "token_closed", "dispatched"]


def process_task(
    task: EvaluationTask,
    settings: EvaluationSettings,
    *,
    judge: Judge | None = None,
    entrypoint: str = "in-process",
) -> TaskResult:
    """Evaluate and answer the task token. Raises only when the answer itself could not be sent
    (the message is then redelivered)."""
    token = TaskToken(task.task_token)
    try:
        token.heartbeat()
    except TokenDead as exc:
        log.warning("skipping run %d: %s", task.run_id, exc)
        return "token_closed"
    with HeartbeatThread(token.heartbeat, settings.heartbeat_seconds) as beat:
        outcome = evaluate(task, settings, judge=judge, cancel=beat.dead, entrypoint=entrypoint)
        if beat.dead.is_set():
            log.warning("run %d: the workflow stopped waiting; results not published", task.run_id)
            return "token_closed"
        try:
            publish(outcome, settings)
        except Exception as exc:
            log.exception("results not recorded")
            outcome.verdict = None  # a verdict nobody can see is not a pass (fail closed)
            if outcome.error is None:
                outcome.error = EvaluationError(
                    "Evaluation.ResultsNotRecorded", f"results not recorded: {exc}"
                )
            else:
                outcome.error = EvaluationError(
                    outcome.error.code, f"{outcome.error.reason}; results not recorded: {exc}"
                )
    try:
        if outcome.verdict is not None:
            token.succeed(outcome.verdict.token_output())
            return "passed" if outcome.passed else "below_threshold"
        error = outcome.error or EvaluationError("Evaluation.Error", "no verdict")
        token.fail(error.code, error.reason)
        return "failed"
    except TokenDead as exc:  # a redelivery of an answered task, or one that timed out meanwhile
        log.warning("run %d: %s; the answer was not delivered", task.run_id, exc)
        return "token_closed"
