"""MLScore and the release gate. Fails closed (docs/decisions/0007-fail-closed.md): an evaluation
that scored too few samples, or whose scores are not finite numbers, is an error, never a pass.

- A sample is *scored* when every MLScore metric of it is a finite number; NaN, a missing value, an
  error or a timeout leave it *unscored*.
- Coverage = scored samples / samples. Below the minimum coverage the evaluation is an error.
- Each metric's score is its mean over the scored samples (values clamped to [0, 1]).
- MLScore = sum of weight x score, rounded to 6 decimals; the gate passes iff MLScore >= threshold
  (so exactly the threshold passes).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from mlops_evaluation.settings import METRIC_NAMES

MLSCORE_DECIMALS = 6


class EvaluationError(Exception):
    """An evaluation that cannot yield a verdict. `code` becomes the Step Functions error name."""

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


def validate_weights(weights: Mapping[str, float]) -> dict[str, float]:
    """Weights name exactly the four MLScore metrics, are non-negative and sum to 1."""
    names = set(weights)
    if names != set(METRIC_NAMES):
        missing = sorted(set(METRIC_NAMES) - names)
        unknown = sorted(names - set(METRIC_NAMES))
        raise ValueError(
            f"MLScore weights must name {list(METRIC_NAMES)}; missing {missing}, unknown {unknown}"
        )
    for name, value in weights.items():
        if not math.isfinite(value) or value < 0:
            raise ValueError(f"MLScore weight of {name} must be a finite number >= 0, got {value}")
    total = math.fsum(weights.values())
    if abs(total - 1.0) > 1e-6:
        raise ValueError(f"MLScore weights must sum to 1, they sum to {total}")
    return {name: float(weights[name]) for name in METRIC_NAMES}


def finite_or_none(value: Any) -> float | None:
    """A metric value as a float in [0, 1], or None when it is missing or not a finite number."""
    if not isinstance(value, numbers.Real) or isinstance(value, bool):
        return None
    number = float(value)
    if not math.isfinite(number):
        return None
    return min(1.0, max(0.0, number))


def is_scored(scores: Mapping[str, Any]) -> bool:
    return all(finite_or_none(scores.get(name)) is not None for name in METRIC_NAMES)


def ml_score(scores: Mapping[str, float], weights: Mapping[str, float]) -> float:
    """The weighted sum; raises EvaluationError when a score is not a finite number."""
    values = []
    for name in METRIC_NAMES:
        value = finite_or_none(scores.get(name))
        if value is None:
            raise EvaluationError("Evaluation.Unscored", f"metric {name} has no finite score")
        values.append(weights[name] * value)
    return round(math.fsum(values), MLSCORE_DECIMALS)


@dataclass(frozen=True)
class Verdict:
    passed: bool
    ml_score: float
    scores: dict[str, float]
    coverage: float
    scored: int
    total: int
    threshold: float

    def token_output(self) -> dict[str, Any]:
        """What the workflow receives through SendTaskSuccess."""
        return {
            "passed": self.passed,
            "ml_score": self.ml_score,
            "scores": self.scores,
            "coverage": self.coverage,
        }


def decide(
    sample_scores: Sequence[Mapping[str, Any]],
    *,
    weights: Mapping[str, float],
    threshold: float,
    min_coverage: float,
) -> Verdict:
    """The gate over per-sample scores. Raises EvaluationError when it cannot give a verdict."""
    weights = validate_weights(weights)
    if not math.isfinite(threshold) or not 0 <= threshold <= 1:
        raise EvaluationError("Evaluation.InvalidThreshold", f"threshold must be in [0, 1], got {threshold}")
    total = len(sample_scores)
    if total == 0:
        raise EvaluationError("Evaluation.EmptyDataset", "the evaluation dataset has no samples")
    scored_rows = [row for row in sample_scores if is_scored(row)]
    coverage = round(len(scored_rows) / total, MLSCORE_DECIMALS)
    if not scored_rows or coverage < min_coverage:
        raise EvaluationError(
            "Evaluation.CoverageTooLow",
            f"only {len(scored_rows)} of {total} samples were scored (coverage {coverage:.1%}, "
            f"minimum {min_coverage:.0%})",
        )
    means: dict[str, float] = {}
    for name in METRIC_NAMES:
        values = [finite_or_none(row[name]) for row in scored_rows]
        mean = math.fsum(v for v in values if v is not None) / len(scored_rows)
        means[name] = round(mean, MLSCORE_DECIMALS)
    score = ml_score(means, weights)
    if not math.isfinite(score):
        raise EvaluationError("Evaluation.Unscored", f"MLScore is not a finite number ({score})")
    return Verdict(
        passed=score >= threshold,
        ml_score=score,
        scores=means,
        coverage=coverage,
        scored=len(scored_rows),
        total=total,
        threshold=threshold,
    )
