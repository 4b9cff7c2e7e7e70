"""The job's numbers on their way to the run: progress facts on the bus (PutEvents checked against
botocore's model with a Stubber), the result document, and the dispatcher side that reads it from a
SageMaker job's output.tar.gz and records it with PUT /runs/{id}/results/training."""

from __future__ import annotations

import io
import json
import tarfile
from typing import Any

import boto3
import httpx
import pytest
from botocore.stub import ANY, Stubber

from mlops_contracts.api_client import ApiClient
from mlops_training.dispatch import results
from mlops_training.loop import StepInfo
from mlops_training.progress import ProgressReporter, eta_seconds, reporter_from_env
from mlops_training.result import MAX_HISTORY_POINTS, RESULT_FILE, thin, training_result

pytestmark = pytest.mark.unit


def events_client() -> Any:
    return boto3.client("events", region_name="eu-west-1", aws_access_key_id="x", aws_secret_access_key="x")


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_progress_fact_per_logging_window_with_step_total_and_eta() -> None:
    client, clock = events_client(), Clock()
    reporter = ProgressReporter(
        7, "mlops-events", client=client, clock=clock, mlflow=lambda: {"run_id": "abc", "experiment_id": "1"}
    )
    reporter.start(resumed_from_step=0)
    with Stubber(client) as stub:
        # the Stubber checks the request against the real PutEvents input shape
        stub.add_response(
            "put_events",
            {"FailedEntryCount": 0, "Entries": [{"EventId": "e-1"}]},
            {
                "Entries": [
                    {
                        "Source": "mlops.training",
                        "DetailType": "run.training_progress",
                        "Detail": ANY,
                        "EventBusName": "mlops-events",
                        "Time": ANY,
                    }
                ]
            },
        )
        clock.now = 120.0
        reporter(StepInfo(step=5, total_steps=20, epoch=0, loss=None))  # mid-window: nothing sent
        reporter(StepInfo(step=10, total_steps=20, epoch=0, loss=1.5))
        stub.assert_no_pending_responses()  # one window closed: one fact
    assert reporter.sent == 1


def test_the_progress_detail_is_what_the_projector_records() -> None:
    client = events_client()
    captured: list[dict[str, Any]] = []
    client.meta.events.register(
        "before-parameter-build.events.PutEvents",
        lambda params, **_: captured.append(json.loads(params["Entries"][0]["Detail"])),
    )
    clock = Clock()
    reporter = ProgressReporter(7, "mlops-events", client=client, clock=clock)
    reporter.start(resumed_from_step=4)
    clock.now = 130.0  # 6 steps in 30 s: 5 s a step, 10 steps left
    with Stubber(client) as stub:
        stub.add_response("put_events", {"FailedEntryCount": 0, "Entries": [{"EventId": "e"}]})
        reporter(StepInfo(step=10, total_steps=20, epoch=1, loss=0.75))
    assert captured == [
        {
            "run_id": 7,
            "reason": "step 10 of 20, loss 0.7500, about 50 s left",
            "data": {"step": 10, "total_steps": 20, "epoch": 1, "eta_seconds": 50.0, "train_loss": 0.75},
        }
    ]


def test_publishing_trouble_never_stops_training() -> None:
    client = events_client()
    reporter = ProgressReporter(7, "mlops-events", client=client, clock=Clock())
    with Stubber(client) as stub:
        stub.add_client_error("put_events", service_error_code="AccessDeniedException", http_status_code=400)
        reporter(StepInfo(step=10, total_steps=20, epoch=0, loss=1.0))  # logged, not raised
        reporter(StepInfo(step=20, total_steps=20, epoch=0, loss=0.9))  # switched off: no second call
    assert reporter.enabled is False
    assert reporter.sent == 0


def test_eta_and_who_gets_a_reporter() -> None:
    assert eta_seconds(step=10, total=20, first_step=0, elapsed=20.0) == 20.0
    assert eta_seconds(step=4, total=20, first_step=4, elapsed=3.0) is None  # no step of ours yet
    assert reporter_from_env("7", {}) is None  # a job run by hand: no bus named
    assert reporter_from_env(None, {"EVENT_BUS_NAME": "b"}) is None
    reporter = reporter_from_env("7", {"EVENT_BUS_NAME": "mlops-events"})
    assert reporter is not None
    assert (reporter.run_id, reporter.bus_name) == (7, "mlops-events")


def test_the_result_keeps_a_bounded_history_and_no_nan() -> None:
    history = [{"step": i, "train_loss": 1.0 / i} for i in range(1, 5001)]
    kept = thin(history)
    assert len(kept) <= MAX_HISTORY_POINTS + 1
    assert kept[0]["step"] == 1
    assert kept[-1]["step"] == 5000
    doc = training_result(
        {"train_loss": float("nan"), "train_steps": 5000.0}, history[:3], [0.5], mlflow={"run_id": "r"}
    )
    assert doc["metrics"]["train_loss"] is None
    assert doc["metrics"]["history"] == history[:3]
    assert doc["metrics"]["mlflow"] == {"run_id": "r"}
    json.dumps(doc, allow_nan=False)


RESULT = {"metrics": {"train_loss": 0.5, "history": [{"step": 1, "train_loss": 0.5}]}}


def output_archive(result: dict[str, Any]) -> bytes:
    """output.tar.gz as SageMaker packs /opt/ml/output/data."""
    body = json.dumps(result).encode()
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        info = tarfile.TarInfo(RESULT_FILE)
        info.size = len(body)
        tar.addfile(info, io.BytesIO(body))
    return buffer.getvalue()


def test_the_completion_side_reads_the_result_from_the_jobs_output_archive(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    s3 = boto3.client("s3", region_name="eu-west-1", aws_access_key_id="x", aws_secret_access_key="x")
    monkeypatch.setattr(results, "aws_client", lambda _: s3)
    archive = output_archive(RESULT)
    key = {"Bucket": "outputs", "Key": "m/run-7/m-run-7-abc/output/output.tar.gz"}
    job = {"TrainingJobName": "m-run-7-abc", "OutputDataConfig": {"S3OutputPath": "s3://outputs/m/run-7/"}}
    with Stubber(s3) as stub:
        stub.add_response("head_object", {"ContentLength": len(archive)}, key)
        stub.add_response("get_object", {"Body": io.BytesIO(archive)}, key)
        assert results.read_job_result(job) == RESULT


def test_recording_puts_the_result_on_the_run_and_survives_a_refusal() -> None:
    seen: list[tuple[str, str, dict[str, Any]]] = []

    def api(request: httpx.Request) -> httpx.Response:
        seen.append((request.method, request.url.path, json.loads(request.content)))
        return httpx.Response(200, json={})

    client = ApiClient("http://api", "mlk_trainer", transport=httpx.MockTransport(api), attempts=1)
    assert results.record_result(7, RESULT, client=client) is True
    assert seen == [("PUT", "/runs/7/results/training", RESULT)]
    refusing = ApiClient(
        "http://api",
        "k",
        transport=httpx.MockTransport(lambda _: httpx.Response(403, json={"detail": "no"})),
        attempts=1,
    )
    assert results.record_result(7, RESULT, client=refusing) is False
    assert results.record_result(7, None) is False
