"""Fixtures of the serving container's tests: a training artifact of the tiny model (adapter +
metadata, the layout SageMaker extracts into /opt/ml/model) and the server running on a real port."""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from mlops_contracts.logs import UVICORN
from mlops_contracts.prompts import DEFAULT_PROMPT_TEMPLATE
from mlops_serving.app import ServingEngine, create_app
from mlops_serving.settings import ServingSettings

QUESTIONS = [
    ("What does the platform store runs in?", "Runs are stored in PostgreSQL."),
    ("Which service judges the answers?", "Amazon Bedrock judges the answers."),
    ("What gates a release?", "The MLScore gate fails closed."),
    ("Who approves a release?", "A person approves it from a Teams card."),
]


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from mlops_devstack.tiny_model import build_tiny_model

    corpus = [DEFAULT_PROMPT_TEMPLATE.format(context=c, question=q) + " " + c for q, c in QUESTIONS]
    return build_tiny_model(tmp_path_factory.mktemp("tiny-model"), corpus * 8)


@pytest.fixture(scope="session")
def model_dir(tiny_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """What SageMaker extracts from the package's model.tar.gz: adapter/ (with the tokenizer) and
    metadata.json. The LoRA weights are random, so the adapter visibly changes the answers."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    target = tmp_path_factory.mktemp("opt-ml-model")
    torch.manual_seed(11)
    base = AutoModelForCausalLM.from_pretrained(tiny_model)
    config = LoraConfig(r=8, lora_alpha=32, target_modules=["q_proj", "v_proj"], init_lora_weights=False)
    peft_model = get_peft_model(base, config)
    with torch.no_grad():
        for name, param in peft_model.named_parameters():
            if "lora_" in name:
                param.normal_(0.0, 0.5)
    peft_model.save_pretrained(target / "adapter")
    AutoTokenizer.from_pretrained(tiny_model).save_pretrained(target / "adapter")
    (target / "metadata.json").write_text(
        json.dumps(
            {
                "run_id": "run-served",
                "base_model": f"file://{tiny_model}",
                "prompt": {"format": "qa", "template": DEFAULT_PROMPT_TEMPLATE, "bos": True},
            }
        )
    )
    return target


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def running_server(settings: ServingSettings, load_engine: Callable[[], ServingEngine]) -> Iterator[str]:
    """The app under uvicorn on a free port, in a thread; yields its base URL once it listens."""
    port = free_port()
    # No log config of uvicorn's own, as in production (__main__): it would leave handlers of its own
    # on uvicorn's loggers for the rest of the session. `log_level` sets their levels: put back below.
    loggers = [logging.getLogger(name) for name in UVICORN]
    levels = [logger.level for logger in loggers]
    config = uvicorn.Config(
        create_app(settings, load_engine), host="127.0.0.1", port=port, log_level="warning", log_config=None
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the serving app did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


@pytest.fixture(scope="session")
def questions() -> list[tuple[str, str]]:
    return QUESTIONS


@pytest.fixture(scope="session")
def serve() -> Callable[[ServingSettings, Callable[[], ServingEngine]], Any]:
    """`with serve(settings, load_engine) as url:` a server of its own (the tests' importlib mode
    makes conftest's names reachable through fixtures only)."""
    return running_server


@pytest.fixture(scope="module")
def engine(model_dir: Path) -> Any:
    from mlops_serving.artifact import locate
    from mlops_serving.engine import TransformersEngine

    return TransformersEngine(locate(model_dir), device="cpu")


@pytest.fixture(scope="module")
def server(engine: Any) -> Iterator[str]:
    # a window long enough that requests sent together share a batch on a loaded CI machine
    settings = ServingSettings(max_batch_size=16, max_wait_ms=200, max_new_tokens_limit=64)
    with running_server(settings, lambda: engine) as url:
        yield url
