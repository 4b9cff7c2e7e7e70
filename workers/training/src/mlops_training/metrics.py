"""Training metrics: one log line per logging window that SageMaker metric definitions scrape, and
the same values to MLflow when MLFLOW_TRACKING_URI is set (any MLflow server, or SageMaker's
managed MLflow by its ARN with the `sagemaker-mlflow` plugin installed).

A line looks like:

    [metrics] step=20 epoch=0.500 train_loss=1.2345 learning_rate=1.9e-04 grad_norm=0.4321
        tokens_per_second=8123.4 gpu_memory_gb=38.12

(one line). Pass METRIC_DEFINITIONS as `AlgorithmSpecification.MetricDefinitions` of
CreateTrainingJob; SageMaker then charts them and reports the last values in FinalMetricDataList.
"""

from __future__ import annotations

import logging
import math
import sys
from collections.abc import Mapping
from typing import Any, TextIO

log = logging.getLogger(__name__)

_NUMBER = r"([-+]?(?:[0-9]*\.)?[0-9]+(?:[eE][-+]?[0-9]+)?)"

# SageMaker metric name -> key in the log line.
_SCRAPED = {
    "train:loss": "train_loss",
    "train:learning_rate": "learning_rate",
    "train:grad_norm": "grad_norm",
    "train:tokens_per_second": "tokens_per_second",
    "train:gpu_memory_gb": "gpu_memory_gb",
    "train:epoch": "epoch",
}
METRIC_DEFINITIONS: list[dict[str, str]] = [
    {"Name": name, "Regex": rf"\[metrics\].*\b{key}={_NUMBER}"} for name, key in _SCRAPED.items()
]

_FORMATS = {
    "step": "{:d}",
    "epoch": "{:.3f}",
    "train_loss": "{:.4f}",
    "learning_rate": "{:.3e}",
    "grad_norm": "{:.4f}",
    "tokens_per_second": "{:.1f}",
    "gpu_memory_gb": "{:.2f}",
}


def format_metric_line(values: Mapping[str, float | int]) -> str:
    parts = []
    for key, value in values.items():
        fmt = _FORMATS.get(key, "{:.6g}")
        parts.append(f"{key}={fmt.format(value)}")
    return "[metrics] " + " ".join(parts)


class MetricsSink:
    """Log lines always; MLflow when a tracking URI is configured. MLflow trouble never stops a
    training job: it is logged once and MLflow is switched off for the rest of the run."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self._stream = stream or sys.stdout
        self._mlflow: Any = None
        self._step_keys: set[str] = set()
        self.mlflow_run_id: str | None = None
        self.mlflow_experiment_id: str | None = None

    def start_mlflow(
        self,
        tracking_uri: str | None,
        *,
        experiment: str,
        run_name: str | None,
        params: Mapping[str, Any],
        tags: Mapping[str, str],
        resume_run_id: str | None = None,
    ) -> None:
        if not tracking_uri:
            return
        try:
            import mlflow

            client = mlflow.MlflowClient(tracking_uri=tracking_uri)
            if resume_run_id:
                run_id = resume_run_id
                client.update_run(run_id, status="RUNNING")
                experiment_id = client.get_run(run_id).info.experiment_id
            else:
                found = client.get_experiment_by_name(experiment)
                experiment_id = found.experiment_id if found else client.create_experiment(experiment)
                run = client.create_run(experiment_id, run_name=run_name, tags=dict(tags))
                run_id = run.info.run_id
                params_list = [mlflow.entities.Param(k, str(v)[:6000]) for k, v in params.items()]
                client.log_batch(run_id, params=params_list)
            self._mlflow, self.mlflow_run_id = client, run_id
            self.mlflow_experiment_id = str(experiment_id)
            log.info("metrics go to MLflow run %s at %s", run_id, tracking_uri)
        except Exception as exc:
            log.warning("MLflow unavailable, metrics only in the log: %s", exc)

    def _mlflow_call(self, name: str, *args: Any, **kwargs: Any) -> None:
        if self._mlflow is None:
            return
        try:
            getattr(self._mlflow, name)(self.mlflow_run_id, *args, **kwargs)
        except Exception as exc:
            log.warning("MLflow %s failed, MLflow switched off for this run: %s", name, exc)
            self._mlflow = None

    def mlflow_link(self, tracking_uri: str | None, ui_url: str | None = None) -> dict[str, str] | None:
        """The MLflow run for the platform's run page: its id, experiment and, where a browser can
        open it, its URL (an http(s) tracking server is its own UI; a SageMaker managed MLflow ARN
        or a file store has none unless MLFLOW_UI_URL names one)."""
        if not self.mlflow_run_id:
            return None
        link = {"run_id": self.mlflow_run_id, "experiment_id": self.mlflow_experiment_id or ""}
        base = ui_url or (
            tracking_uri if tracking_uri and tracking_uri.startswith(("http://", "https://")) else None
        )
        if base:
            link["url"] = (
                f"{base.rstrip('/')}/#/experiments/{self.mlflow_experiment_id}/runs/{self.mlflow_run_id}"
            )
        return link

    def log(self, step: int, values: Mapping[str, float]) -> None:
        print(format_metric_line({"step": step, **values}), file=self._stream, flush=True)
        self._step_keys.update(values)
        if self._mlflow is not None:
            import mlflow

            finite = {k: float(v) for k, v in values.items() if math.isfinite(v)}
            metrics = [mlflow.entities.Metric(k, v, _now_ms(), step) for k, v in finite.items()]
            self._mlflow_call("log_batch", metrics=metrics)

    def summary(self, values: Mapping[str, float]) -> None:
        """Final metrics of the run (also a line SageMaker's definitions would not confuse)."""
        print(
            "[summary] " + " ".join(f"{k}={v:.6g}" for k, v in values.items()), file=self._stream, flush=True
        )
        if self._mlflow is not None:
            import mlflow

            # a key charted per step (train_loss) already ends on its final value
            final = {k: float(v) for k, v in values.items() if k not in self._step_keys and math.isfinite(v)}
            metrics = [mlflow.entities.Metric(k, v, _now_ms(), 0) for k, v in final.items()]
            self._mlflow_call("log_batch", metrics=metrics)

    def log_artifact(self, path: str) -> None:
        self._mlflow_call("log_artifact", path)

    def finish(self, status: str) -> None:
        self._mlflow_call("set_terminated", status=status)


def _now_ms() -> int:
    import time

    return int(time.time() * 1000)
