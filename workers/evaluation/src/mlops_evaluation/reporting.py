"""Where an evaluation's results go: per-sample JSONL rows to the model-outputs bucket, the summary to
the API (`PUT /runs/{id}/results/evaluation`, service API key), and CloudWatch metrics as EMF."""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from typing import Any

import httpx
from aws_lambda_powertools.metrics import EphemeralMetrics, MetricUnit
from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_random_exponential

from mlops_contracts.secrets import ApiKeyMissing, resolve_api_key
from mlops_evaluation import storage
from mlops_evaluation.engine import SampleResult
from mlops_evaluation.settings import EvaluationSettings

log = logging.getLogger(__name__)


class ResultsNotRecorded(Exception):
    pass


def samples_key(model_name: str, run_id: int, execution_arn: str | None) -> str:
    execution = execution_arn.rsplit(":", 1)[-1] if execution_arn else "manual"
    return f"{model_name}/evaluations/run-{run_id}/{execution}/samples.jsonl"


def write_samples(bucket: str, key: str, results: Sequence[SampleResult]) -> str:
    text = "".join(json.dumps(result.row(), ensure_ascii=False, allow_nan=False) + "\n" for result in results)
    return storage.put_text(bucket, key, text, "application/x-ndjson")


def api_key(settings: EvaluationSettings) -> str:
    """The service API key: API_KEY, or the secret API_KEY_SECRET_ID names (a plain string, or JSON
    with an `api_key` field)."""
    direct = settings.api_key.get_secret_value() if settings.api_key is not None else None
    try:
        return resolve_api_key(direct, settings.api_key_secret_id)
    except ApiKeyMissing as exc:
        raise ResultsNotRecorded(str(exc)) from exc


def _retryable(exc: BaseException) -> bool:
    if isinstance(exc, httpx.TransportError):
        return True
    if isinstance(exc, httpx.HTTPStatusError):
        return exc.response.status_code == 429 or exc.response.status_code >= 500
    return False


def put_results(settings: EvaluationSettings, run_id: int, body: dict[str, Any]) -> None:
    """Record the summary in the API (retried on transport errors, 429 and 5xx)."""
    if not settings.api_url:
        raise ResultsNotRecorded("API_URL is not set")
    headers = {"X-API-Key": api_key(settings)}
    payload = json.dumps(body, allow_nan=False)

    def attempt() -> None:
        with httpx.Client(base_url=settings.api_url or "", timeout=settings.api_timeout_seconds) as client:
            response = client.put(
                f"/runs/{run_id}/results/evaluation",
                content=payload,
                headers={**headers, "Content-Type": "application/json"},
            )
            response.raise_for_status()

    try:
        Retrying(
            retry=retry_if_exception(_retryable),
            wait=wait_random_exponential(multiplier=0.5, max=10),
            stop=stop_after_attempt(6),
            reraise=True,
        )(attempt)
    except httpx.HTTPStatusError as exc:
        raise ResultsNotRecorded(
            f"the API refused the results: HTTP {exc.response.status_code} {exc.response.text[:500]}"
        ) from exc
    except httpx.HTTPError as exc:
        raise ResultsNotRecorded(f"the API could not be reached: {exc}") from exc


def emit_metrics(
    settings: EvaluationSettings,
    *,
    model_name: str,
    judge: str,
    run_id: int,
    execution_arn: str | None,
    ml_score: float | None,
    coverage: float | None,
    unscored: int,
    passed: bool | None,
    cost_usd: float,
    tokens: int,
    duration_seconds: float,
) -> None:
    """CloudWatch metrics through the embedded metric format (printed to stdout as one JSON line)."""
    metrics = EphemeralMetrics(namespace=settings.metrics_namespace, service="evaluation")
    metrics.add_dimension(name="ModelName", value=model_name)
    metrics.add_dimension(name="Judge", value=judge)
    if ml_score is not None:
        metrics.add_metric(name="MLScore", unit=MetricUnit.NoUnit, value=ml_score)
    if coverage is not None:
        metrics.add_metric(name="Coverage", unit=MetricUnit.NoUnit, value=coverage)
    metrics.add_metric(name="UnscoredSamples", unit=MetricUnit.Count, value=unscored)
    metrics.add_metric(name="EvaluationPassed", unit=MetricUnit.Count, value=1 if passed else 0)
    metrics.add_metric(name="EvaluationErrors", unit=MetricUnit.Count, value=1 if passed is None else 0)
    metrics.add_metric(name="JudgeTokens", unit=MetricUnit.Count, value=tokens)
    metrics.add_metric(name="EstimatedCostUSD", unit=MetricUnit.NoUnit, value=cost_usd)
    metrics.add_metric(name="EvaluationDuration", unit=MetricUnit.Seconds, value=duration_seconds)
    metrics.add_metadata(key="run_id", value=str(run_id))
    if execution_arn:
        metrics.add_metadata(key="execution_arn", value=execution_arn)
    metrics.flush_metrics()
