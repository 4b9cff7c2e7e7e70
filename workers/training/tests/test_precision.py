"""Precision follows the GPU (bf16, or fp16 with a GradScaler), QLoRA's config and its refusal
without CUDA, and the worker's own sizing check (#17.2)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch

from mlops_contracts.gpu_sizing import KNOWN_SHAPES
from mlops_training.config import ConfigError, Hyperparameters, parse_job_config
from mlops_training.entrypoint import main
from mlops_training.gpu_fit import present_gpu, require_fit
from mlops_training.modeling import (
    Precision,
    QLoRAUnavailable,
    nf4_config,
    quantization_config,
    select_precision,
)

from .conftest import MakeRoot

CUDA = torch.device("cuda")  # a device object only: nothing is allocated on it


@pytest.mark.parametrize(
    ("bf16", "dtype", "scaler"), [(True, torch.bfloat16, False), (False, torch.float16, True)]
)
def test_precision_follows_the_gpu(
    monkeypatch: pytest.MonkeyPatch, bf16: bool, dtype: torch.dtype, scaler: bool
) -> None:
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: bf16)  # T4/V100 say False
    precision = select_precision(CUDA)
    assert precision.dtype == dtype
    assert precision.autocast
    assert precision.grad_scaler is scaler
    assert select_precision(torch.device("cpu")) == Precision("float32", torch.float32, False, False)


def test_a_grad_scaled_step_is_the_same_step(tiny_model: Path, tokenizer: Any, tmp_path: Path) -> None:
    """The fp16 path's loss scaling, run for real on CPU (fp32, so scaling by a power of two and
    unscaling before clipping is exact): the same losses as without it. Forgetting to unscale
    before clipping or stepping would change them."""
    from mlops_training.loop import LoraTrainer
    from mlops_training.modeling import load_base_model, prepare_for_training

    from .test_packing_parity import examples, held_out_loss

    data = examples(tmp_path, tokenizer)[:16]
    hp = Hyperparameters(
        epochs=1,
        batch_size=4,
        learning_rate=5e-3,
        lora_r=4,
        lora_dropout=0.0,
        max_seq_length=128,
        warmup_ratio=0.0,
        logging_steps=1,
        checkpoint_steps=0,
        torch_compile="false",
        gradient_checkpointing=False,
        max_grad_norm=0.1,  # small: clipping acts on every step
    )
    losses = []
    for scaler in (False, True):
        torch.manual_seed(0)
        device = torch.device("cpu")
        prepared = prepare_for_training(load_base_model(str(tiny_model), device, "sdpa"), hp, device, "sdpa")
        trainer = LoraTrainer(
            prepared.model,
            data,
            hp,
            device=device,
            loss=prepared.loss,
            pad_id=tokenizer.pad_token_id,
            precision=Precision("float32", torch.float32, autocast=False, grad_scaler=scaler),
        )
        assert trainer.scaler.is_enabled() is scaler
        result = trainer.train()
        losses.append(
            (
                [h["train_loss"] for h in result.history],
                held_out_loss(prepared.model, prepared.loss, data, tokenizer.pad_token_id),
            )
        )
    assert losses[0][0] == pytest.approx(losses[1][0], abs=1e-6)
    assert losses[0][1] == pytest.approx(losses[1][1], abs=1e-6)


def test_qlora_builds_a_4bit_nf4_config_in_the_gpus_precision() -> None:
    config = nf4_config(torch.float16)
    assert config.load_in_4bit
    assert not config.load_in_8bit
    assert config.bnb_4bit_quant_type == "nf4"
    assert config.bnb_4bit_use_double_quant
    assert config.bnb_4bit_compute_dtype == torch.float16
    assert (
        quantization_config(Hyperparameters(qlora=False), CUDA, select_precision(torch.device("cpu"))) is None
    )


def test_qlora_is_refused_without_cuda() -> None:
    with pytest.raises(QLoRAUnavailable, match="qlora=true needs a CUDA GPU"):
        quantization_config(
            Hyperparameters(qlora=True), torch.device("cpu"), select_precision(torch.device("cpu"))
        )


def test_a_qlora_job_on_cpu_fails_at_once_with_the_reason(make_root: MakeRoot) -> None:
    root = make_root(qlora=True)
    assert main(["--root", str(root)]) == 1
    failure = (root / "output" / "failure").read_text()
    assert "qlora=true needs a CUDA GPU" in failure
    assert not list((root / "model").iterdir())  # nothing trained, nothing written


def test_the_worker_sizes_the_run_against_the_gpu_present() -> None:
    config = parse_job_config(
        {
            "model_id": "s3://models/mistral",
            "gradient_checkpointing": "false",
            "instance_type": "ml.g5.2xlarge",
        }
    )
    shape = dict(KNOWN_SHAPES["mistralai/mistral-7b-v0.1"])  # as AutoConfig would read it
    with pytest.raises(ConfigError, match=r"does not fit ml\.g5\.2xlarge \(one NVIDIA A10G, 22\.1 GiB"):
        require_fit(config, shape, present_gpu("ml.g5.2xlarge", "NVIDIA A10G", 23_700_000_000, True))
    require_fit(config, shape, present_gpu("ml.p5.48xlarge", "NVIDIA H100 80GB HBM3", 85_520_000_000, True))


def test_hyperparameters_carry_the_sizing_knobs() -> None:
    hp = parse_job_config(
        {"model_id": "m", "qlora": "true", "instance_type": '"ml.g4dn.xlarge"'}
    ).hyperparameters
    assert hp.qlora is True
    assert hp.instance_type == "ml.g4dn.xlarge"
    assert hp.gradient_checkpointing is True
    with pytest.raises(ConfigError, match=r"instance_type 'ml\.t3\.large' is not a SageMaker GPU instance"):
        parse_job_config({"model_id": "m", "instance_type": "ml.t3.large"})
    assert json.loads(json.dumps(hp.model_dump()))["instance_type"] == "ml.g4dn.xlarge"
