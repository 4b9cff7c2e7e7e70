"""The candidate model: the base model plus the LoRA adapter from the training artifact (or the base
model alone for `eval_only`), and batched answer generation (on the GPU when there is one).

The artifact is the training job's `model.tar.gz` (mlops_training.artifacts): `adapter/` (peft's
`save_pretrained` + the tokenizer) and `metadata.json`. The worker finds them wherever they sit in the
archive: the directory holding `adapter_config.json`, a tokenizer (the adapter's directory first, then
the archive root, then the base model's) and a `*metadata*.json`.

Prompts are rendered as the model was trained (metadata `prompt`, read by mlops_contracts.prompts): QA-format training renders
`template` with `{context}` and `{question}` and prepends BOS; chat-format training renders a user
message (context and question) through the tokenizer's chat template with the generation prompt.
Without metadata (`eval_only`, the base model) the training worker's QA template is used.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlops_contracts import safe_files
from mlops_contracts.hub_token import HubTokenError, install_hub_token
from mlops_contracts.prompts import PromptFormat, clip_prompt
from mlops_evaluation import storage
from mlops_evaluation.mlscore import EvaluationError

log = logging.getLogger(__name__)


class CandidateError(EvaluationError):
    def __init__(self, reason: str) -> None:
        super().__init__("Evaluation.CandidateUnavailable", reason)


@dataclass
class CandidateFiles:
    base_model: str
    adapter_dir: Path | None = None
    tokenizer_dir: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def prompt_format(self) -> PromptFormat:
        return PromptFormat.from_metadata(self.metadata)


def _first(root: Path, name: str) -> Path | None:
    matches = sorted(root.rglob(name), key=lambda p: (len(p.parts), str(p)))
    return matches[0] if matches else None


def locate_candidate(root: Path, base_model: str) -> CandidateFiles:
    """Find the adapter, tokenizer and metadata inside an extracted artifact."""
    adapter_config = _first(root, "adapter_config.json")
    if adapter_config is None:
        raise CandidateError(
            f"the training artifact has no LoRA adapter (no adapter_config.json under {root})"
        )
    adapter_dir = adapter_config.parent
    tokenizer_dir: str | None = None
    for candidate in (adapter_dir, root):
        if (candidate / "tokenizer_config.json").exists():
            tokenizer_dir = str(candidate)
            break
    else:
        found = _first(root, "tokenizer_config.json")
        tokenizer_dir = str(found.parent) if found else None
    metadata: dict[str, Any] = {}
    for path in sorted(root.rglob("*metadata*.json"), key=lambda p: (len(p.parts), str(p))):
        try:
            loaded = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            log.warning("ignoring unreadable metadata %s: %s", path, exc)
            continue
        if isinstance(loaded, dict):
            metadata = loaded
            break
    return CandidateFiles(base_model, adapter_dir, tokenizer_dir, metadata)


def fetch_base_model(model_id: str, work_dir: Path) -> str:
    """A hub id or a local directory as is; an s3:// prefix downloaded to a local directory."""
    if model_id.startswith("s3://"):
        target = work_dir / "base-model"
        if not (target / "config.json").exists():
            try:
                storage.download_prefix(model_id, target)
            except safe_files.UnsafePathError as exc:
                raise CandidateError(f"base model {model_id} refused: {exc}") from None
        return str(target)
    path = storage.local_path(model_id)
    if model_id.startswith("file://") and path is not None:
        return str(path)
    if not Path(model_id).is_absolute():
        # a Hub id: a gated or private base model needs the token of mlops/hf-token, read now by the
        # secret's id (HF_TOKEN_SECRET_ID) into this process only (mlops_contracts.hub_token)
        try:
            install_hub_token(os.environ)
        except HubTokenError as exc:
            raise CandidateError(f"base model {model_id}: {exc}") from None
    return model_id


def fetch_candidate(model_id: str, artifact_uri: str | None, work_dir: Path) -> CandidateFiles:
    base = fetch_base_model(model_id, work_dir)
    if artifact_uri is None:
        return CandidateFiles(base_model=base)
    try:
        path = storage.local_path(artifact_uri)
        if path is not None and path.is_dir():
            extracted = path
        else:
            archive = storage.download(artifact_uri, work_dir / "artifact" / "model.tar.gz")
            extracted = work_dir / "artifact" / "extracted"
            safe_files.extract_tar(archive, extracted)
    except EvaluationError:
        raise
    except Exception as exc:
        raise CandidateError(f"cannot read the training artifact {artifact_uri}: {exc}") from exc
    return locate_candidate(extracted, base)


def trained_with_qlora(files: CandidateFiles) -> bool:
    runtime = files.metadata.get("runtime")
    return isinstance(runtime, dict) and bool(runtime.get("qlora"))


def four_bit_config(files: CandidateFiles, device: str, dtype: Any) -> Any:
    """bitsandbytes' NF4 config for a candidate trained with QLoRA on a CUDA device (the training
    worker's `metadata.runtime.qlora`); None otherwise. Without bitsandbytes (not in the evaluation
    image's lock yet) the 16-bit base is used: the adapter was trained against the dequantised
    weights, so answers differ slightly from the trained model's."""
    if not (trained_with_qlora(files) and device.startswith("cuda")):
        return None
    import importlib.util

    if importlib.util.find_spec("bitsandbytes") is None:
        log.warning("the candidate was trained with QLoRA but bitsandbytes is not installed: 16-bit base")
        return None
    from transformers import BitsAndBytesConfig

    return BitsAndBytesConfig(  # type: ignore[no-untyped-call]
        load_in_4bit=True,
        bnb_4bit_quant_type="nf4",
        bnb_4bit_use_double_quant=True,
        bnb_4bit_compute_dtype=dtype,
    )


class Candidate:
    """The loaded model and tokenizer; `generate` answers prompts in batches."""

    def __init__(self, files: CandidateFiles, *, device: str | None = None) -> None:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.files = files
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        dtype = torch.float32
        if self.device.startswith("cuda"):
            dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        quantization = four_bit_config(files, self.device, dtype)
        try:
            tokenizer = AutoTokenizer.from_pretrained(files.tokenizer_dir or files.base_model)
            if quantization is not None:
                # a QLoRA run is evaluated as it was trained: NF4 base weights, the adapter on top
                # (merging into 4-bit weights would round the adapter away)
                model: Any = AutoModelForCausalLM.from_pretrained(
                    files.base_model,
                    dtype=dtype,
                    quantization_config=quantization,
                    device_map={"": self.device},
                )
            else:
                model = AutoModelForCausalLM.from_pretrained(files.base_model, dtype=dtype)
            if files.adapter_dir is not None:
                from peft import PeftModel

                model = PeftModel.from_pretrained(model, str(files.adapter_dir))
                if quantization is None:
                    model = model.merge_and_unload()
        except Exception as exc:
            raise CandidateError(
                f"cannot load the candidate (base {files.base_model}, adapter {files.adapter_dir}): {exc}"
            ) from exc
        if tokenizer.pad_token is None:
            tokenizer.pad_token = tokenizer.eos_token
        tokenizer.padding_side = "left"  # decoder-only: generated tokens follow the prompt directly
        self.tokenizer = tokenizer
        self.model = (model if quantization is not None else model.to(self.device)).eval()
        self.dtype = "nf4" if quantization is not None else str(dtype).removeprefix("torch.")
        log.info(
            "candidate loaded on %s in %s%s",
            self.device,
            str(dtype).removeprefix("torch."),
            " with 4-bit NF4 base weights" if quantization is not None else "",
        )

    def describe(self) -> dict[str, Any]:
        return {"engine": "transformers", "device": self.device, "dtype": getattr(self, "dtype", None)}

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
        """Greedy answers to tokenized prompts, in their order (batched by length to limit padding;
        a prompt longer than `max_input_tokens` keeps its end: the question and the answer cue)."""
        import torch

        prompts = [clip_prompt(p, max_input_tokens, self.tokenizer.bos_token_id) for p in prompts]
        order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]))
        answers: list[str] = [""] * len(prompts)
        for start in range(0, len(order), batch_size):
            if cancel is not None and cancel.is_set():
                raise EvaluationError(
                    "Evaluation.Cancelled", "the evaluation was cancelled during generation"
                )
            indices = order[start : start + batch_size]
            batch = self.tokenizer.pad(
                {"input_ids": [prompts[i] for i in indices]}, padding=True, return_tensors="pt"
            ).to(self.device)
            with torch.inference_mode():
                output = self.model.generate(
                    **batch,
                    max_new_tokens=max_new_tokens,
                    do_sample=False,
                    pad_token_id=self.tokenizer.pad_token_id,
                    eos_token_id=self.tokenizer.eos_token_id,
                )
            new_tokens = output[:, batch["input_ids"].shape[1] :]
            for index, text in zip(
                indices, self.tokenizer.batch_decode(new_tokens, skip_special_tokens=True), strict=True
            ):
                answers[index] = text.strip()
            if on_batch is not None:
                on_batch(min(start + batch_size, len(order)), len(order))
        return answers
