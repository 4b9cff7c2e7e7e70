"""Fixtures of the evaluation worker's tests: a tiny candidate (base model + LoRA adapter, packed as
the training job's model.tar.gz), evaluation rows, and settings."""

from __future__ import annotations

import json
import os
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

os.environ["RAGAS_DO_NOT_TRACK"] = "true"

from mlops_evaluation.settings import get_settings

EVAL_ROWS: list[dict[str, Any]] = [
    {
        "question": "What does LoRA add to a frozen model?",
        "contexts": ["LoRA adds small low-rank adapter matrices to the frozen weights of a model."],
        "ground_truth": "LoRA adds low-rank adapter matrices to frozen weights.",
    },
    {
        "question": "Where is the Eiffel Tower?",
        "contexts": ["The Eiffel Tower stands in Paris, France.", "Paris is the capital of France."],
        "ground_truth": "The Eiffel Tower is in Paris.",
    },
    {
        "question": "What does a tokenizer do?",
        "contexts": ["A tokenizer splits text into tokens that a language model can read."],
        "ground_truth": "It splits text into tokens.",
    },
    {
        "question": "What is Amazon S3?",
        "contexts": ["Amazon S3 is an object storage service.", "Buckets hold objects in S3."],
        "ground_truth": "Amazon S3 is object storage.",
    },
]

PROMPT_TEMPLATE = "Context: {context}\nQuestion: {question}\nAnswer:"


def jsonl(rows: list[dict[str, Any]]) -> bytes:
    return b"".join(json.dumps(r).encode() + b"\n" for r in rows)


@pytest.fixture(scope="session")
def eval_rows() -> list[dict[str, Any]]:
    return EVAL_ROWS


@pytest.fixture(scope="session")
def prompt_template() -> str:
    return PROMPT_TEMPLATE


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from mlops_devstack.tiny_model import build_tiny_model

    corpus = [
        PROMPT_TEMPLATE.format(context=" ".join(r["contexts"]), question=r["question"])
        + " "
        + r["ground_truth"]
        for r in EVAL_ROWS
    ]
    return build_tiny_model(tmp_path_factory.mktemp("tiny-model"), corpus * 4)


@pytest.fixture(scope="session")
def artifact(tiny_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The training artifact: model.tar.gz with adapter/ (peft save_pretrained + the tokenizer) and
    metadata.json. The LoRA weights are random (not peft's no-op init) so the adapter changes answers."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    root = tmp_path_factory.mktemp("artifact")
    model_dir = root / "model"
    torch.manual_seed(7)
    base = AutoModelForCausalLM.from_pretrained(tiny_model)
    config = LoraConfig(
        r=8,
        lora_alpha=32,
        target_modules=["q_proj", "v_proj"],
        init_lora_weights=False,
        task_type="CAUSAL_LM",
    )
    peft_model = get_peft_model(base, config)
    with torch.no_grad():
        for name, param in peft_model.named_parameters():
            if "lora_" in name:
                param.normal_(0.0, 0.5)
    # the training worker's layout (mlops_training.artifacts): adapter/ with the tokenizer, metadata.json
    peft_model.save_pretrained(model_dir / "adapter")
    AutoTokenizer.from_pretrained(tiny_model).save_pretrained(model_dir / "adapter")
    (model_dir / "metadata.json").write_text(
        json.dumps(
            {
                "schema_version": 1,
                "base_model": str(tiny_model),
                "prompt": {"format": "qa", "template": PROMPT_TEMPLATE, "bos": True, "stop": "eos"},
                "artifact": {"adapter": "adapter/", "merged": None},
            }
        )
    )
    archive = root / "model.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        for path in sorted(model_dir.rglob("*")):
            tar.add(path, arcname=str(path.relative_to(model_dir)), recursive=False)
    return archive


@pytest.fixture
def eval_file(tmp_path: Path) -> Path:
    path = tmp_path / "eval.jsonl"
    path.write_bytes(jsonl(EVAL_ROWS))
    return path


@pytest.fixture
def fresh_settings() -> Iterator[None]:
    """Forget the cached settings (the Lambda handler reads them once) around a test."""
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()
