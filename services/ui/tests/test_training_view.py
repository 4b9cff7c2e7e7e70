"""The run page's training view on a run the real training worker produced (#17.4): the local
training backend fine-tunes a tiny model offline (the container entrypoint as a subprocess), the
dispatcher PUTs the job's result on the run with the trainer's own key, and the page draws the loss
curve from that history. While a run trains, its progress facts (as the projector records them)
show the step, the total and the time left, and the MLflow run is linked."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import psycopg
import pyarrow as pa
import pytest

from mlops_contracts.aws import aws_client
from mlops_devstack.tiny_model import build_tiny_model
from mlops_testkit.api import EVAL_ROW, OUTPUTS_BUCKET, QA_ROW, Clients, make_key
from mlops_testkit.servers import WaitingTask
from mlops_training.dispatch import local
from mlops_training.dispatch.messages import TrainingTask
from mlops_training.loop import StepInfo
from mlops_training.progress import progress_detail

pytestmark = pytest.mark.usefixtures("clean")


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    texts = [" ".join(str(v) for v in row.values()) for row in (QA_ROW, EVAL_ROW)] * 50
    return build_tiny_model(tmp_path_factory.mktemp("models") / "tiny", texts)


def test_the_training_curve_of_a_run_the_real_worker_trained(
    app: Any,
    clients: Clients,
    datasets: dict[str, int],
    kit: Any,
    db: psycopg.Connection[Any],
    tiny_model: Path,
    waiting_task: WaitingTask,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    run_id = kit.new_run(
        clients, datasets, model_name=f"tiny-{uuid.uuid4().hex[:6]}", model_id=str(tiny_model)
    )
    kit.move(clients, run_id, "training")
    key = f"train/run-{run_id}/train.jsonl"
    aws_client("s3").put_object(
        Bucket=OUTPUTS_BUCKET, Key=key, Body=("".join(json.dumps(QA_ROW) + "\n" for _ in range(8))).encode()
    )
    monkeypatch.setenv("API_URL", clients.base_url)
    monkeypatch.setenv("TRAINER_API_KEY", make_key(db, "trainer"))
    task = TrainingTask(
        task_token=waiting_task.token,  # the job heartbeats a real task token
        run_id=run_id,
        model_name="tiny",
        model_id=str(tiny_model),
        train_dataset_uri=f"s3://{OUTPUTS_BUCKET}/{key}",
        hyperparameters={
            "epochs": 2,
            "batch_size": 2,
            "max_seq_length": 64,
            "learning_rate": 0.005,
            "logging_steps": 1,
        },
        output_uri=f"s3://{OUTPUTS_BUCKET}/tiny/run-{run_id}/",
    )
    local.run_training(task)  # the real job; its result goes to the API

    with clients.as_("viewer") as viewer:
        run = viewer.get(f"/runs/{run_id}").json()
    [training] = [r for r in run["results"] if r["stage"] == "training"]
    history = training["metrics"]["history"]
    assert len(history) == training["metrics"]["train_steps"] >= 2  # one point per step (logging_steps=1)

    at = app("viewer", "views/run_detail.py", id=str(run_id))
    kit.no_exception(at)
    chart = next(c.proto for c in at.get("vega_lite_chart") if "Training loss" in c.proto.spec)
    [dataset] = chart.datasets  # the chart's data, as Streamlit sends it to the browser (Arrow)
    points = pa.ipc.open_stream(dataset.data.data).read_pandas()
    # the curve is the history the job wrote: every step, with its loss
    assert list(points["step"]) == [p["step"] for p in history]
    assert list(points["loss"]) == pytest.approx([p["train_loss"] for p in history])
    summary = next(d.value for d in at.dataframe if list(d.value.columns) == ["Metric", "Value"])
    assert "Final loss" in list(summary["Metric"])


def test_a_training_run_shows_its_progress_and_mlflow_run(
    app: Any, clients: Clients, datasets: dict[str, int], kit: Any
) -> None:
    run_id = kit.new_run(clients, datasets)
    kit.move(clients, run_id, "training")
    mlflow = {
        "run_id": "4f2a",
        "experiment_id": "7",
        "url": "https://mlflow.example.com/#/experiments/7/runs/4f2a",
    }
    with clients.as_("projector") as projector:  # what the projector records from the job's facts
        for step, loss, eta in ((10, 2.5, 270.0), (20, 1.75, 240.0)):
            detail = progress_detail(run_id, StepInfo(step, 100, 0, loss), eta=eta, mlflow=mlflow)
            response = projector.post(
                f"/runs/{run_id}/events",
                json={
                    "event_type": "run.training_progress",
                    "event_id": str(uuid.uuid4()),
                    **{k: detail[k] for k in ("reason", "data")},
                },
            )
            assert response.status_code == 201, response.text

    at = app("viewer", "views/run_detail.py", id=str(run_id))
    kit.no_exception(at)
    [bar] = at.get("progress")
    assert bar.proto.value == 20
    assert bar.proto.text == "Step 20 of 100 · loss 1.7500 · about 4 min 00 s left"
    assert any("Training loss so far" in c.proto.spec for c in at.get("vega_lite_chart"))
    [button] = at.get("link_button")
    assert button.proto.url == mlflow["url"]
    assert "MLflow run `4f2a` (experiment 7)" in kit.texts(at)
    # the timeline keeps the latest progress step only
    steps = list(at.dataframe[0].value["Step"])
    assert steps.count("Training progress") == 1
