"""The serving engine on vLLM (continuous batching, paged KV cache, LoRA adapters served as LoRA
requests) where it is installed and the GPU supports it.

An optional engine: vLLM is not in the serving image's lock and this path is NOT exercised on the
project's machines (no GPU; vLLM does not install there). The transformers engine (engine.py) is the
tested default, and SERVING_ENGINE=auto picks vLLM only when it imports and CUDA is present with
compute capability 8.0 or more (bf16). Same interface as TransformersEngine: the batcher hands it a
batch; vLLM's step loop produces one token per running request per step, which reaches its stream at
once, and a request whose client left is aborted.
"""

from __future__ import annotations

import importlib.util
import itertools
import json
from collections.abc import Sequence
from typing import Any

from mlops_contracts.prompts import clip_prompt
from mlops_serving.artifact import ArtifactError, ServedModel
from mlops_serving.engine import Completion, GenerationRequest, TransformersEngine

MIN_CAPABILITY = (8, 0)  # Ampere: vLLM's bf16 kernels


def vllm_usable(device: str) -> bool:
    if importlib.util.find_spec("vllm") is None:
        return False
    import torch

    if not torch.cuda.is_available() or (device and not device.startswith("cuda")):
        return False
    return tuple(torch.cuda.get_device_capability()) >= MIN_CAPABILITY


class VllmEngine:
    """The served model on vLLM; `generate` is called from one thread at a time (the batcher's)."""

    def __init__(self, served: ServedModel) -> None:
        from transformers import AutoTokenizer
        from vllm import EngineArgs, LLMEngine  # type: ignore[import-not-found]

        self.served = served
        self.prompt_format = served.prompt_format
        rank = 16
        if served.adapter_dir is not None:
            rank = int(json.loads((served.adapter_dir / "adapter_config.json").read_text()).get("r", 16))
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(served.tokenizer)
            self.engine = LLMEngine.from_engine_args(
                EngineArgs(
                    model=served.weights,
                    tokenizer=served.tokenizer,
                    dtype="bfloat16",
                    enable_lora=served.adapter_dir is not None,
                    max_lora_rank=max(rank, 8),
                )
            )
        except Exception as exc:
            raise ArtifactError(f"vLLM cannot load the model (weights {served.weights}): {exc}") from exc
        self._lora: Any = None
        if served.adapter_dir is not None:
            from vllm.lora.request import LoRARequest  # type: ignore[import-not-found]

            self._lora = LoRARequest("candidate", 1, str(served.adapter_dir))
        self._ids = itertools.count()
        self.forward_passes = 0  # engine steps: one token for every running request
        self.batches = 0

    # prompts are encoded exactly as the transformers engine encodes them (the training record)
    encode_question = TransformersEngine.encode_question
    encode_text = TransformersEngine.encode_text
    encode_chat = TransformersEngine.encode_chat
    decode = TransformersEngine.decode

    def generate(self, requests: Sequence[GenerationRequest], *, max_input_tokens: int) -> list[Completion]:
        from vllm import SamplingParams

        self.batches += 1
        by_id: dict[str, int] = {}
        for row, request in enumerate(requests):
            request_id = f"r{next(self._ids)}"
            by_id[request_id] = row
            sampling = request.sampling
            params = SamplingParams(
                max_tokens=request.max_new_tokens,
                temperature=0.0 if sampling.greedy else sampling.temperature,
                top_p=sampling.top_p,
            )
            prompt = clip_prompt(request.prompt_ids, max_input_tokens, self.tokenizer.bos_token_id)
            self.engine.add_request(request_id, {"prompt_token_ids": prompt}, params, lora_request=self._lora)
        tokens: list[list[int]] = [[] for _ in requests]
        reasons: list[Any] = [None] * len(requests)
        while self.engine.has_unfinished_requests():
            aborted = [
                rid for rid, row in by_id.items() if requests[row].cancelled.is_set() and reasons[row] is None
            ]
            for rid in aborted:
                self.engine.abort_request(rid)
                reasons[by_id[rid]] = "cancelled"
            self.forward_passes += 1
            for output in self.engine.step():
                row = by_id[output.request_id]
                produced = list(output.outputs[0].token_ids)
                deliver = requests[row].on_token
                for token in produced[len(tokens[row]) :]:
                    if deliver is not None:
                        deliver(token)
                tokens[row] = produced
                if output.finished and reasons[row] is None:
                    reasons[row] = "length" if output.outputs[0].finish_reason == "length" else "stop"
        return [
            Completion(
                token_ids=t,
                finish_reason=r or "length",
                prompt_tokens=min(len(q.prompt_ids), max_input_tokens),
            )
            for t, r, q in zip(tokens, reasons, requests, strict=True)
        ]


def load_engine(served: ServedModel, *, engine: str, device: str) -> TransformersEngine | VllmEngine:
    """The engine SERVING_ENGINE asks for: `vllm` (refused when unusable), `transformers`, or `auto`."""
    if engine == "vllm":
        if not vllm_usable(device):
            raise ArtifactError(
                "SERVING_ENGINE=vllm needs vLLM installed and a CUDA GPU of compute capability 8.0 or "
                "more; use SERVING_ENGINE=transformers or auto"
            )
        return VllmEngine(served)
    if engine == "auto" and vllm_usable(device):
        return VllmEngine(served)
    return TransformersEngine(served, device=device)
