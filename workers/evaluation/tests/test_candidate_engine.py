"""Which generator evaluates a candidate (INFERENCE_ENGINE) and when its base is loaded in 4-bit."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlops_evaluation.candidate import Candidate, CandidateError, CandidateFiles, four_bit_config
from mlops_evaluation.vllm_engine import load_candidate, vllm_usable


def test_a_qlora_candidate_is_4_bit_only_on_a_cuda_device(tiny_model: Path) -> None:
    import torch

    qlora = CandidateFiles(base_model=str(tiny_model), metadata={"runtime": {"qlora": True}})
    plain = CandidateFiles(base_model=str(tiny_model), metadata={"runtime": {"qlora": False}})
    assert four_bit_config(qlora, "cpu", torch.float32) is None  # bitsandbytes' NF4 is CUDA-only
    assert four_bit_config(plain, "cuda", torch.bfloat16) is None
    assert vllm_usable(qlora, "cuda") is False  # vLLM does not load our 4-bit base


def test_auto_falls_back_to_transformers_and_vllm_on_demand_says_why(tiny_model: Path) -> None:
    files = CandidateFiles(base_model=str(tiny_model))
    assert isinstance(load_candidate(files, device="cpu", engine="auto"), Candidate)
    with pytest.raises(CandidateError, match="INFERENCE_ENGINE=vllm, but vLLM is not installed"):
        load_candidate(files, device="cpu", engine="vllm")
