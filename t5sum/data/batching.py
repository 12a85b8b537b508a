"""Batches: dynamic padding, length grouping for training, length sorting for evaluation, and a sampler
that can skip the batches a resumed run already trained on."""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from typing import Any

import torch
from torch.utils.data import Sampler

LABEL_PAD = -100


def pad_right(rows: Sequence[Sequence[int]], value: int) -> torch.Tensor:
    """Right-pad token id rows to the longest one."""
    padded = torch.full((len(rows), max(len(ids) for ids in rows)), value, dtype=torch.long)
    for i, ids in enumerate(rows):
        padded[i, : len(ids)] = torch.as_tensor(ids, dtype=torch.long)
    return padded


def pad_inputs(rows: Sequence[Sequence[int]], pad_token_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Encoder inputs and their attention mask; shared by training batches and every inference backend."""
    attention_mask = pad_right([[1] * len(ids) for ids in rows], 0)
    return pad_right(rows, pad_token_id), attention_mask


class Seq2SeqCollator:
    """Pads to the longest row in the batch; labels are padded with -100 so the loss ignores them."""

    def __init__(self, pad_token_id: int) -> None:
        self.pad_token_id = pad_token_id

    def __call__(self, rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
        input_ids, attention_mask = pad_inputs([r["input_ids"] for r in rows], self.pad_token_id)
        labels = pad_right([r["labels"] for r in rows], LABEL_PAD)
        batch: dict[str, Any] = {"input_ids": input_ids, "attention_mask": attention_mask, "labels": labels}
        for key in ("id", "document", "summary", "references"):
            if key in rows[0]:
                batch[key] = [r[key] for r in rows]
        return batch


class LengthGroupedBatchSampler(Sampler[list[int]]):
    """Yields index batches.

    shuffle + group_by_length: shuffle, cut into mega-batches of `mega_batch_mult` batches, sort each by
    length, so a batch holds similar lengths (little padding) while batch order stays random.
    not shuffle + group_by_length: one global longest-first sort (evaluation: least padding, OOM shows first).
    Shards batches across `num_replicas` (DDP) so every rank gets the same number of batches: rank r takes
    batches r, r + N, r + 2N, ... and the last round is filled up with repeats of the first batches.
    Evaluation must not count those repeats: `examples_before` tells them apart.
    """

    def __init__(
        self,
        lengths: Sequence[int],
        batch_size: int,
        *,
        shuffle: bool = True,
        group_by_length: bool = True,
        seed: int = 0,
        mega_batch_mult: int = 50,
        num_replicas: int = 1,
        rank: int = 0,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.lengths = torch.as_tensor(list(lengths))
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.group_by_length = group_by_length
        self.seed = seed
        self.mega_batch_mult = mega_batch_mult
        self.num_replicas = num_replicas
        self.rank = rank
        self.epoch = 0
        self._resume: tuple[int, int] | None = None

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def resume_from(self, epoch: int, batches_done: int) -> None:
        """The next pass over `epoch` skips the batches already trained on."""
        self._resume = (epoch, batches_done)

    def _all_batches(self) -> list[list[int]]:
        n = len(self.lengths)
        generator = torch.Generator().manual_seed(self.seed + self.epoch)
        order = torch.randperm(n, generator=generator) if self.shuffle else torch.arange(n)
        if self.group_by_length and self.shuffle:
            chunk = self.batch_size * self.mega_batch_mult
            groups = [order[i : i + chunk] for i in range(0, n, chunk)]
            order = torch.cat(
                [g[torch.argsort(self.lengths[g], descending=True, stable=True)] for g in groups]
            )
        elif self.group_by_length:
            order = torch.argsort(self.lengths, descending=True, stable=True)
        batches = [order[i : i + self.batch_size].tolist() for i in range(0, n, self.batch_size)]
        if self.group_by_length and self.shuffle and len(batches) > 1:
            batches = [batches[i] for i in torch.randperm(len(batches), generator=generator).tolist()]
        return batches

    def __iter__(self) -> Iterator[list[int]]:
        batches = self._all_batches()
        per_rank = len(self)
        padded = batches + batches[: per_rank * self.num_replicas - len(batches)]
        mine = padded[self.rank :: self.num_replicas]
        skip = 0
        if self._resume is not None:
            epoch, done = self._resume
            self._resume = None
            if epoch == self.epoch:
                skip = done
        yield from mine[skip:]

    def __len__(self) -> int:
        return math.ceil(math.ceil(len(self.lengths) / self.batch_size) / self.num_replicas)

    def examples_before(self, local_batch: int) -> int | None:
        """Rows that come before this rank's `local_batch` in the unsharded order (as in a 1-process run),
        or None when the batch is a repeat that only fills up the last round across ranks."""
        position = local_batch * self.num_replicas + self.rank
        if position >= math.ceil(len(self.lengths) / self.batch_size):
            return None
        return position * self.batch_size
