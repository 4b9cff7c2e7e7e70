"""Packing examples into rows, the data order of each epoch, and the batches the loop feeds.

The batch is counted in *examples*: a micro-batch is `batch_size` examples whether packing is on or
off, so a step covers the same data (and the loop divides by the same number of target tokens) and
packing changes speed, not the model. A *row* is the list of examples that share one sequence of the
batch: with packing, best-fit decreasing lays the micro-batch's examples into as few rows of
`max_seq_length` tokens as they fit (less padding, fewer rows); without, a row is one example. Each
epoch visits the examples in an order that is a pure function of (seed, epoch), so a resumed job
replays exactly the batches an uninterrupted one would.

Keeping packed examples apart (no cross-contamination):
- every example's position_ids restart at 0 and its targets are shifted inside the example
  (see data.py), so no loss term spans two examples;
- SDPA/eager (CPU, or CUDA without flash-attn): with `attention_mask=None` and no KV cache,
  transformers derives a block-diagonal causal mask from the position_ids resets
  (`masking_utils.find_packed_sequence_indices`). Exact, but SDPA then runs its masked kernel
  (the math kernel on CPU) instead of the flash kernel;
- flash_attention_2 (CUDA): the batch is flattened into one row and `cu_seq_lens_*`/`max_length_*`
  are passed, so flash-attn's varlen kernel attends within each example only, with no mask at all.
The padding after the last example of a row continues that example's positions: nothing attends to
it (attention is causal) and it carries no target.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from mlops_training.data import IGNORE_INDEX, Example


class _SpaceIndex:
    """Counts of open rows per remaining space, with 'smallest space >= n' in O(log capacity)."""

    def __init__(self, capacity: int) -> None:
        self.size = 1 << (capacity + 1).bit_length()
        self.tree = [0] * (2 * self.size)

    def add(self, space: int, delta: int) -> None:
        i = space + self.size
        while i:
            self.tree[i] += delta
            i //= 2

    def first_at_least(self, lo: int) -> int | None:
        tree, i = self.tree, lo + self.size
        if tree[i] > 0:
            return lo
        while True:  # climb until a right sibling holds something
            if i == 1:
                return None
            if i % 2 == 0 and tree[i + 1] > 0:
                i += 1
                break
            i //= 2
        while i < self.size:  # then the leftmost non-empty leaf below it
            i = 2 * i if tree[2 * i] > 0 else 2 * i + 1
        return i - self.size


def pack_best_fit(lengths: Sequence[int], capacity: int) -> list[list[int]]:
    """Best-fit decreasing: longest first, each into the open row it fills most tightly. Returns
    rows of example indices. Deterministic (ties broken by index)."""
    if any(n > capacity or n <= 0 for n in lengths):
        raise ValueError("every length must be in 1..capacity")
    order = sorted(range(len(lengths)), key=lambda i: (-lengths[i], i))
    index = _SpaceIndex(capacity)
    open_rows: dict[int, list[int]] = {}  # remaining space -> stack of row ids
    rows: list[list[int]] = []
    for item in order:
        need = lengths[item]
        space = index.first_at_least(need)
        if space is None:
            rows.append([item])
            row, left = len(rows) - 1, capacity - need
        else:
            row = open_rows[space].pop()
            index.add(space, -1)
            rows[row].append(item)
            left = space - need
        if left > 0:
            open_rows.setdefault(left, []).append(row)
            index.add(left, 1)
    return rows


def micro_batch_rows(
    examples: Sequence[Example], example_ids: Sequence[int], max_seq_length: int, packing: bool
) -> list[list[int]]:
    """The rows (lists of example ids) one micro-batch of `example_ids` is laid out in."""
    if not packing:
        return [[int(i)] for i in example_ids]
    packed = pack_best_fit([len(examples[i]) for i in example_ids], max_seq_length)
    return [[int(example_ids[j]) for j in row] for row in packed]


def epoch_order(num_examples: int, seed: int, epoch: int) -> np.ndarray:
    """The examples' order in one epoch: a pure function of (seed, epoch)."""
    return np.random.default_rng([seed, epoch]).permutation(num_examples)


@dataclass
class Batch:
    input_ids: torch.Tensor  # (B, T) int64
    position_ids: torch.Tensor  # (B, T) int64
    targets: torch.Tensor  # (B, T) int64, IGNORE_INDEX where nothing is learned
    target_index: torch.Tensor  # (K,) int64: flat positions with a target (the loss reads only those)
    seq_lens: list[int]  # lengths of the sequences of the flattened batch (padding included)
    num_tokens: int  # real (non-padding) tokens
    num_targets: int

    def to(self, device: torch.device) -> Batch:
        if device.type == "cpu":
            return self
        return Batch(
            input_ids=self.input_ids.pin_memory().to(device, non_blocking=True),
            position_ids=self.position_ids.pin_memory().to(device, non_blocking=True),
            targets=self.targets.pin_memory().to(device, non_blocking=True),
            target_index=self.target_index.pin_memory().to(device, non_blocking=True),
            seq_lens=self.seq_lens,
            num_tokens=self.num_tokens,
            num_targets=self.num_targets,
        )

    def flash_varlen_kwargs(self, device: torch.device) -> dict[str, Any]:
        """cu_seqlens for flash-attn's varlen kernel over the flattened batch (as transformers'
        FlashAttentionKwargs); computed here once per batch instead of in every layer."""
        cu = torch.zeros(len(self.seq_lens) + 1, dtype=torch.int32)
        cu[1:] = torch.tensor(self.seq_lens, dtype=torch.int32).cumsum(0)
        cu = cu.to(device, non_blocking=True)
        longest = max(self.seq_lens)
        return {"cu_seq_lens_q": cu, "cu_seq_lens_k": cu, "max_length_q": longest, "max_length_k": longest}


def collate(
    examples: Sequence[Example],
    rows: Sequence[Sequence[int]],
    *,
    pad_id: int,
    length: int | None = None,
    multiple_of: int = 8,
) -> Batch:
    """Rows of examples -> one batch. `length` fixes T (static shapes for torch.compile); without
    it T is the longest row rounded up to `multiple_of`."""
    longest = max(sum(len(examples[i]) for i in row) for row in rows)
    width = length or -(-longest // multiple_of) * multiple_of
    if longest > width:
        raise ValueError(f"a row of {longest} tokens does not fit in {width}")
    ids = np.full((len(rows), width), pad_id, dtype=np.int64)
    pos = np.zeros((len(rows), width), dtype=np.int64)
    tgt = np.full((len(rows), width), IGNORE_INDEX, dtype=np.int64)
    seq_lens: list[int] = []
    num_tokens = 0
    for r, row in enumerate(rows):
        at = 0
        for i in row:
            example = examples[i]
            n = len(example)
            ids[r, at : at + n] = example.input_ids
            tgt[r, at : at + n] = example.targets
            pos[r, at : at + n] = np.arange(n)
            seq_lens.append(n)
            at += n
        num_tokens += at
        if at < width:  # padding continues the last example's positions
            last = len(examples[row[-1]])
            pos[r, at:] = np.arange(last, last + width - at)
            seq_lens[-1] += width - at
    targets = torch.from_numpy(tgt)
    target_index = (targets.view(-1) != IGNORE_INDEX).nonzero().view(-1)
    return Batch(
        input_ids=torch.from_numpy(ids),
        position_ids=torch.from_numpy(pos),
        targets=targets,
        target_index=target_index,
        seq_lens=seq_lens,
        num_tokens=num_tokens,
        num_targets=int(target_index.numel()),
    )
