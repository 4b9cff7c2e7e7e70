"""The training job's configuration: SageMaker's `hyperparameters.json`, parsed and validated.

The names and bounds of the hyperparameters a person sets are the API's (`mlops_api.runs.schemas.
Hyperparameters`; a test keeps both in step). The worker adds a few of its own, with defaults, that
only an operator sets. SageMaker passes every value as a string (and the dispatcher JSON-encodes
non-strings), so values are decoded before validation: "3" -> 3, "true" -> True, "\"x\"" -> "x".
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from mlops_contracts.gpu_sizing import DEFAULT_TRAINING_INSTANCE, InstanceType

# Keys the SageMaker SDK (or a managed estimator) may add; they are not ours to validate.
_SAGEMAKER_PREFIX = "sagemaker_"
JOB_KEYS = ("model_id", "run_id", "experiment_name")


def _tri_state(value: Any) -> Any:
    if isinstance(value, bool):
        return "true" if value else "false"
    return value.lower() if isinstance(value, str) else value


TriState = Annotated[Literal["auto", "true", "false"], BeforeValidator(_tri_state)]


class Hyperparameters(BaseModel):
    """Every knob of a training run. The first block mirrors the API's `Hyperparameters`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # --- the API's hyperparameters (same names, defaults and bounds) ---
    epochs: int = Field(default=3, ge=1, le=50)
    batch_size: int = Field(
        default=4, ge=1, le=512, description="Sequences per micro-batch (packed rows when packing)"
    )
    gradient_accumulation_steps: int = Field(default=1, ge=1, le=256)
    learning_rate: float = Field(default=2e-4, gt=0, le=1e-2)
    lora_r: int = Field(default=16, ge=1, le=512)
    lora_alpha: int = Field(default=32, ge=1, le=2048)
    lora_dropout: float = Field(default=0.05, ge=0, le=0.5)
    max_seq_length: int = Field(default=1024, ge=32, le=32768)
    warmup_ratio: float = Field(default=0.03, ge=0, le=0.5)
    seed: int = Field(default=42, ge=0, le=2**31 - 1)
    max_runtime_seconds: int = Field(default=3600, ge=60, le=5 * 24 * 3600)
    instance_type: InstanceType = DEFAULT_TRAINING_INSTANCE
    qlora: bool = Field(
        default=False, description="4-bit NF4 base weights (bitsandbytes, CUDA only), LoRA on top"
    )
    gradient_checkpointing: bool = Field(
        default=True, description="Recompute activations in backward: far less memory, ~30% more compute"
    )

    # --- worker-only ---
    checkpoint_steps: int = Field(
        default=100, ge=0, le=1_000_000, description="Checkpoint every N optimizer steps (0: only on stop)"
    )
    merge_weights: bool = Field(default=False, description="Also write the base weights merged with LoRA")
    packing: bool = Field(default=True, description="Pack examples into max_seq_length rows")
    lora_target_modules: str = Field(
        default="auto",
        pattern=r"^[\w.,-]+$",
        description="'auto' (per architecture, every linear layer), 'all-linear' or a comma list",
    )
    attn_implementation: Literal["auto", "sdpa", "flash_attention_2", "eager"] = "auto"
    torch_compile: TriState = Field(default="auto", description="auto: on for CUDA, off on CPU")
    liger_kernels: TriState = Field(default="auto", description="auto: when liger-kernel is importable")
    lr_scheduler: Literal["cosine", "linear", "constant"] = "cosine"
    weight_decay: float = Field(default=0.0, ge=0, le=1)
    max_grad_norm: float = Field(default=1.0, ge=0, le=1000, description="0 disables clipping")
    logging_steps: int = Field(default=10, ge=1, le=100_000)
    keep_checkpoints: int = Field(default=2, ge=1, le=100)

    def fingerprint_fields(self) -> dict[str, Any]:
        """What a checkpoint must agree with to be resumed (not the runtime or logging knobs)."""
        return self.model_dump(
            exclude={"max_runtime_seconds", "checkpoint_steps", "logging_steps", "keep_checkpoints"}
        )


class JobConfig(BaseModel):
    """hyperparameters.json: the run's identity plus its hyperparameters."""

    model_config = ConfigDict(
        extra="forbid", frozen=True, protected_namespaces=(), coerce_numbers_to_str=True
    )

    model_id: str = Field(min_length=1, max_length=512)
    run_id: str | None = Field(default=None, max_length=128)
    experiment_name: str | None = Field(default=None, max_length=128)
    hyperparameters: Hyperparameters = Field(default_factory=Hyperparameters)


class ConfigError(ValueError):
    """hyperparameters.json is unusable; the message says which key and why."""


def _decode(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    try:
        decoded = json.loads(value)
    except ValueError:
        return value
    return decoded if isinstance(decoded, str | int | float | bool) else value


def parse_job_config(raw: dict[str, Any]) -> JobConfig:
    """Validate SageMaker-style hyperparameters (strings) or native JSON values alike."""
    if not isinstance(raw, dict):
        raise ConfigError("hyperparameters.json must hold a JSON object")
    values = {k: _decode(v) for k, v in raw.items() if not k.startswith(_SAGEMAKER_PREFIX)}
    job = {k: values.pop(k) for k in JOB_KEYS if k in values}
    try:
        return JobConfig.model_validate({**job, "hyperparameters": values})
    except ValidationError as exc:
        parts = []
        for err in exc.errors(include_url=False, include_input=False):
            loc = [str(p) for p in err["loc"] if p != "hyperparameters"]
            parts.append(f"{'.'.join(loc) or 'hyperparameters'}: {err['msg']}")
        raise ConfigError("invalid hyperparameters: " + "; ".join(parts)) from None
