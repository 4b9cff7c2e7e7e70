"""gpu_sizing counts parameters from config.json fields by formula (the API installs no
transformers); here the formula is checked against the models transformers builds from the same
configs (on the meta device: no memory, no download)."""

from __future__ import annotations

import pytest
import torch
from transformers import AutoConfig, AutoModelForCausalLM

from mlops_contracts.gpu_sizing import KNOWN_SHAPES, ModelShape


@pytest.mark.parametrize(
    "model_id",
    ["mistralai/mistral-7b-v0.1", "meta-llama/llama-2-7b-hf", "qwen/qwen2.5-0.5b", "qwen/qwen2.5-7b"],
)
def test_the_parameter_count_matches_the_model_transformers_builds(model_id: str) -> None:
    fields = dict(KNOWN_SHAPES[model_id])
    config = AutoConfig.for_model(fields.pop("model_type"), **fields)
    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(config)
    built = sum(p.numel() for p in model.parameters())  # tied embeddings are counted once
    shape = ModelShape.from_config(config.to_dict())  # what the worker passes (AutoConfig's dict)
    assert shape.parameters == pytest.approx(built, rel=1e-3)  # Qwen2's q/k/v biases: < 0.1 %
    lora = sum(
        m.in_features * 16 + 16 * m.out_features
        for name, m in model.named_modules()
        if isinstance(m, torch.nn.Linear) and name != "lm_head"
    )
    assert shape.lora_parameters(16) == lora
