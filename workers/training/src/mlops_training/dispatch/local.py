"""The local training backend: runs the same entrypoint the SageMaker container runs, as a
subprocess, in a SageMaker-style directory layout (`<root>/input/data/train`, `<root>/model`,
`<root>/output/failure`, ...), sending heartbeats while it runs."""

from __future__ import annotations

import json
import logging
import os
import shlex
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from mlops_contracts.aws import aws_client
from mlops_contracts.task_tokens import TaskToken, TokenDead
from mlops_training.dispatch.messages import TrainingOutcome, TrainingTask, split_s3_uri
from mlops_training.dispatch.results import read_local_result, record_result
from mlops_training.dispatch.settings import get_settings

log = logging.getLogger(__name__)

DEFAULT_ENTRYPOINT = [sys.executable, "-m", "mlops_training"]


def workflow_waits(task_token: str) -> bool:
    """A heartbeat: False when the workflow no longer waits (the execution timed out or was
    stopped), so the caller can stop the job."""
    try:
        TaskToken(task_token).heartbeat()
    except TokenDead as exc:
        log.warning("%s: stopping the training", exc)
        return False
    return True


class TrainingFailed(RuntimeError):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def entrypoint_command() -> list[str]:
    """TRAINING_ENTRYPOINT overrides the command (e.g. a wrapper); the root is appended."""
    override = get_settings().entrypoint
    return shlex.split(override) if override else list(DEFAULT_ENTRYPOINT)


def prepare_root(task: TrainingTask, root: Path) -> None:
    train_dir = root / "input" / "data" / "train"
    config_dir = root / "input" / "config"
    for directory in (train_dir, config_dir, root / "model", root / "output", root / "checkpoints"):
        directory.mkdir(parents=True, exist_ok=True)
    bucket, key = split_s3_uri(task.train_dataset_uri)
    aws_client("s3").download_file(bucket, key, str(train_dir / Path(key).name))
    (config_dir / "hyperparameters.json").write_text(json.dumps(task.sagemaker_hyperparameters()))
    (config_dir / "inputdataconfig.json").write_text(
        json.dumps({"train": {"ContentType": "application/jsonl"}})
    )


def _api_key_variable(name: str) -> bool:
    return (
        name == "API_KEY" or name.endswith(("_API_KEY", "_API_KEY_SECRET_ID")) or name == "API_KEY_SECRET_ID"
    )


def run_training(
    task: TrainingTask,
    *,
    heartbeat_seconds: float = 60.0,
    timeout_seconds: float | None = None,
    beat: Callable[[str], bool] = workflow_waits,
) -> TrainingOutcome:
    """Train and upload `model.tar.gz` to the task's output URI. Raises TrainingFailed."""
    timeout = timeout_seconds or float(task.hyperparameters.get("max_runtime_seconds", 3600))
    with tempfile.TemporaryDirectory(prefix=f"training-run-{task.run_id}-") as tmp:
        root = Path(tmp)
        prepare_root(task, root)
        command = [*entrypoint_command(), "--root", str(root)]
        env = {
            # the job runs the model's code: it gets no worker's API key (the dispatcher records
            # the result), as a SageMaker job has none
            **{k: v for k, v in os.environ.items() if not _api_key_variable(k)},
            "SM_TRAINING_ROOT": str(root),
            "TASK_TOKEN": task.task_token,
            # the job's progress facts go to the platform's bus (mlops_training.progress)
            "EVENT_BUS_NAME": get_settings().event_bus_name,
        }
        log.info("run %s: training %s", task.run_id, shlex.join(command))
        started = time.monotonic()
        with open(root / "output" / "training.log", "wb") as out:
            process = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)
            next_beat = started + heartbeat_seconds
            while process.poll() is None:
                now = time.monotonic()
                if now - started > timeout:
                    process.kill()
                    process.wait()
                    raise TrainingFailed(f"training exceeded its {timeout:.0f}s runtime limit")
                if now >= next_beat:
                    next_beat = now + heartbeat_seconds
                    if not beat(task.task_token):
                        process.kill()
                        process.wait()
                        raise TrainingFailed("the workflow stopped waiting for this training")
                time.sleep(0.2)
        if process.returncode != 0:
            failure = root / "output" / "failure"
            reason = failure.read_text().strip() if failure.exists() else ""
            if not reason:
                tail = (root / "output" / "training.log").read_text(errors="replace")[-2000:]
                reason = f"training exited with code {process.returncode}: {tail}"
            raise TrainingFailed(reason)
        artifact = root / "model" / "model.tar.gz"
        if not artifact.exists():
            raise TrainingFailed("training finished without writing model/model.tar.gz")
        bucket, prefix = split_s3_uri(task.output_uri)
        key = f"{prefix}model.tar.gz"
        aws_client("s3").upload_file(str(artifact), bucket, key)
        metrics_file = root / "model" / "metrics.json"
        metrics = json.loads(metrics_file.read_text()) if metrics_file.exists() else {}
        record_result(task.run_id, read_local_result(root))
        return TrainingOutcome(artifact_uri=f"s3://{bucket}/{key}", metrics=metrics)


def dispatch_local(task: TrainingTask, *, heartbeat_seconds: float = 60.0) -> None:
    """Train and answer the token either way."""
    try:
        outcome = run_training(task, heartbeat_seconds=heartbeat_seconds)
    except TrainingFailed as exc:
        log.warning("run %s: training failed: %s", task.run_id, exc.reason)
        TaskToken(task.task_token).fail("TrainingFailed", exc.reason)
        return
    TaskToken(task.task_token).succeed(outcome.model_dump(mode="json"))
