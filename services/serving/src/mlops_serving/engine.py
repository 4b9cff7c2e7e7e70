"""Batched generation with transformers: one `generate` call answers a whole batch of requests,
each with its own token budget, and every new token reaches its request as it is produced.

transformers' own streamers take one sequence; `generate` hands a streamer one token per row at
each step, so `_RowStreamer` fans them out to the rows' callbacks. A stopping criterion per row
ends a request at its own `max_new_tokens` (or when its client went away) without stopping the
others. On a GPU, vLLM would batch continuously; it is not installable or testable on this
project's CI machines, so this engine is the one the container runs (see the README's serving
section).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from mlops_contracts.prompts import clip_prompt
from mlops_serving.artifact import ArtifactError, ServedModel

log = logging.getLogger(__name__)

FinishReason = Literal["stop", "length", "cancelled"]


@dataclass(frozen=True)
class Sampling:
    """Requests share a batch only when they sample alike (`generate` takes one setting per call)."""

    temperature: float = 0.0  # 0 = greedy
    top_p: float = 1.0

    @property
    def greedy(self) -> bool:
        return self.temperature <= 0.0


@dataclass
class GenerationRequest:
    prompt_ids: list[int]
    max_new_tokens: int
    sampling: Sampling = field(default_factory=Sampling)
    on_token: Callable[[int], None] | None = None  # called on the engine's thread
    cancelled: threading.Event = field(default_factory=threading.Event)


@dataclass(frozen=True)
class Completion:
    token_ids: list[int]
    finish_reason: FinishReason
    prompt_tokens: int


class _RowStreamer:
    """transformers' streamer protocol (`put`, `end`): the first `put` is the prompt, each later
    one holds the step's token of every row (a finished row gets the pad token)."""

    def __init__(self, requests: Sequence[GenerationRequest], eos_ids: set[int]) -> None:
        self.requests = requests
        self.eos_ids = eos_ids
        self.tokens: list[list[int]] = [[] for _ in requests]
        self.reasons: list[FinishReason | None] = [None] * len(requests)
        self._prompt_seen = False

    def put(self, value: Any) -> None:
        if not self._prompt_seen:
            self._prompt_seen = True
            return
        for row, token in enumerate(value.view(-1).tolist()):
            if self.reasons[row] is not None:
                continue
            request = self.requests[row]
            if request.cancelled.is_set():
                self.reasons[row] = "cancelled"
                continue
            if token in self.eos_ids:
                self.reasons[row] = "stop"
                continue
            self.tokens[row].append(token)
            if request.on_token is not None:
                request.on_token(token)
            if len(self.tokens[row]) >= request.max_new_tokens:
                self.reasons[row] = "length"

    def end(self) -> None:
        for row, reason in enumerate(self.reasons):
            if reason is None:
                self.reasons[row] = "length"


class TransformersEngine:
    """The served model on one device; `generate` is called from one thread at a time."""

    def __init__(self, served: ServedModel, *, device: str = "") -> None:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.served = served
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        dtype = torch.float32
        if self.device.startswith("cuda"):
            dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        try:
            tokenizer = AutoTokenizer.from_pretrained(served.tokenizer)
            model: Any = AutoModelForCausalLM.from_pretrained(served.weights, dtype=dtype)
            if served.adapter_dir is not None:
                from peft import PeftModel

                # merged once at load: the adapter costs nothing per token afterwards
                model = PeftModel.from_pretrained(model, str(served.adapter_dir)).merge_and_unload()
        except Exception as exc:
            raise ArtifactError(
                f"cannot load the model (weights {served.weights}, adapter {served.adapter_dir}): {exc}"
            ) from exc
        if tokenizer.pad_token is None:
            tokenizer.pad_token = tokenizer.eos_token
        tokenizer.padding_side = "left"  # decoder-only: new tokens follow each prompt directly
        self.tokenizer = tokenizer
        self.model = model.to(self.device).eval()
        self.prompt_format = served.prompt_format
        self.forward_passes = 0  # the model's forward calls, for the batching test and /metrics
        self.batches = 0
        self.model.register_forward_pre_hook(self._count_forward)

    def _count_forward(self, *_: Any) -> None:
        self.forward_passes += 1

    def encode_question(self, question: str, contexts: Sequence[str]) -> list[int]:
        return self.prompt_format.encode(self.tokenizer, question, contexts)

    def encode_text(self, text: str) -> list[int]:
        return list(self.tokenizer(text, add_special_tokens=True)["input_ids"])

    def encode_chat(self, messages: Sequence[dict[str, str]]) -> list[int]:
        """A conversation as the model was trained: through the chat template when it was trained on
        conversations; otherwise the last user message is the question and system messages are its
        context (the QA prompt)."""
        if self.prompt_format.kind == "chat":
            return self.prompt_format.encode_chat(self.tokenizer, messages)
        users = [m["content"] for m in messages if m["role"] == "user"]
        if not users:
            raise ValueError("the conversation has no user message to answer")
        contexts = [m["content"] for m in messages if m["role"] == "system"]
        return self.encode_question(users[-1], contexts)

    def decode(self, token_ids: Sequence[int]) -> str:
        return str(self.tokenizer.decode(list(token_ids), skip_special_tokens=True))

    def generate(self, requests: Sequence[GenerationRequest], *, max_input_tokens: int) -> list[Completion]:
        import torch
        from transformers import StoppingCriteria, StoppingCriteriaList

        prompts = [clip_prompt(r.prompt_ids, max_input_tokens, self.tokenizer.bos_token_id) for r in requests]
        eos = self.tokenizer.eos_token_id
        streamer = _RowStreamer(requests, {eos} if eos is not None else set())

        batch = self.tokenizer.pad({"input_ids": prompts}, padding=True, return_tensors="pt").to(self.device)
        prompt_width = int(batch["input_ids"].shape[1])
        budgets = [r.max_new_tokens for r in requests]

        class _RowsDone(StoppingCriteria):
            # per row: a row stops at its own budget (or when its client left); the call ends when
            # every row has. Runs after the step's token is appended, before the streamer sees it.
            def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
                generated = int(input_ids.shape[1]) - prompt_width
                done = [
                    generated >= budget or request.cancelled.is_set()
                    for budget, request in zip(budgets, requests, strict=True)
                ]
                return torch.tensor(done, dtype=torch.bool, device=input_ids.device)

        sampling = requests[0].sampling
        options: dict[str, Any] = {"do_sample": False}
        if not sampling.greedy:
            options = {"do_sample": True, "temperature": sampling.temperature, "top_p": sampling.top_p}
        self.batches += 1
        with torch.inference_mode():
            self.model.generate(
                **batch,
                max_new_tokens=max(budgets),
                pad_token_id=self.tokenizer.pad_token_id,
                eos_token_id=eos,
                streamer=streamer,
                stopping_criteria=StoppingCriteriaList([_RowsDone()]),
                **options,
            )
        return [
            Completion(token_ids=tokens, finish_reason=reason or "length", prompt_tokens=len(prompt))
            for tokens, reason, prompt in zip(streamer.tokens, streamer.reasons, prompts, strict=True)
        ]
