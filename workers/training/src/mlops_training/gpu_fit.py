"""Before the weights are loaded: does this run fit the GPU it is on? The same estimate as POST /runs
(mlops_contracts.gpu_sizing), here from the model's own config.json (transformers' AutoConfig, so a
model the API could not shape - an s3:// prefix, an unknown hub id - is sized too) and against the
memory the driver reports, so a run that would run out of memory fails in seconds with the reason."""

from __future__ import annotations

from typing import Any

from mlops_contracts.gpu_sizing import GpuInstance, SizingError, TrainingSetup, check
from mlops_training.config import ConfigError, JobConfig


def require_fit(config: JobConfig, model_config: dict[str, Any], gpu: GpuInstance) -> None:
    setup = TrainingSetup.from_hyperparameters(config.hyperparameters.model_dump())
    try:
        verdict = check(config.model_id, model_config, gpu, setup)
    except SizingError as exc:
        raise ConfigError(f"model_id {config.model_id}: {exc}") from None
    if not verdict.fits:
        raise ConfigError(verdict.message())


def present_gpu(instance_type: str, name: str, total_bytes: int, bf16: bool) -> GpuInstance:
    """The GPU the job runs on (the local backend runs on whatever GPU it has), one of it used."""
    return GpuInstance(instance_type, name, 1, round(total_bytes / 2**30, 1), bf16)


def check_cuda_fit(config: JobConfig, source: str, revision: str | None) -> None:
    """On CUDA: the model's config.json against the current GPU's memory."""
    import torch
    from transformers import AutoConfig

    props = torch.cuda.get_device_properties(torch.cuda.current_device())
    model_config = AutoConfig.from_pretrained(source, revision=revision).to_dict()
    gpu = present_gpu(
        config.hyperparameters.instance_type, props.name, props.total_memory, torch.cuda.is_bf16_supported()
    )
    require_fit(config, model_config, gpu)
