"""Scoring engine: runs the judge's RAGAS metrics over the samples with bounded concurrency and a
per-sample timeout, and records for each sample every metric (None where it is not a finite number)
and what went wrong.

A timed-out sample is unscored as a whole (its finished metrics are dropped), whatever part of it
had finished: the gate counts it against coverage (fail closed).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from ragas.dataset_schema import SingleTurnSample
from ragas.metrics.base import SingleTurnMetric
from ragas.run_config import RunConfig

from mlops_evaluation.judges.base import Judge
from mlops_evaluation.mlscore import finite_or_none, is_scored

log = logging.getLogger(__name__)

MAX_ERROR_CHARS = 500


@dataclass(frozen=True)
class Sample:
    question: str
    contexts: list[str]
    ground_truth: str
    answer: str

    def ragas(self) -> SingleTurnSample:
        return SingleTurnSample(
            user_input=self.question,
            retrieved_contexts=list(self.contexts),
            response=self.answer,
            reference=self.ground_truth,
        )


@dataclass
class SampleResult:
    index: int
    sample: Sample
    scores: dict[str, float | None]
    extra: dict[str, float | None] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    timed_out: bool = False
    seconds: float = 0.0

    @property
    def scored(self) -> bool:
        return not self.timed_out and is_scored(self.scores)

    @property
    def error(self) -> str | None:
        return "; ".join(self.errors) or None

    def row(self) -> dict[str, Any]:
        """The JSONL row of this sample (JSON-safe: unscored metrics are null)."""
        return {
            "index": self.index,
            "question": self.sample.question,
            "contexts": self.sample.contexts,
            "ground_truth": self.sample.ground_truth,
            "answer": self.sample.answer,
            **self.scores,
            **self.extra,
            "scored": self.scored,
            "error": self.error,
            "seconds": round(self.seconds, 3),
        }


def _describe(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    return text[:MAX_ERROR_CHARS]


async def _score_one(
    index: int,
    sample: Sample,
    judge: Judge,
    sample_timeout: float,
    cancel: threading.Event | None,
    parallel_metrics: bool,
) -> SampleResult:
    result = SampleResult(
        index=index,
        sample=sample,
        scores={m.name: None for m in judge.metrics},
        extra={m.name: None for m in judge.extra_metrics},
    )
    if cancel is not None and cancel.is_set():
        result.errors.append("cancelled")
        return result
    ragas_sample = sample.ragas()
    started = time.monotonic()

    async def one(metric: SingleTurnMetric, into: dict[str, float | None]) -> None:
        try:
            value = await metric.single_turn_ascore(ragas_sample)
        except Exception as exc:
            result.errors.append(f"{metric.name}: {_describe(exc)}")
            return
        into[metric.name] = finite_or_none(value)
        if into[metric.name] is None:
            result.errors.append(f"{metric.name}: not a finite number ({value!r})")

    async def run(metrics: Sequence[SingleTurnMetric], into: dict[str, float | None]) -> None:
        if parallel_metrics:
            await asyncio.gather(*(one(metric, into) for metric in metrics))
        else:
            for metric in metrics:
                await one(metric, into)

    try:
        await asyncio.wait_for(run(judge.metrics, result.scores), timeout=sample_timeout)
        await asyncio.wait_for(run(judge.extra_metrics, result.extra), timeout=sample_timeout)
    except TimeoutError:
        result.timed_out = True
        result.scores = dict.fromkeys(result.scores)
        result.errors.append(f"timed out after {sample_timeout:g}s")
    result.seconds = time.monotonic() - started
    return result


async def _score_all(
    samples: Sequence[Sample],
    judge: Judge,
    concurrency: int,
    sample_timeout: float,
    cancel: threading.Event | None,
    parallel_metrics: bool,
) -> list[SampleResult]:
    run_config = RunConfig(timeout=int(max(1, sample_timeout)), max_retries=1, max_workers=concurrency)
    for metric in [*judge.metrics, *judge.extra_metrics]:
        metric.init(run_config)
    semaphore = asyncio.Semaphore(concurrency)
    done = 0
    step = max(1, len(samples) // 10)

    async def bounded(index: int, sample: Sample) -> SampleResult:
        nonlocal done
        async with semaphore:
            result = await _score_one(index, sample, judge, sample_timeout, cancel, parallel_metrics)
        done += 1
        if done % step == 0 or done == len(samples):
            log.info("scored %d/%d samples", done, len(samples))
        return result

    return list(await asyncio.gather(*(bounded(i, s) for i, s in enumerate(samples))))


def fit_concurrency(requested: int, timeout: float, judge: Judge, samples: Sequence[Sample]) -> int:
    """Samples in flight: at most `requested`, and few enough that the quota lets each sample finish
    in a quarter of its timeout (a sample waiting its turn under the quota must not time out)."""
    if not samples or judge.rate_per_second is None or judge.calls_per_sample is None:
        return max(1, requested)
    calls = sum(judge.calls_per_sample(len(s.contexts)) for s in samples) / len(samples)
    affordable = int(timeout * judge.rate_per_second / (4 * max(calls, 1.0)))
    return max(1, min(requested, affordable))


def score_samples(
    samples: Sequence[Sample],
    judge: Judge,
    *,
    concurrency: int,
    timeout: float,
    cancel: threading.Event | None = None,
    parallel_metrics: bool = True,
) -> list[SampleResult]:
    """Score every sample on a private event loop (blocking judge calls run in its own thread pool,
    sized for the judge's concurrency; a hung call left behind by a timeout does not block return).
    With `parallel_metrics` a sample's metrics run concurrently (a sample's latency is its slowest
    metric's, not their sum); without, one after the other, in a fixed order of judge calls."""
    loop = asyncio.new_event_loop()
    executor = ThreadPoolExecutor(max_workers=max(4, judge.max_threads), thread_name_prefix="judge")
    loop.set_default_executor(executor)
    try:
        return loop.run_until_complete(
            _score_all(samples, judge, concurrency, timeout, cancel, parallel_metrics)
        )
    finally:
        pending = asyncio.all_tasks(loop)
        for task in pending:
            task.cancel()
        if pending:
            loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        loop.run_until_complete(loop.shutdown_asyncgens())
        executor.shutdown(wait=False, cancel_futures=True)
        loop.close()
