"""Answer generation with vLLM (continuous batching, paged KV cache) where it is installed and the GPU
supports it - an optional engine: vLLM is not in the evaluation image's lock and this path is NOT
tested here (no GPU on the development machines); transformers' batched `generate`
(candidate.Candidate) is the tested default. INFERENCE_ENGINE=auto uses vLLM only when it imports,
CUDA is present with compute capability 8.0 or more (bf16), and the candidate is not 4-bit (QLoRA).
"""

from __future__ import annotations

import importlib.util
import logging
import threading
from collections.abc import Callable, Sequence
from typing import Any

from mlops_evaluation.candidate import Candidate, CandidateError, CandidateFiles, trained_with_qlora
from mlops_evaluation.mlscore import EvaluationError

log = logging.getLogger(__name__)

MIN_CAPABILITY = (8, 0)  # Ampere: vLLM's bf16 kernels


def vllm_usable(files: CandidateFiles, device: str | None) -> bool:
    if importlib.util.find_spec("vllm") is None or trained_with_qlora(files):
        return False
    import torch

    if not torch.cuda.is_available() or (device is not None and not device.startswith("cuda")):
        return False
    return tuple(torch.cuda.get_device_capability()) >= MIN_CAPABILITY


class VllmCandidate:
    """The candidate served by vLLM: the base model with the LoRA adapter as a LoRA request."""

    def __init__(self, files: CandidateFiles) -> None:
        from transformers import AutoTokenizer
        from vllm import LLM  # type: ignore[import-not-found]

        self.files = files
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(files.tokenizer_dir or files.base_model)
            rank = 16
            if files.adapter_dir is not None:
                import json

                rank = int(json.loads((files.adapter_dir / "adapter_config.json").read_text()).get("r", 16))
            self.llm = LLM(
                model=files.base_model,
                tokenizer=files.tokenizer_dir or files.base_model,
                dtype="bfloat16",
                enable_lora=files.adapter_dir is not None,
                max_lora_rank=max(rank, 8),
            )
        except Exception as exc:
            raise CandidateError(f"vLLM cannot load the candidate (base {files.base_model}): {exc}") from exc

    def describe(self) -> dict[str, Any]:
        return {"engine": "vllm", "device": "cuda", "dtype": "bfloat16"}

    def prompt_ids(self, questions: Sequence[str], contexts: Sequence[Sequence[str]]) -> list[list[int]]:
        fmt = self.files.prompt_format
        return [fmt.encode(self.tokenizer, q, c) for q, c in zip(questions, contexts, strict=True)]

    def generate(
        self,
        prompts: Sequence[list[int]],
        *,
        batch_size: int,
        max_new_tokens: int,
        max_input_tokens: int,
        cancel: threading.Event | None = None,
        on_batch: Callable[[int, int], None] | None = None,
    ) -> list[str]:
        """Greedy answers; vLLM schedules its own batches (`batch_size` bounds how many prompts are
        handed over at once, so a cancel is seen between chunks)."""
        from vllm import SamplingParams
        from vllm.inputs import TokensPrompt  # type: ignore[import-not-found]
        from vllm.lora.request import LoRARequest  # type: ignore[import-not-found]

        lora = LoRARequest("candidate", 1, str(self.files.adapter_dir)) if self.files.adapter_dir else None
        params = SamplingParams(temperature=0.0, max_tokens=max_new_tokens)
        chunk = max(batch_size, 64)
        answers: list[str] = []
        for start in range(0, len(prompts), chunk):
            if cancel is not None and cancel.is_set():
                raise EvaluationError(
                    "Evaluation.Cancelled", "the evaluation was cancelled during generation"
                )
            batch: list[Any] = [
                TokensPrompt(prompt_token_ids=list(p[-max_input_tokens:]))
                for p in prompts[start : start + chunk]
            ]
            outputs = self.llm.generate(batch, params, lora_request=lora, use_tqdm=False)
            answers.extend(o.outputs[0].text.strip() for o in outputs)
            if on_batch is not None:
                on_batch(len(answers), len(prompts))
        return answers


def load_candidate(files: CandidateFiles, *, device: str | None, engine: str) -> Candidate | VllmCandidate:
    """The generator INFERENCE_ENGINE asks for: `vllm` (fails when unusable), `transformers`, or
    `auto` (vLLM where usable, else transformers)."""
    if engine == "vllm" or (engine == "auto" and vllm_usable(files, device)):
        if engine == "vllm" and not vllm_usable(files, device):
            raise CandidateError(
                "INFERENCE_ENGINE=vllm, but vLLM is not installed, there is no CUDA GPU of compute "
                "capability 8.0+, or the candidate is 4-bit (QLoRA)"
            )
        log.info("generating with vLLM (optional engine, untested in CI)")
        return VllmCandidate(files)
    return Candidate(files, device=device)
