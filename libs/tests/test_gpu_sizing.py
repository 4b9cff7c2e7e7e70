"""The GPU sizing estimate against measured peaks, and its verdicts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mlops_contracts.gpu_sizing import (
    DEFAULT_TRAINING_INSTANCE,
    GPU_INSTANCES,
    KNOWN_SHAPES,
    ModelShape,
    SizingError,
    TrainingSetup,
    check,
    estimate,
    model_config_for,
)

MISTRAL = "mistralai/Mistral-7B-v0.1"
QWEN_05B = "Qwen/Qwen2.5-0.5B"
TOLERANCE = 0.20


@pytest.mark.parametrize(
    ("model_id", "batch", "measured_gib"),
    [(MISTRAL, 4, 46.8), (QWEN_05B, 8, 28.4)],
)
def test_estimate_is_within_20_percent_of_the_h100_peak(
    model_id: str, batch: int, measured_gib: float
) -> None:
    """Peak GPU memory measured on one H100 for the plain recipe (HF Trainer + peft LoRA r=16 on every
    linear layer, bf16, SDPA, sequences of 1024 tokens all trained, no gradient checkpointing;
    torch.cuda.max_memory_allocated in GiB, `make bench-training`'s dense workload):
    - Mistral-7B shape, batch 4: 46.8 GiB;
    - Qwen2.5-0.5B shape, batch 8: 28.4 GiB.
    The estimate (7B: weights 13.5 + LoRA state 0.6 + activations 31.2 + logits 1.7 = 47.1 GiB;
    0.5B: 0.9 + 0.1 + 13.0 + 16.2 = 30.3 GiB) must stay within 20 % of each."""
    shape = ModelShape.from_config(KNOWN_SHAPES[model_id.lower()])
    found = estimate(
        shape, TrainingSetup(batch_size=batch, max_seq_length=1024, gradient_checkpointing=False)
    )
    assert abs(found.total_gib - measured_gib) / measured_gib <= TOLERANCE, found.breakdown()


def test_parameter_counts_of_the_known_shapes() -> None:
    # published sizes: Mistral-7B 7.24B, Llama-2-7B 6.74B, Qwen2.5-0.5B 0.49B (tied embeddings)
    counts = {
        m: ModelShape.from_config(KNOWN_SHAPES[m]).parameters
        for m in ("mistralai/mistral-7b-v0.1", "meta-llama/llama-2-7b-hf", "qwen/qwen2.5-0.5b")
    }
    assert counts["mistralai/mistral-7b-v0.1"] == pytest.approx(7.24e9, rel=0.005)
    assert counts["meta-llama/llama-2-7b-hf"] == pytest.approx(6.74e9, rel=0.005)
    assert counts["qwen/qwen2.5-0.5b"] == pytest.approx(0.494e9, rel=0.005)


def test_a_7b_bf16_lora_does_not_fit_a_t4_and_the_fixes_do() -> None:
    setup = TrainingSetup(batch_size=4, max_seq_length=1024, gradient_checkpointing=False)
    verdict = check(MISTRAL, model_config_for(MISTRAL) or {}, "ml.g4dn.xlarge", setup)
    assert not verdict.fits
    message = verdict.message()
    assert f"{verdict.estimate.total_gib:.1f} GiB" in message
    assert "15 GiB" in message
    assert "qlora=true" in message
    assert "instance_type=" in message
    for fix in verdict.fixes:  # every offered configuration fits when applied
        changes = {k: v for k, v in fix.changes.items() if k != "instance_type"}
        target = fix.changes.get("instance_type", "ml.g4dn.xlarge")
        again = check(
            MISTRAL, model_config_for(MISTRAL) or {}, target, TrainingSetup(**{**setup.__dict__, **changes})
        )
        assert again.fits, fix.describe()


def test_the_defaults_fit_a_7b_lora_on_the_default_instance() -> None:
    verdict = check(MISTRAL, model_config_for(MISTRAL) or {}, DEFAULT_TRAINING_INSTANCE, TrainingSetup())
    assert verdict.fits, verdict.message()
    assert GPU_INSTANCES[DEFAULT_TRAINING_INSTANCE].bf16


def test_qlora_with_checkpointing_fits_a_t4() -> None:
    setup = TrainingSetup(qlora=True, gradient_checkpointing=True)
    assert check(MISTRAL, model_config_for(MISTRAL) or {}, "ml.g4dn.xlarge", setup).fits


def test_model_config_from_a_local_folder_and_revision_stripped(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "llama", "vocab_size": 100}))
    assert model_config_for(str(tmp_path)) == {"model_type": "llama", "vocab_size": 100}
    assert model_config_for("mistralai/Mistral-7B-v0.1@main") == KNOWN_SHAPES["mistralai/mistral-7b-v0.1"]
    assert model_config_for("someone/unknown-model") is None
    assert model_config_for("s3://bucket/models/x") is None


def test_bad_inputs_are_named() -> None:
    with pytest.raises(SizingError, match=r"instance_type 'ml\.m5\.large'"):
        check(MISTRAL, KNOWN_SHAPES["mistralai/mistral-7b-v0.1"], "ml.m5.large", TrainingSetup())
    with pytest.raises(SizingError, match="no hidden_size"):
        ModelShape.from_config({"vocab_size": 10, "num_hidden_layers": 2, "num_attention_heads": 2})


def test_the_table_marks_bf16_by_gpu_generation() -> None:
    assert not GPU_INSTANCES["ml.g4dn.xlarge"].bf16
    assert not GPU_INSTANCES["ml.p3.2xlarge"].bf16
    assert GPU_INSTANCES["ml.g5.2xlarge"].bf16
    assert GPU_INSTANCES["ml.p5.48xlarge"].bf16
    assert GPU_INSTANCES["ml.p4d.24xlarge"].gpu_count == 8
