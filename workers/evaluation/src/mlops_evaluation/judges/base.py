"""The judge port (docs/decisions/0004-ports-and-adapters.md): `JUDGE=bedrock` (RAGAS with an LLM
judge on Amazon Bedrock) or `JUDGE=local` (an offline embedding judge). Both give the engine RAGAS
single-turn metrics named after the four MLScore metrics, and account for their usage."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ragas.metrics.base import SingleTurnMetric


@dataclass
class Usage:
    """What the judge consumed during one evaluation (thread-safe counters)."""

    requests: int = 0
    throttled: int = 0
    retries: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    embedding_requests: int = 0
    embedding_tokens: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(self, **counts: int) -> None:
        with self._lock:
            for name, value in counts.items():
                setattr(self, name, getattr(self, name) + value)

    def as_dict(self) -> dict[str, int]:
        with self._lock:
            return {
                "requests": self.requests,
                "throttled": self.throttled,
                "retries": self.retries,
                "input_tokens": self.input_tokens,
                "output_tokens": self.output_tokens,
                "embedding_requests": self.embedding_requests,
                "embedding_tokens": self.embedding_tokens,
            }


@dataclass(frozen=True)
class Prices:
    """USD per 1,000 tokens."""

    input_per_1k: float = 0.0
    output_per_1k: float = 0.0
    embedding_per_1k: float = 0.0

    def cost(self, usage: Usage) -> float:
        counts = usage.as_dict()
        return round(
            counts["input_tokens"] / 1000 * self.input_per_1k
            + counts["output_tokens"] / 1000 * self.output_per_1k
            + counts["embedding_tokens"] / 1000 * self.embedding_per_1k,
            6,
        )


@dataclass
class Judge:
    kind: str
    metrics: list[SingleTurnMetric]
    """The four MLScore metrics, named faithfulness, answer_relevancy, context_precision, context_recall."""
    extra_metrics: list[SingleTurnMetric] = field(default_factory=list)
    """Reported beside the four, outside MLScore and coverage."""
    usage: Usage = field(default_factory=Usage)
    prices: Prices = field(default_factory=Prices)
    description: dict[str, Any] = field(default_factory=dict)
    max_threads: int = 8
    """Threads the engine gives the event loop's default executor (blocking judge calls run there)."""
    rate_per_second: float | None = None
    """The judge's sustainable calls per second under its quota (None: not quota-bound)."""
    calls_per_sample: Callable[[int], float] | None = None
    """Judge calls one sample costs, given its number of contexts."""

    def cost_usd(self) -> float:
        return self.prices.cost(self.usage)

    def describe(self) -> dict[str, Any]:
        return {"kind": self.kind, **self.description}
