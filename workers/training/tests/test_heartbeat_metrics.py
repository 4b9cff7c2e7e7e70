"""Heartbeats (throttled SendTaskHeartbeat) and metric lines (SageMaker metric definitions)."""

from __future__ import annotations

import io
import re

import boto3
import pytest
from botocore.stub import Stubber

from mlops_training.heartbeat import StepFunctionsHeartbeat, WorkflowGaveUp, heartbeat_from_env, no_heartbeat
from mlops_training.metrics import METRIC_DEFINITIONS, MetricsSink, format_metric_line


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def stepfunctions() -> object:
    return boto3.client(
        "stepfunctions", region_name="eu-west-1", aws_access_key_id="x", aws_secret_access_key="x"
    )


def test_heartbeats_are_throttled() -> None:
    client, clock = stepfunctions(), Clock()
    beat = StepFunctionsHeartbeat("token-1", interval=60, client=client, clock=clock)
    with Stubber(client) as stub:
        for _ in range(2):
            stub.add_response("send_task_heartbeat", {}, {"taskToken": "token-1"})
        beat()  # sent
        for _ in range(10):
            clock.now += 5
            beat()  # throttled
        clock.now += 15
        beat()  # 65 s after the first: sent
        stub.assert_no_pending_responses()
    assert beat.sent == 2


def test_network_trouble_is_retried_and_a_timed_out_task_stops_the_job() -> None:
    client, clock = stepfunctions(), Clock()
    beat = StepFunctionsHeartbeat("token-2", interval=10, client=client, clock=clock)
    with Stubber(client) as stub:
        stub.add_client_error("send_task_heartbeat", "ServiceUnavailable", http_status_code=503)
        stub.add_client_error("send_task_heartbeat", "TaskTimedOut", http_status_code=400)
        beat()  # logged, not raised
        clock.now += 11
        with pytest.raises(WorkflowGaveUp, match="TaskTimedOut"):
            beat()
    with pytest.raises(WorkflowGaveUp):
        beat()  # stays given up


def test_heartbeat_from_env() -> None:
    assert heartbeat_from_env({}) is no_heartbeat
    beat = heartbeat_from_env({"TASK_TOKEN": "t", "HEARTBEAT_INTERVAL_SECONDS": "5"})
    assert isinstance(beat, StepFunctionsHeartbeat)


def test_keep_alive_beats_from_a_thread_while_nothing_else_can() -> None:
    client = stepfunctions()
    beat = StepFunctionsHeartbeat("token-3", interval=0.01, client=client)
    with Stubber(client) as stub:
        for _ in range(50):
            stub.add_response("send_task_heartbeat", {}, {"taskToken": "token-3"})
        with beat.keep_alive():
            import time

            deadline = time.monotonic() + 5
            while beat.sent < 2 and time.monotonic() < deadline:
                time.sleep(0.01)
    assert beat.sent >= 2


def test_metric_lines_match_the_sagemaker_metric_definitions() -> None:
    line = format_metric_line(
        {
            "step": 20,
            "epoch": 0.5,
            "train_loss": 1.23456,
            "learning_rate": 1.9e-4,
            "grad_norm": 0.4321,
            "tokens_per_second": 8123.42,
            "gpu_memory_gb": 38.123,
        }
    )
    scraped = {}
    for definition in METRIC_DEFINITIONS:
        match = re.search(definition["Regex"], line)
        assert match, definition
        scraped[definition["Name"]] = float(match.group(1))
    assert scraped == {
        "train:loss": 1.2346,
        "train:learning_rate": 1.9e-4,
        "train:grad_norm": 0.4321,
        "train:tokens_per_second": 8123.4,
        "train:gpu_memory_gb": 38.12,
        "train:epoch": 0.5,
    }
    # a log line that merely mentions a metric name is not scraped
    assert not re.search(METRIC_DEFINITIONS[0]["Regex"], "train_loss=3 in a warning")


def test_metrics_without_mlflow_are_only_lines() -> None:
    out = io.StringIO()
    sink = MetricsSink(out)
    sink.start_mlflow(None, experiment="e", run_name=None, params={}, tags={})
    sink.log(3, {"train_loss": 2.0})
    sink.finish("FINISHED")
    assert out.getvalue() == "[metrics] step=3 train_loss=2.0000\n"
    assert sink.mlflow_run_id is None
