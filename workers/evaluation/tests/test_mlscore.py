"""MLScore math, the threshold boundary, coverage and NaN: the gate fails closed."""

from __future__ import annotations

import math

import pytest

from mlops_evaluation.mlscore import EvaluationError, decide, ml_score, validate_weights
from mlops_evaluation.settings import DEFAULT_WEIGHTS, EvaluationSettings

W = DEFAULT_WEIGHTS


def row(f: float | None, ar: float | None, cp: float | None, cr: float | None) -> dict[str, float | None]:
    return {"faithfulness": f, "answer_relevancy": ar, "context_precision": cp, "context_recall": cr}


def test_mlscore_is_the_weighted_sum() -> None:
    scores = {"faithfulness": 0.9, "answer_relevancy": 0.5, "context_precision": 0.8, "context_recall": 0.6}
    assert ml_score(scores, W) == pytest.approx(0.30 * 0.9 + 0.20 * 0.5 + 0.25 * 0.8 + 0.25 * 0.6)
    assert ml_score(scores, W) == 0.72


def test_means_over_samples_then_weights() -> None:
    verdict = decide(
        [row(1.0, 0.5, 1.0, 0.5), row(0.5, 0.5, 0.0, 1.0)], weights=W, threshold=0.7, min_coverage=0.9
    )
    assert verdict.scores == {
        "faithfulness": 0.75,
        "answer_relevancy": 0.5,
        "context_precision": 0.5,
        "context_recall": 0.75,
    }
    assert verdict.ml_score == 0.3 * 0.75 + 0.2 * 0.5 + 0.25 * 0.5 + 0.25 * 0.75
    assert verdict.coverage == 1.0
    assert verdict.passed is False
    assert verdict.token_output() == {
        "passed": False,
        "ml_score": verdict.ml_score,
        "scores": verdict.scores,
        "coverage": 1.0,
    }


@pytest.mark.parametrize(
    ("value", "passed"),
    [(0.7, True), (0.699999, False), (0.700001, True), (0.6999999999999, True)],
)
def test_exactly_the_threshold_passes(value: float, passed: bool) -> None:
    verdict = decide([row(value, value, value, value)], weights=W, threshold=0.7, min_coverage=0.9)
    assert verdict.passed is passed
    if value == 0.7:
        assert verdict.ml_score == 0.7


def test_threshold_is_per_run() -> None:
    rows = [row(0.6, 0.6, 0.6, 0.6)]
    assert decide(rows, weights=W, threshold=0.6, min_coverage=0.9).passed is True
    assert decide(rows, weights=W, threshold=0.61, min_coverage=0.9).passed is False


def test_weights_are_configurable() -> None:
    rows = [row(1.0, 0.0, 0.0, 0.0)]
    assert decide(rows, weights=W, threshold=0.7, min_coverage=0.9).ml_score == 0.3
    only_faithfulness = {
        "faithfulness": 1.0,
        "answer_relevancy": 0.0,
        "context_precision": 0.0,
        "context_recall": 0.0,
    }
    assert decide(rows, weights=only_faithfulness, threshold=0.7, min_coverage=0.9).passed is True
    settings = EvaluationSettings(MLSCORE_WEIGHTS=only_faithfulness)
    assert settings.mlscore_weights == only_faithfulness


@pytest.mark.parametrize(
    ("weights", "message"),
    [
        ({**W, "faithfulness": 0.5}, "sum to 1"),
        ({k: v for k, v in W.items() if k != "context_recall"}, "missing ['context_recall']"),
        ({**W, "bleu": 0.0}, "unknown ['bleu']"),
        ({**W, "faithfulness": -0.1, "answer_relevancy": 0.6}, ">= 0"),
    ],
)
def test_bad_weights_are_refused(weights: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("]", r"\]")):
        validate_weights(weights)


def test_nan_sample_is_unscored_and_counts_against_coverage() -> None:
    rows = [row(0.9, 0.9, 0.9, 0.9)] * 9 + [row(0.9, math.nan, 0.9, 0.9)]
    verdict = decide(rows, weights=W, threshold=0.7, min_coverage=0.9)
    # exactly the minimum coverage is enough; the NaN sample is left out of the means
    assert verdict.coverage == 0.9
    assert (verdict.scored, verdict.total) == (9, 10)
    assert verdict.scores["answer_relevancy"] == 0.9


def test_coverage_below_minimum_is_an_error_never_a_pass() -> None:
    # the scored samples are perfect: a gate that ignored the unscored ones would pass
    rows = [row(1.0, 1.0, 1.0, 1.0)] * 8 + [row(math.nan, 1.0, 1.0, 1.0), row(1.0, None, 1.0, 1.0)]
    with pytest.raises(EvaluationError) as caught:
        decide(rows, weights=W, threshold=0.7, min_coverage=0.9)
    assert caught.value.code == "Evaluation.CoverageTooLow"
    assert "only 8 of 10 samples were scored (coverage 80.0%, minimum 90%)" in caught.value.reason


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf, None, "0.9"])
def test_non_finite_metrics_never_pass(bad: object) -> None:
    with pytest.raises(EvaluationError) as caught:
        decide([row(1.0, 1.0, 1.0, bad)], weights=W, threshold=0.0, min_coverage=0.9)  # type: ignore[arg-type]
    assert caught.value.code == "Evaluation.CoverageTooLow"


def test_empty_evaluation_is_an_error() -> None:
    with pytest.raises(EvaluationError) as caught:
        decide([], weights=W, threshold=0.7, min_coverage=0.9)
    assert caught.value.code == "Evaluation.EmptyDataset"


def test_scores_are_clamped_to_the_unit_interval() -> None:
    # cosine similarities can dip below 0; MLScore stays within [0, 1] (the API refuses others)
    verdict = decide([row(1.2, -0.3, 1.0, 1.0)], weights=W, threshold=0.7, min_coverage=0.9)
    assert verdict.scores["faithfulness"] == 1.0
    assert verdict.scores["answer_relevancy"] == 0.0
