"""`make demo`'s path (mlops_devstack.demo.flow.run_demo) on the e2e platform with the real workers:
the samples and the offline tiny model through a LoRA fine-tune, the offline judge, an approver's
decision and the registry, the approved model served by the release's Deploy stage (a local serving
process) and asked one sample question, then the report the demo prints."""

from __future__ import annotations

import io
import time

import httpx
import pytest
from rich.console import Console

from mlops_devstack.demo.flow import DemoConfig, DemoKeys, PhaseClock, PhaseTimeouts, run_demo
from mlops_devstack.demo.progress import LineProgress
from mlops_devstack.demo.report import print_report
from mlops_testkit.release import Release


def test_the_demo_reaches_approved_and_go_prod(
    real_release: Release, tmp_path_factory: pytest.TempPathFactory
) -> None:
    out = io.StringIO()
    clock = PhaseClock()
    clock.record("stack start", 0.0, "the e2e stack (fixtures)")
    config = DemoConfig(
        model_dir=tmp_path_factory.mktemp("models") / "tiny-llm",
        # fewer steps than `make demo`: the path is the same, the test stays short
        hyperparameters={"epochs": 2, "batch_size": 8, "max_seq_length": 128, "learning_rate": 0.005},
        timeouts=PhaseTimeouts(training=240, evaluation=240, approval=60, registry=30, serving=120),
        poll_seconds=0.5,  # the e2e stack's approval timeout is seconds, not 72 h
    )
    keys = DemoKeys(operator=real_release.keys["operator"], approver=real_release.keys["approver"])

    result = run_demo(real_release.api.base_url, keys, config, LineProgress(out, clock.started), clock)
    print_report(Console(file=out, width=160, highlight=False), result)
    report = out.getvalue()
    print(report)  # pytest shows it when an assertion fails

    assert result.run["status"] == "approved"
    assert result.version["approval_status"] == "Approved"
    assert result.version["metadata"]["deployment_status"] == "go_prod"
    package = real_release.package(config.model_name)  # the emulator's registry itself agrees
    assert package["ModelApprovalStatus"] == "Approved"
    assert package["metadata"]["deployment_status"] == "go_prod"
    assert package["metadata"]["validation"] == "validated"
    assert {d.action for d in result.datasets.values()} == {"uploaded"}

    # the training result the real training worker recorded on the run (#17.4): summary and loss
    # history, as GET /runs/{id} shows it; and its progress, one timeline step per logging window
    with real_release.client("viewer") as viewer:
        run = viewer.get(f"/runs/{result.run['id']}").json()
    [training] = [r for r in run["results"] if r["stage"] == "training"]
    history = training["metrics"]["history"]
    assert [p["step"] for p in history][-1] == training["metrics"]["train_steps"]
    assert all(isinstance(p["train_loss"], float) for p in history)
    progress = [e for e in run["timeline"] if e["event_type"] == "run.training_progress"]
    assert progress, [e["event_type"] for e in run["timeline"]]
    assert progress[-1]["data"]["step"] == progress[-1]["data"]["total_steps"]
    # the evaluation ran through the evaluation image's job entrypoint (EVALUATION_BACKEND=local,
    # `python -m mlops_evaluation job` as a subprocess: what the SageMaker Processing job runs, #17.1)
    [evaluation] = [r for r in run["results"] if r["stage"] == "evaluation"]
    assert evaluation["metrics"]["inference"]["entrypoint"] == "job"

    assert "-> training" in report  # the live lines
    assert f"run #{result.run['id']} evaluating" in report
    for section in ("Timeline", "MLScore breakdown", "Model registry", "Phase timings"):
        assert section in report
    for line in (
        "run.training_done",
        "loss history of",
        "awaiting_approval -> approved",
        "faithfulness",
        "context_recall",
        "go_prod",
    ):
        assert line in report
    assert f"threshold {config.ml_score_threshold:g}: PASS" in report
    for phase in (
        "stack start",
        "preparation",
        "training",
        "evaluation",
        "approval",
        "registry",
        "serving",
        "total",
    ):
        assert phase in report.split("Phase timings", 1)[1]

    # Served (#20): the release's deployment is in service at a local URL that answers; the demo
    # asked it one of the run's evaluation questions through the API and printed answer and latency.
    deployment, answer = result.deployment, result.answer
    assert deployment is not None
    assert answer is not None
    assert (deployment["status"], deployment["origin"], deployment["run_id"]) == (
        "in_service",
        "release",
        result.run["id"],
    )
    assert httpx.get(f"{deployment['endpoint_url']}/ping").status_code == 200
    assert answer["answer"].strip()
    assert answer["latency_ms"] > 0
    for line in (
        "Served",
        str(deployment["endpoint_url"]),
        answer["question"],
        f"{answer['latency_ms']:.0f} ms",
    ):
        assert line in report
    # Retired: the bus's event reaches the deployer, which stops the serving process.
    with real_release.client("operator") as operator:
        assert operator.delete(f"/deployments/{deployment['id']}").json()["status"] == "retired"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            httpx.get(f"{deployment['endpoint_url']}/ping", timeout=1)
        except httpx.TransportError:
            break
        time.sleep(0.5)
    else:
        pytest.fail(f"the retired deployment still answers at {deployment['endpoint_url']}")
