"""The runner (the worker images' default command) sets up the workers' traces when
OTEL_TRACES_ENABLED asks, and only then (docs/decisions/0019-platform-metrics-and-traces.md)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest


@pytest.mark.parametrize("enabled", [True, False])
def test_the_runner_traces_only_when_asked(enabled: bool) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    if enabled:
        env.update(OTEL_TRACES_ENABLED="true", OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:9")
    result = subprocess.run(
        [sys.executable, "-m", "mlops_sqs_runtime.runner", "--list", "--log-format", "text"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "evaluation" in result.stdout  # the mappings are listed either way
    announced = "traces go to http://127.0.0.1:9/v1/traces as mlops-workers" in result.stdout + result.stderr
    assert announced is enabled, result.stderr
