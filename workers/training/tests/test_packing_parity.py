"""Packing changes speed, not the model: the batch counts examples, packed or not (#17.5)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch

from mlops_training.config import Hyperparameters
from mlops_training.data import Example, read_rows, tokenize
from mlops_training.loop import LoraTrainer, TrainResult
from mlops_training.modeling import load_base_model, prepare_for_training
from mlops_training.packing import collate

from .conftest import qa_rows

# fp32 on CPU: the two layouts differ only in the order of floating-point sums (and padding that
# carries no target), so the losses agree far below the seed spread (0.003)
TOLERANCE = 1e-4


def examples(tmp_path: Path, tokenizer: Any) -> list[Example]:
    train = tmp_path / "train"
    train.mkdir()
    (train / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in qa_rows(48)))
    return tokenize(read_rows(train), tokenizer, 128).examples


def held_out_loss(model: Any, loss: Any, held_out: list[Example], pad_id: int) -> float:
    model.eval()
    total, targets = 0.0, 0
    with torch.no_grad():
        for example in held_out:
            batch = collate([example], [[0]], pad_id=pad_id)
            total += float(loss(batch))
            targets += batch.num_targets
    return total / targets


def train(
    tiny_model: Path, data: list[Example], pad_id: int, packing: bool
) -> tuple[LoraTrainer, TrainResult, float]:
    hp = Hyperparameters(
        epochs=2,
        batch_size=4,
        learning_rate=5e-3,
        lora_r=8,
        lora_alpha=16,
        lora_dropout=0.0,  # dropout masks are drawn per layout; without them both runs are one computation
        max_seq_length=128,
        warmup_ratio=0.1,
        logging_steps=1,
        checkpoint_steps=0,
        torch_compile="false",
        packing=packing,
    )
    torch.manual_seed(0)
    device = torch.device("cpu")
    model = load_base_model(str(tiny_model), device, "sdpa")
    prepared = prepare_for_training(model, hp, device, "sdpa")
    trainer = LoraTrainer(prepared.model, data[:40], hp, device=device, loss=prepared.loss, pad_id=pad_id)
    result = trainer.train()
    return trainer, result, held_out_loss(prepared.model, prepared.loss, data[40:], pad_id)


Runs = dict[bool, tuple[LoraTrainer, TrainResult, float]]


@pytest.fixture(scope="module")
def runs(tiny_model: Path, tokenizer: Any, tmp_path_factory: pytest.TempPathFactory) -> Runs:
    data = examples(tmp_path_factory.mktemp("parity"), tokenizer)
    return {packing: train(tiny_model, data, tokenizer.pad_token_id, packing) for packing in (True, False)}


def test_packing_on_and_off_make_the_same_steps_and_the_same_model(runs: Runs) -> None:
    """40 training examples, batch 4, 2 epochs: 20 optimizer steps either way (before: 30 unpacked
    against 6 packed, because the batch counted packed rows); every logged loss and the held-out
    answer loss of 8 examples within TOLERANCE."""
    packed_trainer, packed, packed_loss = runs[True]
    plain_trainer, plain, plain_loss = runs[False]

    assert packed.steps == plain.steps == 20
    # the packed batches are fewer, fuller rows of the same examples
    first = packed_trainer.micro_batches(0)[0]
    assert sorted(i for row in packed_trainer.rows(first) for i in row) == sorted(first)
    assert len(packed_trainer.rows(first)) < len(plain_trainer.rows(first)) == 4
    assert packed.tokens == plain.tokens
    for ours, theirs in zip(packed.history, plain.history, strict=True):
        assert ours["train_loss"] == pytest.approx(theirs["train_loss"], abs=TOLERANCE)
        assert ours["learning_rate"] == theirs["learning_rate"]
    assert packed_loss == pytest.approx(plain_loss, abs=TOLERANCE)
    assert plain_loss < plain.history[0]["train_loss"] - 0.3  # and it learned


def test_the_logged_learning_rate_is_the_one_the_step_used(runs: Runs) -> None:
    lrs = [h["learning_rate"] for h in runs[True][1].history]
    # 20 steps, warmup ceil(0.1 * 20) = 2: step 1 runs at lr 0, step 2 at half, step 3 at the peak
    assert lrs[0] == 0.0
    assert lrs[1] == pytest.approx(5e-3 / 2)
    assert lrs[2] == pytest.approx(5e-3)
    assert lrs[-1] < lrs[2]
