"""The training result the platform records on the run (`PUT /runs/{id}/results/training`).

The job writes it to `output/data/training-result.json`; SageMaker uploads that folder as
`<S3OutputPath>/<job>/output/output.tar.gz`, the local backend reads it from its root. The dispatcher
side (mlops_training.dispatch.results) sends it to the API: the job itself holds no API key.

`metrics` is the summary (train_loss, runtime, tokens/s, steps, per-epoch losses), the loss `history`
(one point per logging window: the shape the dashboard's training curves read) and, when MLflow was
configured, `mlflow` = {run_id, experiment_id, url}.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

RESULT_FILE = "training-result.json"
# The API stores the result as one JSON document: a very long run keeps every n-th point (and the
# last), so the document stays small whatever the number of steps.
MAX_HISTORY_POINTS = 2000


def thin(history: list[dict[str, float]], limit: int = MAX_HISTORY_POINTS) -> list[dict[str, float]]:
    if len(history) <= limit:
        return history
    stride = math.ceil(len(history) / limit)
    kept = history[::stride]
    return kept if kept[-1] is history[-1] else [*kept, history[-1]]


def _finite(values: Mapping[str, Any]) -> dict[str, Any]:
    """JSON has no NaN/inf (the API refuses them): such a value becomes null."""
    return {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in values.items()}


def training_result(
    summary: Mapping[str, float],
    history: list[dict[str, float]],
    epoch_losses: list[float],
    *,
    mlflow: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    metrics: dict[str, Any] = {
        **_finite(summary),
        "epoch_losses": [None if not math.isfinite(v) else v for v in epoch_losses],
        "history": [_finite(point) for point in thin(history)],
    }
    if mlflow:
        metrics["mlflow"] = dict(mlflow)
    return {"metrics": metrics}


def write_result(output_data: Path, result: Mapping[str, Any]) -> Path:
    output_data.mkdir(parents=True, exist_ok=True)
    path = output_data / RESULT_FILE
    path.write_text(json.dumps(result, allow_nan=False))
    return path
