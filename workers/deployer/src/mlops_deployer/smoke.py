"""The smoke test of a new deployment: a few of the run's evaluation questions, each answered
(non-empty) within the latency bound, before the deployment is reported in service."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

# Asked when the run has no evaluation samples to borrow (a package registered by hand).
FALLBACK_QUESTION = {"question": "What does this model answer?", "contexts": []}


class SmokeTestFailed(RuntimeError):
    pass


@dataclass(frozen=True)
class SmokeResult:
    questions: int
    slowest_seconds: float


def questions_of(samples: Sequence[dict[str, Any]], count: int) -> list[dict[str, Any]]:
    picked = [
        {"question": str(s["question"]), "contexts": [str(c) for c in s.get("contexts") or []][:8]}
        for s in samples
        if s.get("question")
    ][:count]
    return picked or [FALLBACK_QUESTION]


def smoke_test(
    ask: Callable[[dict[str, Any]], str],
    questions: Sequence[dict[str, Any]],
    *,
    latency_bound_seconds: float,
    max_new_tokens: int,
) -> SmokeResult:
    """Raises SmokeTestFailed naming the first question that failed, was slow or got no answer."""
    slowest = 0.0
    for index, question in enumerate(questions, start=1):
        started = time.perf_counter()
        try:
            answer = ask({**question, "max_new_tokens": max_new_tokens})
        except Exception as exc:
            raise SmokeTestFailed(
                f"smoke question {index} failed: {type(exc).__name__}: {exc}"[:1000]
            ) from exc
        seconds = time.perf_counter() - started
        slowest = max(slowest, seconds)
        if not answer.strip():
            raise SmokeTestFailed(f"smoke question {index} got an empty answer")
        if seconds > latency_bound_seconds:
            raise SmokeTestFailed(
                f"smoke question {index} took {seconds:.1f} s, over the bound of {latency_bound_seconds:g} s"
            )
    return SmokeResult(questions=len(questions), slowest_seconds=slowest)
