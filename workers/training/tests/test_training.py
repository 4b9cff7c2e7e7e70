"""The training job end to end on CPU, with a tiny model loaded through from_pretrained(path)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tarfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch
from safetensors.torch import load_file

from mlops_training.contract import ContainerPaths
from mlops_training.data import read_rows, tokenize
from mlops_training.entrypoint import main
from mlops_training.job import JobResult, run_job
from mlops_training.loop import StepInfo, StopRequest, TrainingInterrupted, complete_checkpoints
from mlops_training.modeling import load_tokenizer
from mlops_training.packing import collate

# whole training jobs on the tiny model (a minute), one in a process of its own
pytestmark = pytest.mark.integration

MakeRoot = Callable[..., Path]


def extract(archive: Path, dest: Path) -> Path:
    with tarfile.open(archive) as tar:
        tar.extractall(dest, filter="data")
    return dest


def mean_loss(model: Any, root: Path, tokenizer: Any) -> float:
    """Mean token loss of a model on the job's training set (same tokenization as training)."""
    examples = tokenize(read_rows(root / "input" / "data" / "train"), tokenizer, 128).examples
    batch = collate(examples, [[i] for i in range(len(examples))], pad_id=tokenizer.pad_token_id)
    with torch.no_grad():
        logits = model(input_ids=batch.input_ids, position_ids=batch.position_ids, use_cache=False).logits
    picked = logits.view(-1, logits.shape[-1]).index_select(0, batch.target_index)
    targets = batch.targets.view(-1).index_select(0, batch.target_index)
    return float(torch.nn.functional.cross_entropy(picked, targets))


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory, root_writer: MakeRoot) -> tuple[Path, JobResult]:
    """One two-epoch job shared by the artifact tests (merge_weights on, to check both outputs)."""
    root = root_writer(tmp_path_factory.mktemp("trained"), merge_weights=True)
    beats: list[float] = []
    result = run_job(ContainerPaths.under(root), heartbeat=lambda: beats.append(time.monotonic()), env={})
    assert len(beats) >= result.train.total_steps  # the loop beats after every step
    return root, result


def test_two_epochs_lower_the_loss(trained: tuple[Path, JobResult]) -> None:
    _, result = trained
    first, second = result.train.epoch_losses
    assert second < first - 0.1, result.train.epoch_losses
    assert result.train.steps == result.train.total_steps
    assert result.train.history[-1]["train_loss"] < result.train.history[0]["train_loss"]


def test_the_job_writes_the_result_the_run_records(trained: tuple[Path, JobResult]) -> None:
    """output/data/training-result.json: what the dispatcher PUTs on the run (SageMaker uploads
    the folder as output.tar.gz)."""
    root, result = trained
    written = json.loads((root / "output" / "data" / "training-result.json").read_text())
    metrics = written["metrics"]
    assert metrics["train_steps"] == result.train.total_steps
    assert metrics["train_loss"] == pytest.approx(result.train.final_loss)
    assert metrics["epoch_losses"] == pytest.approx(result.train.epoch_losses)
    # one point per logging window (logging_steps=1 here), in the dashboard's curve shape
    assert [p["step"] for p in metrics["history"]] == list(range(1, result.train.total_steps + 1))
    assert {"train_loss", "learning_rate", "tokens_per_second"} <= set(metrics["history"][0])
    assert "mlflow" not in metrics  # no MLflow configured


def test_the_artifact_holds_adapter_tokenizer_merged_weights_and_metadata(
    trained: tuple[Path, JobResult], tiny_model: Path
) -> None:
    root, result = trained
    assert result.output == root / "model" / "model.tar.gz"
    with tarfile.open(result.output) as tar:
        names = set(tar.getnames())
    assert {
        "metadata.json",
        "adapter/adapter_config.json",
        "adapter/adapter_model.safetensors",
        "adapter/tokenizer.json",
        "merged/model.safetensors",
        "merged/config.json",
        "merged/tokenizer.json",
    } <= names
    metrics = json.loads((root / "model" / "metrics.json").read_text())  # read by the local dispatcher
    assert metrics["train_loss"] == result.train.final_loss
    meta = json.loads(extract(result.output, root / "x").joinpath("metadata.json").read_text())
    import hashlib

    data = (root / "input" / "data" / "train" / "train.jsonl").read_bytes()
    assert meta["base_model"] == str(tiny_model)
    assert meta["dataset"]["sha256"] == hashlib.sha256(data).hexdigest()
    assert meta["dataset"]["format"] == "qa"
    assert meta["dataset"]["rows"] == 36
    assert meta["hyperparameters"]["epochs"] == 2
    assert meta["hyperparameters"]["lora_r"] == 8
    assert meta["metrics"]["epoch_losses"] == result.train.epoch_losses
    assert meta["lora"]["target_modules"] == [
        "q_proj",
        "k_proj",
        "v_proj",
        "o_proj",
        "gate_proj",
        "up_proj",
        "down_proj",
    ]
    assert meta["prompt"]["template"].endswith("### Answer:\n")
    assert meta["training"]["packing"] is True
    assert meta["training"]["attn_implementation"] == "sdpa"
    assert meta["run_id"] == "7"
    assert not (root / "output" / "failure").exists()


def test_the_adapter_reloads_and_generates(trained: tuple[Path, JobResult], tiny_model: Path) -> None:
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    root, _ = trained
    out = extract(root / "model" / "model.tar.gz", root / "reload")
    tokenizer = load_tokenizer(str(out / "adapter"))
    base = AutoModelForCausalLM.from_pretrained(tiny_model).eval()
    base_loss = mean_loss(base, root, tokenizer)
    tuned = PeftModel.from_pretrained(
        AutoModelForCausalLM.from_pretrained(tiny_model), out / "adapter"
    ).eval()
    tuned_loss = mean_loss(tuned, root, tokenizer)
    assert tuned_loss < base_loss - 0.1, (tuned_loss, base_loss)

    prompt = "### Context:\nParis is the capital of France.\n\n### Question:\nWhat is the capital of France?\n\n### Answer:\n"
    inputs = tokenizer(prompt, return_tensors="pt")
    inputs["input_ids"] = torch.cat([torch.tensor([[tokenizer.bos_token_id]]), inputs["input_ids"]], 1)
    inputs["attention_mask"] = torch.ones_like(inputs["input_ids"])
    with torch.no_grad():
        generated = tuned.generate(
            **inputs, max_new_tokens=8, do_sample=False, pad_token_id=tokenizer.pad_token_id
        )
    new_tokens = generated[0, inputs["input_ids"].shape[1] :]
    assert 1 <= len(new_tokens) <= 8
    assert isinstance(tokenizer.decode(new_tokens, skip_special_tokens=True), str)

    merged = AutoModelForCausalLM.from_pretrained(out / "merged").eval()
    with torch.no_grad():
        ids = inputs["input_ids"]
        torch.testing.assert_close(merged(ids).logits, tuned(ids).logits, atol=1e-4, rtol=1e-4)


def test_resume_continues_at_the_right_step_with_the_same_data(make_root: MakeRoot) -> None:
    """A job stopped after step 3 (as by a Spot interruption) and restarted on the same checkpoint
    folder ends with exactly the adapter an uninterrupted job produces."""
    settings: dict[str, Any] = {"checkpoint_steps": 2, "lora_dropout": 0.1}
    straight_root = make_root(name="straight", **settings)
    straight = run_job(ContainerPaths.under(straight_root), env={})

    root = make_root(name="resumed", **settings)
    stop = StopRequest()
    seen: list[int] = []

    def interrupt_after_3(info: StepInfo) -> None:
        seen.append(info.step)
        if info.step == 3:
            stop.request("test interruption")

    with pytest.raises(
        TrainingInterrupted, match=r"stopped at step 3/18: test interruption; checkpoint step-00000003"
    ):
        run_job(ContainerPaths.under(root), env={}, stop=stop, on_step=interrupt_after_3)
    assert seen == [1, 2, 3]
    assert sorted(p.name for p in complete_checkpoints(root / "checkpoints")) == [
        "step-00000002",
        "step-00000003",
    ]
    assert not (root / "model" / "model.tar.gz").exists()

    resumed_steps: list[int] = []
    resumed = run_job(ContainerPaths.under(root), env={}, on_step=lambda i: resumed_steps.append(i.step))
    assert resumed.train.resumed_from_step == 3
    assert resumed_steps == list(range(4, 19))  # 36 examples / batch 4 = 9 steps an epoch, 2 epochs
    assert resumed.train.epoch_losses == pytest.approx(straight.train.epoch_losses, rel=1e-5)
    straight_losses = {h["step"]: h["train_loss"] for h in straight.train.history}
    for h in resumed.train.history:
        assert h["train_loss"] == pytest.approx(straight_losses[h["step"]], rel=1e-5), h["step"]

    def adapter(job_root: Path) -> dict[str, torch.Tensor]:
        out = extract(job_root / "model" / "model.tar.gz", job_root / "unpacked")
        return load_file(str(out / "adapter" / "adapter_model.safetensors"))

    expected, got = adapter(straight_root), adapter(root)
    assert expected.keys() == got.keys()
    for name in expected:
        torch.testing.assert_close(got[name], expected[name], atol=1e-6, rtol=1e-5)


def test_sigterm_checkpoints_fails_the_attempt_and_the_next_attempt_resumes(
    make_root: MakeRoot, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = make_root(epochs=1, checkpoint_steps=100)
    calls = []

    def heartbeat_that_gets_preempted() -> None:
        calls.append(1)
        if len(calls) == 4:  # the 2nd step (the first beats come from the loading phase)
            os.kill(os.getpid(), signal.SIGTERM)

    monkeypatch.setattr(
        "mlops_training.entrypoint.heartbeat_from_env", lambda env: heartbeat_that_gets_preempted
    )
    previous = signal.getsignal(signal.SIGTERM)
    try:
        assert main(["train", "--root", str(root)]) == 1
        failure = (root / "output" / "failure").read_text()
        assert "stopped at step 2/9: signal SIGTERM (Spot interruption or StopTrainingJob)" in failure
        assert [p.name for p in complete_checkpoints(root / "checkpoints")] == ["step-00000002"]
        monkeypatch.setattr("mlops_training.entrypoint.heartbeat_from_env", lambda env: lambda: None)
        assert main(["train", "--root", str(root)]) == 0
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert not (root / "output" / "failure").exists()
    meta = json.loads(
        extract(root / "model" / "model.tar.gz", root / "x").joinpath("metadata.json").read_text()
    )
    assert meta["training"]["resumed_from_step"] == 2
    assert meta["training"]["steps"] == 9


def test_a_malformed_line_fails_the_job_naming_file_line_and_reason(make_root: MakeRoot) -> None:
    """Through the container command itself, as SageMaker and the local backend run it."""
    lines = [json.dumps({"question": "Q?", "context": "C.", "answer": "A."})] * 4
    lines[2] = '{"question": "Q?", "context": "C.", "answer": "A."'
    root = make_root(raw_lines=lines)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SM_", "TASK_TOKEN", "MLFLOW_"))}
    done = subprocess.run(
        [sys.executable, "-m", "mlops_training", "train", "--root", str(root)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    failure = (root / "output" / "failure").read_text()
    assert failure == (
        "invalid training data: train.jsonl, line 3: not valid JSON: Expecting ',' delimiter at column 51"
    )
    assert not (root / "model" / "model.tar.gz").exists()


def test_bad_hyperparameters_fail_the_job(make_root: MakeRoot) -> None:
    root = make_root(lora_r=0)
    assert main(["--root", str(root)]) == 1
    assert (root / "output" / "failure").read_text() == (
        "invalid hyperparameters: lora_r: Input should be greater than or equal to 1"
    )


def test_the_runtime_limit_stops_with_a_checkpoint(make_root: MakeRoot) -> None:
    root = make_root(max_runtime_seconds=60)
    with pytest.raises(
        TrainingInterrupted, match=r"step 0/18: max_runtime_seconds=60 reached; checkpoint step-00000000"
    ):
        run_job(ContainerPaths.under(root), env={}, started=time.monotonic() - 60)


def test_chat_data_and_mlflow(make_root: MakeRoot, chat_rows: list[Any], tmp_path: Path) -> None:
    """A chat-format job without packing, metrics to an MLflow server (a SQLite-backed store)."""
    import mlflow

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    root = make_root(chat_rows, epochs=1, packing=False, experiment_name="chat-exp")
    env = {"MLFLOW_TRACKING_URI": uri, "MLFLOW_UI_URL": "https://mlflow.example.com/"}
    result = run_job(ContainerPaths.under(root), env=env)
    assert result.metadata["dataset"]["format"] == "chat"
    # the batch counts examples: 12 conversations, batch 4, one epoch
    assert result.metadata["training"]["batch"] == "examples"
    assert result.train.total_steps == len(chat_rows) // 4
    client = mlflow.MlflowClient(tracking_uri=uri)
    (run,) = client.search_runs([client.get_experiment_by_name("chat-exp").experiment_id])
    assert run.info.status == "FINISHED"
    assert run.info.run_name == "run-7"
    assert run.data.params["lora_r"] == "8"
    assert run.data.tags["run_id"] == "7"
    history = client.get_metric_history(run.info.run_id, "train_loss")
    assert [m.step for m in history] == list(range(1, result.train.total_steps + 1))
    assert run.data.metrics["train_tokens_per_second"] > 0
    # the MLflow run is linked from the platform's run (the training result)
    written = json.loads((root / "output" / "data" / "training-result.json").read_text())
    experiment = run.info.experiment_id
    assert written["metrics"]["mlflow"] == {
        "run_id": run.info.run_id,
        "experiment_id": experiment,
        "url": f"https://mlflow.example.com/#/experiments/{experiment}/runs/{run.info.run_id}",
    }
