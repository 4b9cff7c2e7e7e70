"""One training job, from the container's inputs to its outputs.

Order matters for failing fast: hyperparameters, then every line of the dataset, then the tokenizer
and the chat template, and only then the (large) model.
"""

from __future__ import annotations

import logging
import os
import platform
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mlops_contracts.datasets import DatasetFormat
from mlops_contracts.hub_token import install_hub_token
from mlops_training import artifacts
from mlops_training.config import ConfigError, JobConfig, parse_job_config
from mlops_training.contract import ContainerPaths
from mlops_training.data import QA_PROMPT_TEMPLATE, TokenizedData, TrainingRows, read_rows, tokenize
from mlops_training.heartbeat import Heartbeat, keep_alive, no_heartbeat
from mlops_training.hub import check_hub_model
from mlops_training.loop import LoraTrainer, StepInfo, StopRequest, TrainResult, fingerprint
from mlops_training.metrics import MetricsSink
from mlops_training.progress import reporter_from_env
from mlops_training.result import training_result, write_result

log = logging.getLogger(__name__)

MODEL_CHANNEL = "model"
TRAIN_CHANNEL = "train"


@dataclass
class JobResult:
    output: Path  # model.tar.gz (tar layout) or the model folder (dir layout)
    metadata: dict[str, Any]
    train: TrainResult


@dataclass(frozen=True)
class ModelSource:
    location: str  # what from_pretrained receives
    revision: str | None
    kind: str  # channel | s3 | path | hub


def load_config(paths: ContainerPaths) -> JobConfig:
    import json

    file = paths.hyperparameters_file
    if not file.exists():
        raise ConfigError(f"{file} is missing")
    try:
        raw = json.loads(file.read_text())
    except ValueError as exc:
        raise ConfigError(f"hyperparameters.json is not valid JSON: {exc}") from None
    return parse_job_config(raw)


def download_s3_prefix(uri: str, dest: Path) -> Path:
    from mlops_contracts.aws import aws_client
    from mlops_contracts.safe_files import UnsafePathError, download_s3_prefix

    bucket, _, prefix = uri.removeprefix("s3://").partition("/")
    try:
        found = download_s3_prefix(aws_client("s3"), bucket, prefix, dest)
    except UnsafePathError as exc:
        raise ConfigError(f"model_id {uri}: refused, {exc}") from None
    if not found:
        raise ConfigError(f"model_id {uri}: no object under that prefix")
    return dest


def resolve_model_source(model_id: str, paths: ContainerPaths, env: Mapping[str, str]) -> ModelSource:
    channel = paths.channel(MODEL_CHANNEL, env)
    if (channel / "config.json").exists():
        return ModelSource(str(channel), None, "channel")
    if model_id.startswith("s3://"):
        work = paths.root / "work" if os.access(paths.root, os.W_OK) else Path(tempfile.mkdtemp())
        folder = download_s3_prefix(model_id, work / "base-model")
        return ModelSource(str(folder), None, "s3")
    if model_id.startswith("/"):
        return ModelSource(model_id, None, "path")
    name, _, revision = model_id.partition("@")
    return ModelSource(name, revision or None, "hub")


def check_model_id(model_id: str, paths: ContainerPaths, env: Mapping[str, str]) -> None:
    """A Hub model the Hub refuses (gated, private, missing) fails the job now, saying which,
    before anything is downloaded (mlops_training.hub)."""
    if model_id.startswith(("s3://", "/")) or (paths.channel(MODEL_CHANNEL, env) / "config.json").exists():
        return
    name, _, revision = model_id.partition("@")
    check_hub_model(name, revision or None, env)


def _versions() -> dict[str, str]:
    import peft
    import torch
    import transformers

    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "peft": peft.__version__,
    }


def run_job(
    paths: ContainerPaths,
    *,
    heartbeat: Heartbeat = no_heartbeat,
    env: Mapping[str, str] | None = None,
    stop: StopRequest | None = None,
    on_step: Callable[[StepInfo], None] | None = None,
    layout: str = "auto",
    started: float | None = None,
) -> JobResult:
    env = os.environ if env is None else env
    started = time.monotonic() if started is None else started
    paths.make_dirs()
    paths.failure_file.unlink(missing_ok=True)
    config = load_config(paths)
    hp = config.hyperparameters
    # the Hugging Face token, read from Secrets Manager by its id into this process only
    install_hub_token(env)
    rows = read_rows(paths.channel(TRAIN_CHANNEL, env))
    log.info("dataset: %d %s rows, sha256 %s", len(rows.rows), rows.format, rows.sha256)
    check_model_id(config.model_id, paths, env)

    import torch
    from transformers import set_seed

    from mlops_training import gpu_fit, modeling

    set_seed(hp.seed)
    device = modeling.pick_device()
    precision = modeling.select_precision(device)
    quantization = modeling.quantization_config(hp, device, precision)  # qlora without CUDA fails here
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    with keep_alive(heartbeat):
        source = resolve_model_source(config.model_id, paths, env)
        tokenizer = modeling.load_tokenizer(source.location, revision=source.revision)
        tokenized = tokenize(rows, tokenizer, hp.max_seq_length)
        log.info(
            "%d examples (%d truncated, %d skipped), %d tokens",
            len(tokenized.examples),
            tokenized.truncated,
            tokenized.skipped,
            tokenized.tokens,
        )
        attn = modeling.resolve_attention(hp, device)
        if device.type == "cuda":  # a run that cannot fit this GPU fails now, not at the first OOM
            gpu_fit.check_cuda_fit(config, source.location, source.revision)
        model = modeling.load_base_model(
            source.location,
            device,
            attn,
            revision=source.revision,
            precision=precision,
            quantization=quantization,
        )
    prepared = modeling.prepare_for_training(model, hp, device, attn)
    model, loss, liger, compiled = prepared.model, prepared.loss, prepared.liger, prepared.compiled
    trainable, total = model.get_nb_trainable_parameters()

    run_fingerprint = fingerprint(
        {"model": config.model_id, "dataset": rows.sha256, "hyperparameters": hp.fingerprint_fields()}
    )
    reserve = min(300.0, 0.1 * hp.max_runtime_seconds)
    sink = MetricsSink()
    trainer = LoraTrainer(
        model,
        tokenized.examples,
        hp,
        device=device,
        loss=loss,
        pad_id=tokenizer.pad_token_id,
        checkpoint_dir=paths.checkpoints,
        run_fingerprint=run_fingerprint,
        metrics=sink,
        heartbeat=heartbeat,
        stop=stop,
        deadline=started + hp.max_runtime_seconds - reserve,
        on_step=on_step,
        static_shapes=compiled,
        precision=precision,
    )
    trainer.maybe_resume()
    sink.start_mlflow(
        env.get("MLFLOW_TRACKING_URI"),
        experiment=config.experiment_name or env.get("MLFLOW_EXPERIMENT_NAME") or "training",
        run_name=f"run-{config.run_id}" if config.run_id else None,
        params={"model_id": config.model_id, "dataset_sha256": rows.sha256, **hp.model_dump()},
        tags={"run_id": config.run_id or "", "dataset_sha256": rows.sha256},
        resume_run_id=trainer.progress.mlflow_run_id,
    )
    trainer.progress.mlflow_run_id = sink.mlflow_run_id
    mlflow_link = sink.mlflow_link(env.get("MLFLOW_TRACKING_URI"), env.get("MLFLOW_UI_URL"))
    reporter = reporter_from_env(config.run_id, env, mlflow=lambda: mlflow_link)
    if reporter is not None:
        reporter.start(trainer.resumed_from_step)
        trainer.on_step = _both(on_step, reporter)
    log.info(
        "training: %d steps (%d epochs x %d), device %s, attention %s, liger %s, compile %s, "
        "LoRA %d/%d trainable parameters, resumed at step %d",
        trainer.total_steps,
        hp.epochs,
        trainer.steps_per_epoch,
        device,
        attn,
        liger,
        compiled,
        trainable,
        total,
        trainer.resumed_from_step,
    )
    try:
        result = trainer.train()
    except BaseException:
        sink.finish("KILLED" if stop is not None and stop.reason else "FAILED")
        raise

    summary = {
        "train_loss": result.final_loss,
        "train_runtime_seconds": result.runtime_seconds,
        "train_tokens_per_second": result.tokens_per_second,
        "train_steps": float(result.steps),
        **{f"epoch_{i + 1}_loss": v for i, v in enumerate(result.epoch_losses)},
    }
    if result.peak_gpu_memory_gb is not None:
        summary["peak_gpu_memory_gb"] = result.peak_gpu_memory_gb
    metadata = build_metadata(
        config,
        rows,
        tokenized,
        source=source,
        result=result,
        summary=summary,
        runtime={
            "device": str(device),
            "dtype": precision.name,
            "grad_scaler": precision.grad_scaler,
            "qlora": hp.qlora,
            "attn_implementation": attn,
            "packing": hp.packing,
            "batch": "examples",  # batch_size counts examples, packed or not
            "liger_kernels": liger,
            "torch_compile": compiled,
            "direct_head_loss": loss.setup.direct_head,
            "lora_target_modules": modeling.target_modules(model.get_base_model(), hp.lora_target_modules),
            "trainable_parameters": trainable,
            "total_parameters": total,
        },
    )
    chosen = artifacts.choose_layout(layout, env)
    staging = paths.output / "artifact-staging"
    with keep_alive(heartbeat):
        import shutil

        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        artifacts.save_adapter(
            model, tokenizer, staging / artifacts.ADAPTER_DIR, base_model_id=config.model_id
        )
        if hp.merge_weights:
            artifacts.save_merged(model, tokenizer, staging / artifacts.MERGED_DIR)
        metadata["artifact"] = {
            "adapter": f"{artifacts.ADAPTER_DIR}/",
            "merged": f"{artifacts.MERGED_DIR}/" if hp.merge_weights else None,
        }
        meta_path = artifacts.write_metadata(staging, metadata)
        # what the dispatcher records on the run (mlops_training.result)
        write_result(
            paths.output_data,
            training_result(summary, result.history, result.epoch_losses, mlflow=mlflow_link),
        )
        sink.summary(summary)
        sink.log_artifact(str(meta_path))
        output = artifacts.finalize(staging, paths.model, chosen, summary)
    sink.finish("FINISHED")
    log.info("wrote %s", output)
    return JobResult(output=output, metadata=metadata, train=result)


def _both(
    first: Callable[[StepInfo], None] | None, second: Callable[[StepInfo], None]
) -> Callable[[StepInfo], None]:
    if first is None:
        return second

    def call(info: StepInfo) -> None:
        first(info)
        second(info)

    return call


def build_metadata(
    config: JobConfig,
    rows: TrainingRows,
    tokenized: TokenizedData,
    *,
    source: ModelSource,
    result: TrainResult,
    summary: dict[str, float],
    runtime: dict[str, Any],
) -> dict[str, Any]:
    hp = config.hyperparameters
    prompt: dict[str, Any] = {"format": rows.format.value}
    if rows.format is DatasetFormat.QA:
        prompt |= {
            "template": QA_PROMPT_TEMPLATE,
            "fields": ["context", "question"],
            "bos": True,
            "stop": "eos",
        }
    else:
        prompt |= {"template": "tokenizer chat template", "add_generation_prompt": True}
    return {
        "schema_version": 1,
        "created_at": datetime.now(UTC).isoformat(),
        "run_id": config.run_id,
        "experiment_name": config.experiment_name,
        "base_model": config.model_id,
        "base_model_source": source.kind,
        "dataset": {
            "format": rows.format.value,
            "sha256": rows.sha256,
            "files": [asdict(f) for f in rows.files],
            "rows": len(rows.rows),
            "examples": len(tokenized.examples),
            "truncated": tokenized.truncated,
            "skipped": tokenized.skipped,
            "tokens": tokenized.tokens,
            "target_tokens": tokenized.target_tokens,
        },
        "hyperparameters": hp.model_dump(),
        "lora": {
            "r": hp.lora_r,
            "alpha": hp.lora_alpha,
            "dropout": hp.lora_dropout,
            "target_modules": runtime.pop("lora_target_modules"),
        },
        "training": {**runtime, "steps": result.steps, "resumed_from_step": result.resumed_from_step},
        "metrics": {**summary, "epoch_losses": result.epoch_losses},
        "prompt": prompt,
        "versions": _versions(),
    }
