"""Loading the base model, LoRA, the optional fused kernels, and the loss.

Speed choices (CUDA), each switchable so the benchmark can measure it rather than assume it:
- bf16 weights, fp32 LoRA weights (peft's default upcast) under bf16 autocast; TF32 matmuls (fp16
  with a GradScaler on GPUs without bf16: `select_precision`); 4-bit NF4 base weights with qlora;
- attention: flash-attn 2's varlen kernel when the package is installed (packed rows flattened,
  cu_seqlens computed once per batch), else SDPA;
- loss: the LM head runs only on positions that have a target (prompt tokens are masked, and RAG
  prompts are most of the tokens), through Liger's fused linear cross-entropy when installed (no
  logits tensor at all), else through our plain-PyTorch equivalent (chunks of `chunk_tokens` rows
  whose gradients are computed in the forward pass), so the [tokens x vocab] logits never exist whole;
- Liger's RMSNorm, SwiGLU and RoPE kernels when installed;
- regional torch.compile (each decoder layer) when enabled.
On CPU everything falls back to plain fp32 PyTorch with the same loss code.
"""

from __future__ import annotations

import importlib.util
import logging
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from mlops_training.config import Hyperparameters
from mlops_training.packing import Batch

log = logging.getLogger(__name__)

# Every linear layer of the decoder blocks (LoRA's "all linear" default), named per architecture.
# Other architectures use peft's "all-linear" (every nn.Linear but the output head).
_LLAMA_LIKE = (
    "llama",
    "mistral",
    "mixtral",
    "qwen2",
    "qwen2_moe",
    "qwen3",
    "qwen3_moe",
    "gemma",
    "gemma2",
    "olmo2",
)
ARCH_TARGET_MODULES: dict[str, list[str]] = {
    **{
        arch: ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
        for arch in _LLAMA_LIKE
    },
    "phi3": ["qkv_proj", "o_proj", "gate_up_proj", "down_proj"],
    "gpt_neox": ["query_key_value", "dense", "dense_h_to_4h", "dense_4h_to_h"],
    "falcon": ["query_key_value", "dense", "dense_h_to_4h", "dense_4h_to_h"],
    "gpt2": ["c_attn", "c_proj", "c_fc"],
}

# Architectures whose logits are exactly `lm_head(last_hidden_state)` (no soft-capping or scaling):
# the loss may run the head itself on the target positions only.
DIRECT_HEAD_TYPES = frozenset({"llama", "mistral", "qwen2", "qwen3", "phi3", "gemma", "olmo2"})


def pick_device() -> torch.device:
    return torch.device("cuda") if torch.cuda.is_available() else torch.device("cpu")


@dataclass(frozen=True)
class Precision:
    """How the frozen weights are stored and the forward pass computes.

    bf16 where the GPU has it (Ampere and later); fp16 where it does not (T4, V100: the table in
    mlops_contracts.gpu_sizing), under autocast with a GradScaler, because fp16's narrow range
    underflows small gradients unless the loss is scaled up first; fp32 on CPU. LoRA weights, their
    gradients and the optimizer state stay fp32 everywhere (peft upcasts adapters)."""

    name: str
    dtype: torch.dtype  # frozen weights and autocast
    autocast: bool
    grad_scaler: bool


def select_precision(device: torch.device) -> Precision:
    if device.type != "cuda":
        return Precision("float32", torch.float32, autocast=False, grad_scaler=False)
    if torch.cuda.is_bf16_supported():
        return Precision("bfloat16", torch.bfloat16, autocast=True, grad_scaler=False)
    return Precision("float16", torch.float16, autocast=True, grad_scaler=True)


class QLoRAUnavailable(ValueError):
    """qlora=true where bitsandbytes' 4-bit CUDA kernels cannot run."""


def quantization_config(hp: Hyperparameters, device: torch.device, precision: Precision) -> Any:
    """QLoRA's base weights: 4-bit NF4 with double-quantised block scales, computing in the GPU's
    16-bit precision (transformers' BitsAndBytesConfig; None without qlora)."""
    if not hp.qlora:
        return None
    if device.type != "cuda":
        raise QLoRAUnavailable(
            "qlora=true needs a CUDA GPU: bitsandbytes' 4-bit NF4 kernels do not run on this machine's "
            f"{device.type}; train with qlora=false here, or on a GPU instance"
        )
    if importlib.util.find_spec("bitsandbytes") is None:
        raise QLoRAUnavailable("qlora=true needs the bitsandbytes package (the training image's gpu extra)")
    return nf4_config(precision.dtype)


def nf4_config(compute_dtype: torch.dtype) -> Any:
    from transformers import BitsAndBytesConfig

    return BitsAndBytesConfig(  # type: ignore[no-untyped-call]
        load_in_4bit=True,
        bnb_4bit_quant_type="nf4",
        bnb_4bit_use_double_quant=True,
        bnb_4bit_compute_dtype=compute_dtype,
    )


def flash_attn_available() -> bool:
    return importlib.util.find_spec("flash_attn") is not None


def liger_available() -> bool:
    return importlib.util.find_spec("liger_kernel") is not None


def _liger_transformers() -> Any:
    """liger_kernel.transformers (CUDA + Triton only: imported by name, never on CPU)."""
    return importlib.import_module("liger_kernel.transformers")


def resolve_attention(hp: Hyperparameters, device: torch.device) -> str:
    if hp.attn_implementation != "auto":
        if hp.attn_implementation == "flash_attention_2" and device.type != "cuda":
            raise ValueError("attn_implementation=flash_attention_2 needs a CUDA GPU")
        return hp.attn_implementation
    return "flash_attention_2" if device.type == "cuda" and flash_attn_available() else "sdpa"


def resolve_switch(value: str, *, available: bool, name: str) -> bool:
    """auto -> available; true -> must be available."""
    if value == "true" and not available:
        raise ValueError(f"{name}=true but it is not available on this machine")
    return available if value == "auto" else value == "true"


def load_tokenizer(source: str, *, revision: str | None = None) -> Any:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(source, revision=revision)
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def load_base_model(
    source: str,
    device: torch.device,
    attn_implementation: str,
    *,
    revision: str | None = None,
    precision: Precision | None = None,
    quantization: Any = None,
) -> Any:
    """The same from_pretrained for a hub id (production) and a local folder (tests, channel);
    `quantization` is quantization_config()'s BitsAndBytesConfig for QLoRA."""
    from transformers import AutoModelForCausalLM

    precision = precision or select_precision(device)
    model = AutoModelForCausalLM.from_pretrained(
        source,
        revision=revision,
        dtype=precision.dtype,
        attn_implementation=attn_implementation,
        device_map={"": device.index or 0} if device.type == "cuda" else None,
        quantization_config=quantization,
    )
    model.config.use_cache = False  # a KV cache would also switch off packed-sequence masking
    return model


def target_modules(model: Any, spec: str) -> list[str] | str:
    if spec == "auto":
        return ARCH_TARGET_MODULES.get(model.config.model_type, "all-linear")
    if spec == "all-linear":
        return "all-linear"
    return [name.strip() for name in spec.split(",") if name.strip()]


def apply_lora(model: Any, hp: Hyperparameters) -> Any:
    from peft import LoraConfig, get_peft_model

    config = LoraConfig(
        r=hp.lora_r,
        lora_alpha=hp.lora_alpha,
        lora_dropout=hp.lora_dropout,
        target_modules=target_modules(model, hp.lora_target_modules),
        bias="none",
        task_type="CAUSAL_LM",
    )
    return get_peft_model(model, config)


def apply_liger(model: Any) -> bool:
    """Liger's RMSNorm/SwiGLU/RoPE kernels on this model instance (the loss uses Liger's fused
    linear cross-entropy separately). False when the architecture is not supported."""
    try:
        liger = _liger_transformers()
        liger._apply_liger_kernel_to_instance(
            model=model,
            rope=True,
            rms_norm=True,
            swiglu=True,
            cross_entropy=False,
            fused_linear_cross_entropy=False,
        )
    except Exception as exc:
        log.warning("Liger kernels not applied to %s: %s", model.config.model_type, exc)
        return False
    return True


def decoder_layers(model: Any) -> list[nn.Module]:
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    layers = getattr(base.base_model, "layers", None)
    return list(layers) if layers is not None else []


def compile_layers(model: Any) -> int:
    """Regional compilation: each decoder layer in place (state-dict names unchanged). A graph that
    fails to compile runs eagerly instead of failing a paid GPU job."""
    import torch._dynamo

    torch._dynamo.config.suppress_errors = True
    layers = decoder_layers(model)
    for layer in layers:
        layer.compile()
    return len(layers)


# --- loss ---------------------------------------------------------------------------------------


class _LinearCrossEntropy(torch.autograd.Function):
    """sum_i CE(hidden_i @ W^T + b, target_i), chunk by chunk, with the gradients computed in the
    forward pass (the trick of Liger's fused linear cross-entropy, in plain PyTorch): at most
    `chunk` x vocab fp32 logits exist at any time, and nothing is recomputed in backward."""

    @staticmethod
    def forward(
        ctx: Any,
        hidden: torch.Tensor,
        weight: torch.Tensor,
        bias: torch.Tensor | None,
        targets: torch.Tensor,
        chunk: int,
        with_grads: bool,
    ) -> torch.Tensor:
        need = ctx.needs_input_grad if with_grads else (False, False, False)
        grad_hidden = torch.empty_like(hidden) if need[0] else None
        grad_weight = torch.zeros_like(weight, dtype=torch.float32) if need[1] else None
        grad_bias = torch.zeros_like(bias, dtype=torch.float32) if need[2] and bias is not None else None
        total = torch.zeros((), dtype=torch.float32, device=hidden.device)
        for start in range(0, hidden.shape[0], chunk):
            h, t = hidden[start : start + chunk], targets[start : start + chunk]
            logits = F.linear(h, weight, bias).float()
            lse = torch.logsumexp(logits, dim=-1)
            total += (lse - logits.gather(1, t[:, None]).squeeze(1)).sum()
            if grad_hidden is None and grad_weight is None and grad_bias is None:
                continue
            dlogits = torch.exp(logits.sub_(lse[:, None]))  # softmax, in place of the logits
            dlogits[torch.arange(t.shape[0], device=t.device), t] -= 1.0
            if grad_hidden is not None:
                grad_hidden[start : start + chunk] = dlogits.to(weight.dtype) @ weight
            if grad_weight is not None:
                grad_weight += dlogits.t() @ h.float()
            if grad_bias is not None:
                grad_bias += dlogits.sum(0)
        ctx.grads = (grad_hidden, grad_weight, grad_bias)
        return total

    @staticmethod
    def backward(ctx: Any, grad_output: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        grad_hidden, grad_weight, grad_bias = ctx.grads
        scale = grad_output.float()
        return (
            None if grad_hidden is None else grad_hidden * scale.to(grad_hidden.dtype),
            None if grad_weight is None else grad_weight * scale,
            None if grad_bias is None else grad_bias * scale,
            None,
            None,
            None,
        )


def linear_cross_entropy(
    hidden: torch.Tensor,
    targets: torch.Tensor,
    head: nn.Linear,
    chunk_tokens: int = 2048,
) -> torch.Tensor:
    """Summed cross-entropy of `head(hidden)` against `targets` without materialising the whole
    [tokens x vocab] logits (see _LinearCrossEntropy)."""
    with_grads = torch.is_grad_enabled()
    loss: torch.Tensor = _LinearCrossEntropy.apply(  # type: ignore[no-untyped-call]
        hidden, head.weight, head.bias, targets, chunk_tokens, with_grads
    )
    return loss


@dataclass
class LossSetup:
    direct_head: bool
    liger: bool
    flash_varlen: bool


class CausalLMLoss:
    """Summed next-token cross-entropy of a batch (fp32 scalar); the caller divides by the number
    of target tokens of the whole optimizer step."""

    def __init__(self, model: Any, *, liger: bool, flash_varlen: bool, chunk_tokens: int = 2048) -> None:
        self.model = model
        base = model.get_base_model() if hasattr(model, "get_base_model") else model
        self.backbone = base.base_model
        self.head = base.get_output_embeddings()
        plain_head = type(self.head) is nn.Linear
        self.setup = LossSetup(
            direct_head=base.config.model_type in DIRECT_HEAD_TYPES and plain_head,
            liger=liger and plain_head,
            flash_varlen=flash_varlen,
        )
        self.chunk_tokens = chunk_tokens
        self._liger_loss: Any = None
        if self.setup.liger and self.setup.direct_head:
            self._liger_loss = _liger_transformers().LigerFusedLinearCrossEntropyLoss(reduction="sum")

    def _inputs(self, batch: Batch) -> dict[str, Any]:
        if self.setup.flash_varlen:
            width = batch.input_ids.shape[1]
            kwargs = batch.flash_varlen_kwargs(batch.input_ids.device)
            # an upper bound is valid for flash-attn and keeps the value static for torch.compile
            kwargs["max_length_q"] = kwargs["max_length_k"] = width
            return {
                "input_ids": batch.input_ids.view(1, -1),
                "position_ids": batch.position_ids.view(1, -1),
                **kwargs,
            }
        return {"input_ids": batch.input_ids, "position_ids": batch.position_ids}

    def __call__(self, batch: Batch) -> torch.Tensor:
        inputs = self._inputs(batch)
        targets = batch.targets.view(-1).index_select(0, batch.target_index)
        if not self.setup.direct_head:
            logits = self.model(**inputs, use_cache=False).logits
            selected = logits.view(-1, logits.shape[-1]).index_select(0, batch.target_index)
            return F.cross_entropy(selected.float(), targets, reduction="sum")
        hidden = self.backbone(**inputs, use_cache=False).last_hidden_state
        hidden = hidden.reshape(-1, hidden.shape[-1]).index_select(0, batch.target_index)
        if self._liger_loss is not None:
            loss: torch.Tensor = self._liger_loss(self.head.weight, hidden, targets, self.head.bias)
            return loss.float()
        return linear_cross_entropy(hidden, targets, self.head, self.chunk_tokens)


@dataclass
class PreparedModel:
    model: Any  # the peft model
    loss: CausalLMLoss
    attn_implementation: str
    liger: bool
    compiled: bool


def prepare_for_training(model: Any, hp: Hyperparameters, device: torch.device, attn: str) -> PreparedModel:
    """Fused kernels, gradient checkpointing, LoRA, compilation and the loss, in that order (the
    job and the benchmark share it, so the benchmark measures the worker's own path)."""
    cuda = device.type == "cuda"
    liger = resolve_switch(hp.liger_kernels, available=cuda and liger_available(), name="liger_kernels")
    if liger:
        liger = apply_liger(model)
    if hp.gradient_checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    model = apply_lora(model, hp)
    if hp.torch_compile == "true" and hp.qlora:
        raise ValueError("torch_compile=true does not work with qlora=true (bitsandbytes' 4-bit layers)")
    compiled = hp.torch_compile == "true" or (hp.torch_compile == "auto" and cuda and not hp.qlora)
    if compiled:
        compile_layers(model)
    loss = CausalLMLoss(model, liger=liger, flash_varlen=attn == "flash_attention_2")
    return PreparedModel(model=model, loss=loss, attn_implementation=attn, liger=liger, compiled=compiled)
