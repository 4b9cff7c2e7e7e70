"""GPU instance types and the memory a LoRA / QLoRA training run needs: one table, one estimate.

The API refuses a run that cannot fit before any GPU time is paid for (POST /runs answers 422), the
dashboard's launch form shows the same estimate, and the training worker uses the same table to pick
its precision. The estimate works from a model's `config.json` fields (a plain dict): the API does not
install transformers or download models, so for a hub id it uses the shapes of `KNOWN_SHAPES` (or a
local `config.json`); a model it cannot shape is not refused (nothing to estimate from).

Where the memory goes (bytes; b = batch, s = sequence, h = hidden size, i = MLP width, L = layers,
V = vocabulary, kv = key/value width), calibrated on H100 against the plain recipe (HF Trainer + peft,
bf16, SDPA, every token trained; see tests/test_gpu_sizing.py for the measured figures):
- frozen base weights: 2 per parameter in bf16/fp16; with QLoRA the decoder's linear weights are
  4-bit NF4 (0.5 per parameter plus ~0.016 for the double-quantised block scales), embeddings, the
  LM head and norms stay 16-bit, and one linear layer at a time is dequantised to 16-bit;
- LoRA: fp32 weights (peft upcasts adapters), fp32 gradients and AdamW's two fp32 moments: 16 per
  LoRA parameter;
- activations saved for backward, per token and layer (LoRA on every linear layer, base weights
  frozen so their inputs need not be saved, flash/memory-efficient SDPA so no s x s scores):
  2 RMSNorms keep their fp32 input (8h); 7 LoRA branches keep a dropout mask (1 byte) and the 16-bit
  dropped input (2 bytes) of their input width (q, k, v, o, gate, up: 3h each = 18h; down: 3i);
  attention keeps q and its output (4h) and k, v (4kv); SwiGLU keeps gate, silu(gate) and up (6i):
  30h + 4kv + 9i in all;
- with gradient checkpointing only each layer's 16-bit input is kept (2h per layer), plus one
  layer's full activations while it is recomputed;
- the loss: the plain recipe holds the whole [b*s x V] logits: 16-bit logits in the output (2), the
  fp32 log-softmax saved for backward (4), and at the start of backward its fp32 gradient and the
  gradient of its input (4 + 4): 14 per logit. The worker's chunked loss holds less (modeling.py),
  so for the worker the estimate errs high: it may refuse a configuration that would just fit, never
  let through one the plain recipe measured to overflow.
A configuration fits when the estimate is within `USABLE_FRACTION` of one GPU's memory: the CUDA
context, cuBLAS workspaces and allocator fragmentation are not in the measured peak. The worker trains
on one GPU: a multi-GPU instance gives it no more memory per GPU.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Annotated, Any

from pydantic import AfterValidator, Field

GIB = 2**30
USABLE_FRACTION = 0.9
DEFAULT_TRAINING_INSTANCE = "ml.g5.2xlarge"  # one A10G (24 GB, bf16): a 7B LoRA with the defaults fits


@dataclass(frozen=True)
class GpuInstance:
    name: str
    gpu: str
    gpu_count: int
    memory_gib: float  # per GPU, as nvidia-smi reports it (below the marketed GB)
    bf16: bool  # native bf16 (Ampere and later); T4 and V100 train in fp16 with loss scaling

    @property
    def usable_gib(self) -> float:
        return self.memory_gib * USABLE_FRACTION

    def describe(self) -> str:
        gpus = f"{self.gpu_count} x {self.gpu}" if self.gpu_count > 1 else f"one {self.gpu}"
        return f"{self.name} ({gpus}, {self.memory_gib:g} GiB per GPU)"


def _family(
    prefix: str, sizes: Mapping[str, int], gpu: str, memory_gib: float, bf16: bool
) -> dict[str, GpuInstance]:
    return {
        f"ml.{prefix}.{size}": GpuInstance(f"ml.{prefix}.{size}", gpu, count, memory_gib, bf16)
        for size, count in sizes.items()
    }


_SINGLE = {"xlarge": 1, "2xlarge": 1, "4xlarge": 1, "8xlarge": 1, "16xlarge": 1}

# SageMaker's GPU instance types for training and inference (the AWS instance-type pages; memory per
# GPU as the driver reports it: T4 15 GiB, V100 16 GB 15.8, A10G/L4 22.5, L40S 45, A100 40/80,
# H100 79.6, H200 140.4).
GPU_INSTANCES: dict[str, GpuInstance] = {
    **_family("g4dn", {**_SINGLE, "12xlarge": 4}, "NVIDIA T4", 15.0, False),
    **_family("g5", {**_SINGLE, "12xlarge": 4, "24xlarge": 4, "48xlarge": 8}, "NVIDIA A10G", 22.5, True),
    **_family("g6", {**_SINGLE, "12xlarge": 4, "24xlarge": 4, "48xlarge": 8}, "NVIDIA L4", 22.5, True),
    **_family("g6e", {**_SINGLE, "12xlarge": 4, "24xlarge": 4, "48xlarge": 8}, "NVIDIA L40S", 45.0, True),
    **_family("p3", {"2xlarge": 1, "8xlarge": 4, "16xlarge": 8}, "NVIDIA V100", 15.8, False),
    **_family("p3dn", {"24xlarge": 8}, "NVIDIA V100 32GB", 31.7, False),
    **_family("p4d", {"24xlarge": 8}, "NVIDIA A100 40GB", 39.4, True),
    **_family("p4de", {"24xlarge": 8}, "NVIDIA A100 80GB", 79.2, True),
    **_family("p5", {"48xlarge": 8}, "NVIDIA H100", 79.6, True),
    **_family("p5e", {"48xlarge": 8}, "NVIDIA H200", 140.4, True),
    **_family("p5en", {"48xlarge": 8}, "NVIDIA H200", 140.4, True),
}

# What a refused run is offered, cheapest first: one GPU each, then the 8-GPU machines (of which the
# worker uses one GPU).
UPGRADE_ORDER = (
    "ml.g4dn.xlarge",
    "ml.g5.2xlarge",
    "ml.g6e.2xlarge",
    "ml.p4d.24xlarge",
    "ml.p4de.24xlarge",
    "ml.p5e.48xlarge",
)


class SizingError(ValueError):
    """The configuration cannot be sized (unknown instance type, unusable model config)."""


def instance(name: str) -> GpuInstance:
    try:
        return GPU_INSTANCES[name]
    except KeyError:
        raise SizingError(
            f"instance_type {name!r} is not a SageMaker GPU instance type this platform knows "
            f"(e.g. {', '.join(UPGRADE_ORDER[:3])})"
        ) from None


def _check_instance_type(value: str) -> str:
    instance(value)
    return value


# The `instance_type` hyperparameter, one type for the API and the worker (their fields must agree).
InstanceType = Annotated[
    str,
    Field(
        min_length=1,
        max_length=32,
        description="SageMaker GPU instance type the job trains on (one GPU of it is used)",
        examples=[DEFAULT_TRAINING_INSTANCE],
    ),
    AfterValidator(_check_instance_type),
]


# --- model shapes -------------------------------------------------------------------------------

_MISTRAL_7B = {
    "model_type": "mistral",
    "vocab_size": 32000,
    "hidden_size": 4096,
    "intermediate_size": 14336,
    "num_hidden_layers": 32,
    "num_attention_heads": 32,
    "num_key_value_heads": 8,
    "tie_word_embeddings": False,
}
_LLAMA2_7B = {**_MISTRAL_7B, "model_type": "llama", "intermediate_size": 11008, "num_key_value_heads": 32}
_LLAMA3_8B = {**_MISTRAL_7B, "model_type": "llama", "vocab_size": 128256}
_QWEN25_05B = {
    "model_type": "qwen2",
    "vocab_size": 151936,
    "hidden_size": 896,
    "intermediate_size": 4864,
    "num_hidden_layers": 24,
    "num_attention_heads": 14,
    "num_key_value_heads": 2,
    "tie_word_embeddings": True,
}
_QWEN25_15B = {
    **_QWEN25_05B,
    "hidden_size": 1536,
    "intermediate_size": 8960,
    "num_hidden_layers": 28,
    "num_attention_heads": 12,
}
_QWEN25_7B = {
    **_QWEN25_05B,
    "vocab_size": 152064,
    "hidden_size": 3584,
    "intermediate_size": 18944,
    "num_hidden_layers": 28,
    "num_attention_heads": 28,
    "num_key_value_heads": 4,
    "tie_word_embeddings": False,
}

# config.json fields of hub models the API cannot download (gated, or simply not worth fetching on
# every POST /runs); lower-case ids, revision stripped.
KNOWN_SHAPES: dict[str, dict[str, Any]] = {
    "mistralai/mistral-7b-v0.1": _MISTRAL_7B,
    "mistralai/mistral-7b-instruct-v0.2": _MISTRAL_7B,
    "mistralai/mistral-7b-instruct-v0.3": {**_MISTRAL_7B, "vocab_size": 32768},
    "mistralai/mistral-7b-v0.3": {**_MISTRAL_7B, "vocab_size": 32768},
    "meta-llama/llama-2-7b-hf": _LLAMA2_7B,
    "meta-llama/llama-2-7b-chat-hf": _LLAMA2_7B,
    "meta-llama/meta-llama-3-8b": _LLAMA3_8B,
    "meta-llama/meta-llama-3-8b-instruct": _LLAMA3_8B,
    "meta-llama/llama-3.1-8b": _LLAMA3_8B,
    "meta-llama/llama-3.1-8b-instruct": _LLAMA3_8B,
    "qwen/qwen2.5-0.5b": _QWEN25_05B,
    "qwen/qwen2.5-0.5b-instruct": _QWEN25_05B,
    "qwen/qwen2-0.5b": _QWEN25_05B,
    "qwen/qwen2.5-1.5b": _QWEN25_15B,
    "qwen/qwen2.5-1.5b-instruct": _QWEN25_15B,
    "qwen/qwen2.5-7b": _QWEN25_7B,
    "qwen/qwen2.5-7b-instruct": _QWEN25_7B,
}


def model_config_for(model_id: str) -> dict[str, Any] | None:
    """The config.json fields for a model id: a known hub shape, or the config.json of a local
    folder; None when neither is at hand (an s3:// prefix, an unknown hub id)."""
    known = KNOWN_SHAPES.get(model_id.split("@", 1)[0].lower())
    if known is not None:
        return dict(known)
    if model_id.startswith("/"):
        file = Path(model_id) / "config.json"
        if file.is_file():
            try:
                loaded = json.loads(file.read_text())
            except ValueError:
                return None
            return loaded if isinstance(loaded, dict) else None
    return None


@dataclass(frozen=True)
class ModelShape:
    vocab_size: int
    hidden_size: int
    intermediate_size: int
    num_layers: int
    num_heads: int
    num_kv_heads: int
    tied_embeddings: bool

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> ModelShape:
        """From config.json fields (llama-style names; GPT-2/NeoX aliases accepted)."""
        text = config.get("text_config")
        if isinstance(text, Mapping):  # multimodal wrappers keep the decoder's fields here
            config = {**config, **text}

        def field(*names: str, default: Any = None) -> Any:
            for name in names:
                if config.get(name) is not None:
                    return config[name]
            if default is None:
                raise SizingError(f"the model config has no {names[0]}")
            return default

        try:
            hidden = int(field("hidden_size", "n_embd", "d_model"))
            heads = int(field("num_attention_heads", "n_head"))
            shape = cls(
                vocab_size=int(field("vocab_size")),
                hidden_size=hidden,
                intermediate_size=int(field("intermediate_size", "n_inner", "ffn_dim", default=4 * hidden)),
                num_layers=int(field("num_hidden_layers", "n_layer", "num_layers")),
                num_heads=heads,
                num_kv_heads=int(field("num_key_value_heads", default=heads)),
                tied_embeddings=bool(config.get("tie_word_embeddings", True)),
            )
        except (TypeError, ValueError) as exc:
            if isinstance(exc, SizingError):
                raise
            raise SizingError(f"the model config has a non-numeric size: {exc}") from None
        if min(shape.vocab_size, shape.hidden_size, shape.num_layers, shape.num_heads) <= 0:
            raise SizingError("the model config has a zero or negative size")
        return shape

    @property
    def head_dim(self) -> int:
        return self.hidden_size // self.num_heads

    @property
    def kv_width(self) -> int:
        return self.num_kv_heads * self.head_dim

    def linear_shapes(self) -> list[tuple[int, int]]:
        """(in, out) of each linear layer of one decoder block: q, k, v, o, gate, up, down."""
        h, kv, i = self.hidden_size, self.kv_width, self.intermediate_size
        return [(h, h), (h, kv), (h, kv), (h, h), (h, i), (h, i), (i, h)]

    @property
    def layer_linear_params(self) -> int:
        return sum(a * b for a, b in self.linear_shapes())

    @property
    def embedding_params(self) -> int:
        tables = 1 if self.tied_embeddings else 2  # input embeddings (+ an untied LM head)
        return tables * self.vocab_size * self.hidden_size

    @property
    def parameters(self) -> int:
        """Decoder linear weights + 2 norms per layer + embeddings (+ head) + the final norm; the
        q/k/v biases some families have (Qwen2) are a rounding error here."""
        h = self.hidden_size
        return self.num_layers * (self.layer_linear_params + 2 * h) + self.embedding_params + h

    def lora_parameters(self, r: int) -> int:
        return self.num_layers * sum(r * (a + b) for a, b in self.linear_shapes())


# --- the estimate -------------------------------------------------------------------------------


@dataclass(frozen=True)
class TrainingSetup:
    batch_size: int = 4
    max_seq_length: int = 1024
    lora_r: int = 16
    qlora: bool = False
    gradient_checkpointing: bool = True
    gradient_accumulation_steps: int = 1  # no memory of its own; kept when a smaller batch is offered

    @classmethod
    def from_hyperparameters(cls, hp: Mapping[str, Any]) -> TrainingSetup:
        fields = cls.__dataclass_fields__
        return cls(**{k: hp[k] for k in fields if k in hp})


@dataclass(frozen=True)
class MemoryEstimate:
    weights: int
    lora_state: int
    activations: int
    logits: int
    parameters: int

    @property
    def total(self) -> int:
        return self.weights + self.lora_state + self.activations + self.logits

    @property
    def total_gib(self) -> float:
        return self.total / GIB

    def breakdown(self) -> str:
        parts = {
            "weights": self.weights,
            "LoRA + optimizer": self.lora_state,
            "activations": self.activations,
            "logits": self.logits,
        }
        return ", ".join(f"{k} {v / GIB:.1f}" for k, v in parts.items())


_NF4_BYTES = 0.5 + 0.016  # 4-bit weights + double-quantised absmax per 64-value block
_LORA_STATE_BYTES = 16  # fp32 weight, gradient, AdamW exp_avg and exp_avg_sq
_LOGIT_BYTES = 14


def estimate(shape: ModelShape, setup: TrainingSetup) -> MemoryEstimate:
    """Peak GPU memory of one training step (see the module docstring for each term)."""
    h, kv, i, layers = shape.hidden_size, shape.kv_width, shape.intermediate_size, shape.num_layers
    linear = layers * shape.layer_linear_params
    if setup.qlora:
        biggest = max(a * b for a, b in shape.linear_shapes())
        weights = int(linear * _NF4_BYTES) + 2 * (shape.parameters - linear) + 2 * biggest
    else:
        weights = 2 * shape.parameters
    tokens = setup.batch_size * setup.max_seq_length
    per_layer = (30 * h + 4 * kv + 9 * i) * tokens
    activations = layers * 2 * h * tokens + per_layer if setup.gradient_checkpointing else layers * per_layer
    return MemoryEstimate(
        weights=weights,
        lora_state=_LORA_STATE_BYTES * shape.lora_parameters(setup.lora_r),
        activations=activations,
        logits=_LOGIT_BYTES * tokens * shape.vocab_size,
        parameters=shape.parameters,
    )


@dataclass(frozen=True)
class Fix:
    """A change that makes the run fit: hyperparameter values and the estimate with them."""

    changes: dict[str, Any]
    estimate_gib: float

    def describe(self) -> str:
        values = ", ".join(f"{k}={_show(v)}" for k, v in self.changes.items())
        return f"{values} (~{self.estimate_gib:.1f} GiB)"


def _show(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


@dataclass(frozen=True)
class SizingVerdict:
    model_id: str
    instance: GpuInstance
    setup: TrainingSetup
    estimate: MemoryEstimate
    fixes: list[Fix]

    @property
    def fits(self) -> bool:
        return self.estimate.total_gib <= self.instance.usable_gib

    def message(self) -> str:
        s = self.setup
        recipe = (
            f"{'QLoRA (4-bit NF4)' if s.qlora else 'LoRA'} r={s.lora_r}, batch {s.batch_size} x "
            f"{s.max_seq_length} tokens, gradient checkpointing {'on' if s.gradient_checkpointing else 'off'}"
        )
        head = (
            f"estimated peak GPU memory {self.estimate.total_gib:.1f} GiB for {self.model_id} "
            f"({self.estimate.parameters / 1e9:.2f}B parameters; {recipe}; "
            f"GiB: {self.estimate.breakdown()})"
        )
        if self.fits:
            return f"{head} fits {self.instance.describe()}"
        room = f"{self.instance.usable_gib:.1f} GiB usable of {self.instance.memory_gib:g} GiB"
        text = f"{head} does not fit {self.instance.describe()}: {room}"
        if self.fixes:
            text += ". Configurations that fit: " + "; ".join(f.describe() for f in self.fixes)
        return text


def check(
    model_id: str, config: Mapping[str, Any], instance_type: str | GpuInstance, setup: TrainingSetup
) -> SizingVerdict:
    """The estimate against the instance's memory and, when it does not fit, what would: QLoRA,
    gradient checkpointing, a smaller batch (gradient accumulation keeping the examples per step),
    a larger instance."""
    gpu = instance_type if isinstance(instance_type, GpuInstance) else instance(instance_type)
    shape = ModelShape.from_config(config)
    found = estimate(shape, setup)
    fixes: list[Fix] = []
    if found.total_gib > gpu.usable_gib:
        fixes = _fixes(shape, setup, gpu)
    return SizingVerdict(model_id, gpu, setup, found, fixes)


def _fixes(shape: ModelShape, setup: TrainingSetup, gpu: GpuInstance) -> list[Fix]:
    def fits(candidate: TrainingSetup, on: GpuInstance = gpu) -> float | None:
        gib = estimate(shape, candidate).total_gib
        return gib if gib <= on.usable_gib else None

    fixes: list[Fix] = []
    memory_savers: list[dict[str, Any]] = []
    if not setup.gradient_checkpointing:
        memory_savers.append({"gradient_checkpointing": True})
    if not setup.qlora:
        memory_savers.append({"qlora": True})
        if not setup.gradient_checkpointing:
            memory_savers.append({"qlora": True, "gradient_checkpointing": True})
    for changes in memory_savers:
        gib = fits(replace(setup, **changes))
        if gib is not None:
            fixes.append(Fix(changes, gib))
            break
    for batch in range(setup.batch_size - 1, 0, -1):
        gib = fits(replace(setup, batch_size=batch))
        if gib is not None:
            accumulate = setup.gradient_accumulation_steps * -(-setup.batch_size // batch)
            fixes.append(Fix({"batch_size": batch, "gradient_accumulation_steps": accumulate}, gib))
            break
    for name in UPGRADE_ORDER:
        bigger = GPU_INSTANCES[name]
        if bigger.memory_gib <= gpu.memory_gib:
            continue
        gib = fits(setup, bigger)
        if gib is not None:
            fixes.append(Fix({"instance_type": name}, gib))
            break
    return fixes
