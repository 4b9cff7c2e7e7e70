"""Fixtures of the training worker's tests: a tiny Mistral-style model built offline from the test
data (tokenizer trained on it), and SageMaker-style job roots in temporary directories."""

from __future__ import annotations

import json
import logging
import signal
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from mlops_devstack.tiny_model import build_tiny_model

CAPITALS = [
    ("France", "Paris"),
    ("Italy", "Rome"),
    ("Spain", "Madrid"),
    ("Germany", "Berlin"),
    ("Portugal", "Lisbon"),
    ("Austria", "Vienna"),
    ("Greece", "Athens"),
    ("Poland", "Warsaw"),
    ("Norway", "Oslo"),
    ("Sweden", "Stockholm"),
    ("Finland", "Helsinki"),
    ("Ireland", "Dublin"),
]


def qa_rows(count: int = 36) -> list[dict[str, str]]:
    rows = []
    for i in range(count):
        country, capital = CAPITALS[i % len(CAPITALS)]
        rows.append(
            {
                "question": f"What is the capital of {country}?",
                "context": f"{capital} is the capital of {country}. Fact number {i}.",
                "answer": f"The capital of {country} is {capital}.",
            }
        )
    return rows


def chat_rows(count: int = 12) -> list[dict[str, Any]]:
    return [
        {
            "messages": [
                {"role": "system", "content": "Answer briefly."},
                {"role": "user", "content": f"Capital of {country}?"},
                {"role": "assistant", "content": f"{capital}."},
                {"role": "user", "content": "Are you sure?"},
                {"role": "assistant", "content": f"Yes, {capital}."},
            ]
        }
        for country, capital in (CAPITALS * 2)[:count]
    ]


def corpus() -> list[str]:
    texts = [" ".join(row.values()) for row in qa_rows()]
    texts += [m["content"] for row in chat_rows() for m in row["messages"]]
    texts += ["### Context: ### Question: ### Answer: [SYSTEM] [USER] [/USER] [/SYSTEM]"]
    return texts


@pytest.fixture(autouse=True)
def _restore_process_state() -> Iterator[None]:
    """The entrypoint configures the process (root log handler, SIGTERM handler); tests that call
    it in-process must leave the pytest process as they found it."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    sigterm = signal.getsignal(signal.SIGTERM)
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    signal.signal(signal.SIGTERM, sigterm)


@pytest.fixture(name="qa_rows")
def qa_rows_fixture() -> list[dict[str, str]]:
    return qa_rows()


@pytest.fixture(name="chat_rows")
def chat_rows_fixture() -> list[dict[str, Any]]:
    return chat_rows()


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_model(tmp_path_factory.mktemp("tiny-model"), corpus())


@pytest.fixture(scope="session")
def tokenizer(tiny_model: Path) -> Any:
    from mlops_training.modeling import load_tokenizer

    return load_tokenizer(str(tiny_model))


# Small and fast on a 2-core CPU; lr high enough that two epochs visibly learn.
FAST = {
    "epochs": 2,
    "batch_size": 4,
    "learning_rate": 5e-3,
    "lora_r": 8,
    "lora_alpha": 16,
    "max_seq_length": 128,
    "warmup_ratio": 0.0,
    "logging_steps": 1,
    "max_runtime_seconds": 600,
}

MakeRoot = Callable[..., Path]


def write_root(
    root: Path,
    model: Path,
    rows: list[Any] | None = None,
    *,
    raw_lines: list[str] | None = None,
    **hyperparameters: Any,
) -> Path:
    """A SageMaker-style root: input/config/hyperparameters.json (string values, as SageMaker
    passes them) and input/data/train/train.jsonl."""
    (root / "input" / "config").mkdir(parents=True, exist_ok=True)
    train = root / "input" / "data" / "train"
    train.mkdir(parents=True, exist_ok=True)
    lines = raw_lines if raw_lines is not None else [json.dumps(r) for r in (rows or qa_rows())]
    (train / "train.jsonl").write_text("".join(line + "\n" for line in lines))
    values = {"model_id": str(model), "run_id": 7, **FAST, **hyperparameters}
    as_strings = {k: v if isinstance(v, str) else json.dumps(v) for k, v in values.items()}
    (root / "input" / "config" / "hyperparameters.json").write_text(json.dumps(as_strings))
    return root


@pytest.fixture(scope="session")
def root_writer(tiny_model: Path) -> MakeRoot:
    """write_root(root, rows=None, *, raw_lines=None, **hyperparameters) for any folder."""

    def write(root: Path, rows: list[Any] | None = None, **kwargs: Any) -> Path:
        return write_root(root, tiny_model, rows, **kwargs)

    return write


@pytest.fixture
def make_root(tmp_path: Path, root_writer: MakeRoot) -> MakeRoot:
    """make_root(rows=None, *, name="root", raw_lines=None, **hyperparameters) under tmp_path."""

    def make(rows: list[Any] | None = None, *, name: str = "root", **kwargs: Any) -> Path:
        return root_writer(tmp_path / name, rows, **kwargs)

    return make
