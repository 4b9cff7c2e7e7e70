"""Packing, masking across packed examples, data order and the loss."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from mlops_training.config import Hyperparameters
from mlops_training.data import IGNORE_INDEX, Example
from mlops_training.modeling import CausalLMLoss, apply_lora, linear_cross_entropy, load_base_model
from mlops_training.packing import collate, epoch_order, pack_best_fit


def example(n: int, start: int = 10, trained_from: int = 0) -> Example:
    ids = np.arange(start, start + n, dtype=np.int64)
    targets = np.full(n, IGNORE_INDEX, dtype=np.int64)
    targets[trained_from : n - 1] = ids[trained_from + 1 :]
    return Example(input_ids=ids, targets=targets, source=("t.jsonl", 1))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(min_value=1, max_value=64), min_size=1, max_size=80), st.integers(64, 200))
def test_best_fit_places_every_example_once_within_capacity(lengths: list[int], capacity: int) -> None:
    rows = pack_best_fit(lengths, capacity)
    assert sorted(i for row in rows for i in row) == list(range(len(lengths)))
    assert all(sum(lengths[i] for i in row) <= capacity for row in rows)
    # best fit never leaves two rows that could have been one
    fill = sorted(sum(lengths[i] for i in row) for row in rows)
    assert len(fill) < 2 or fill[0] + fill[1] > capacity
    assert pack_best_fit(lengths, capacity) == rows  # deterministic


def test_best_fit_fills_rows_tightly() -> None:
    assert sorted(map(sorted, pack_best_fit([60, 40, 30, 70, 50, 50], 100))) == [[0, 1], [2, 3], [4, 5]]
    with pytest.raises(ValueError, match="capacity"):
        pack_best_fit([101], 100)


def test_epoch_order_is_a_pure_function_of_seed_and_epoch() -> None:
    assert np.array_equal(epoch_order(50, 42, 3), epoch_order(50, 42, 3))
    assert not np.array_equal(epoch_order(50, 42, 3), epoch_order(50, 42, 4))
    assert not np.array_equal(epoch_order(50, 42, 3), epoch_order(50, 43, 3))
    assert sorted(epoch_order(50, 42, 3)) == list(range(50))


def test_collate_restarts_positions_and_never_targets_across_examples() -> None:
    examples = [example(5, start=100), example(3, start=200, trained_from=1), example(6, start=300)]
    batch = collate(examples, [[0, 1], [2]], pad_id=0)
    assert batch.input_ids.shape == (2, 8)  # longest row (8) rounded to a multiple of 8
    assert batch.position_ids[0].tolist() == [0, 1, 2, 3, 4, 0, 1, 2]
    assert batch.position_ids[1].tolist() == [0, 1, 2, 3, 4, 5, 6, 7]  # padding continues the last example
    assert batch.input_ids[1].tolist() == [300, 301, 302, 303, 304, 305, 0, 0]
    # the last token of an example has no target: nothing is learned across the boundary
    assert batch.targets[0].tolist() == [101, 102, 103, 104, IGNORE_INDEX, IGNORE_INDEX, 202, IGNORE_INDEX]
    assert batch.targets[1, 5:].tolist() == [IGNORE_INDEX] * 3
    assert batch.seq_lens == [5, 3, 8]
    assert (batch.num_tokens, batch.num_targets) == (14, 4 + 1 + 5)
    assert batch.target_index.tolist() == [0, 1, 2, 3, 6, 8, 9, 10, 11, 12]
    fixed = collate(examples, [[0, 1], [2]], pad_id=0, length=16)
    assert fixed.input_ids.shape == (2, 16)
    assert fixed.seq_lens == [5, 11, 16]


def test_flash_varlen_kwargs_mark_every_sequence() -> None:
    batch = collate([example(5), example(3), example(6)], [[0, 1], [2]], pad_id=0)
    kwargs = batch.flash_varlen_kwargs(torch.device("cpu"))
    assert kwargs["cu_seq_lens_q"].tolist() == [0, 5, 8, 16]
    assert kwargs["cu_seq_lens_q"].dtype == torch.int32
    assert kwargs["max_length_q"] == 8


@pytest.mark.parametrize("attn", ["sdpa", "eager"])
def test_packed_examples_do_not_attend_to_each_other(tiny_model: Path, attn: str) -> None:
    """A packed row computes exactly what each example computes alone (CPU SDPA and eager)."""
    model = load_base_model(str(tiny_model), torch.device("cpu"), attn)
    examples = [example(7, start=20), example(5, start=40), example(9, start=60)]
    packed = collate(examples, [[0, 1], [2]], pad_id=0)
    with torch.no_grad():
        logits = model(input_ids=packed.input_ids, position_ids=packed.position_ids, use_cache=False).logits
        alone = [model(input_ids=torch.from_numpy(e.input_ids)[None]).logits[0] for e in examples]
    torch.testing.assert_close(logits[0, :7], alone[0], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(logits[0, 7:12], alone[1], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(logits[1, :9], alone[2], atol=1e-5, rtol=1e-5)
    # and the check has teeth: with a KV cache transformers drops the packed mask
    with torch.no_grad():
        leaky = model(input_ids=packed.input_ids, position_ids=packed.position_ids, use_cache=True).logits
    assert not torch.allclose(leaky[0, 7:12], alone[1], atol=1e-3)


@pytest.mark.parametrize("trainable_head", [False, True])
def test_linear_cross_entropy_matches_the_full_logits_loss(trainable_head: bool) -> None:
    """Loss and gradients equal the plain `cross_entropy(head(hidden))`, chunk boundaries included."""
    torch.manual_seed(0)
    head = torch.nn.Linear(16, 50, bias=True).requires_grad_(trainable_head)
    hidden = torch.randn(37, 16, requires_grad=True)
    targets = torch.randint(0, 50, (37,))
    wanted = [hidden, *head.parameters()] if trainable_head else [hidden]
    reference = F.cross_entropy(head(hidden), targets, reduction="sum")
    ref_grads = torch.autograd.grad(2.5 * reference, wanted)
    fused = linear_cross_entropy(hidden, targets, head, chunk_tokens=8)
    grads = torch.autograd.grad(2.5 * fused, wanted)
    torch.testing.assert_close(fused, reference)
    for got, expected in zip(grads, ref_grads, strict=True):
        torch.testing.assert_close(got, expected)
    with torch.no_grad():
        torch.testing.assert_close(linear_cross_entropy(hidden, targets, head, chunk_tokens=8), reference)


def test_the_loss_is_the_model_loss_on_target_tokens(tiny_model: Path) -> None:
    """The direct-head loss (head on target positions only) equals transformers' own loss."""
    model = apply_lora(
        load_base_model(str(tiny_model), torch.device("cpu"), "sdpa"), Hyperparameters(lora_dropout=0.0)
    )
    loss = CausalLMLoss(model, liger=False, flash_varlen=False, chunk_tokens=4)
    assert loss.setup.direct_head
    ex = example(12, start=30, trained_from=4)
    batch = collate([ex], [[0]], pad_id=0)
    labels = torch.full((1, batch.input_ids.shape[1]), IGNORE_INDEX)
    labels[0, 1:12] = torch.where(
        torch.from_numpy(ex.targets[:-1]) != IGNORE_INDEX, torch.arange(31, 42), -100
    )
    with torch.no_grad():
        ours = loss(batch) / batch.num_targets
        theirs: Any = model(input_ids=batch.input_ids, labels=labels, use_cache=False).loss
    torch.testing.assert_close(ours, theirs)
