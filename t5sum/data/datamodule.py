"""The base LightningDataModule: raw rows -> {id, document, summary} -> prompt -> tokens -> batches."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

import datasets
import lightning as L
import torch.distributed as dist
from torch.utils.data import DataLoader
from transformers import PreTrainedTokenizerBase

from t5sum.data.batching import LengthGroupedBatchSampler, Seq2SeqCollator
from t5sum.data.long_input import LongInput
from t5sum.data.sources import drop_empty, load_split, normalize_columns, subsample
from t5sum.data.tokenize import TokenizationSpec, check_prompt_fits, tokenize_split, truncation_stats

log = logging.getLogger(__name__)

STAGE_SPLITS = {"fit": ("train", "validation"), "validate": ("validation",), "test": ("test",)}


class SummarizationDataModule(L.LightningDataModule):
    """Loads any summarization dataset from local files or the hub. Subclasses set the hub defaults below
    (used when the argument is None) and, where a dataset needs it, `clean_rows`."""

    HUB_PATH: str | None = None
    HUB_CONFIG: str | None = None
    COLUMNS: Mapping[str, str] = MappingProxyType({})

    def __init__(
        self,
        tokenizer: PreTrainedTokenizerBase,
        prompt_template: str,
        *,
        name: str,
        hub_path: str | None = None,
        hub_config: str | None = None,
        hub_splits: Mapping[str, str] | None = None,
        data_dir: str | None = None,
        data_files: Mapping[str, str] | None = None,
        columns: Mapping[str, str | None] | None = None,
        max_source_length: int = 512,
        max_target_length: int = 128,
        train_samples: int | None = None,
        val_samples: int | None = None,
        test_samples: int | None = None,
        batch_size: int = 8,
        eval_batch_size: int | None = None,
        num_workers: int = 0,
        group_by_length: bool = True,
        sort_eval_by_length: bool = True,
        seed: int = 0,
        cache_dir: str | None = None,
        long_input: LongInput | None = None,
        multi_ref: str = "max",
    ) -> None:
        super().__init__()
        self.tokenizer = tokenizer
        self.name = name
        self.source = {
            "hub_path": hub_path or self.HUB_PATH,
            "hub_config": hub_config or self.HUB_CONFIG,
            "data_dir": data_dir,
            "data_files": dict(data_files) if data_files else None,
        }
        self.hub_splits = dict(hub_splits or {})
        self.columns = dict(columns or self.COLUMNS)
        long_input = LongInput.from_config(long_input)
        budget = long_input.budget(max_source_length)
        self.spec = TokenizationSpec(prompt_template, budget, max_target_length, long_input)
        self.samples = {"train": train_samples, "validation": val_samples, "test": test_samples}
        self.batch_size = batch_size
        self.eval_batch_size = eval_batch_size or batch_size
        self.num_workers = num_workers
        self.group_by_length = group_by_length
        self.sort_eval_by_length = sort_eval_by_length
        self.seed = seed
        self.cache_dir = cache_dir
        self.collator = Seq2SeqCollator(tokenizer.pad_token_id)
        self.multi_ref = multi_ref  # how this dataset's published scores treat several references per row
        self.splits: dict[str, datasets.Dataset] = {}
        self.stats: dict[str, dict[str, float]] = {}
        self.train_sampler: LengthGroupedBatchSampler | None = None
        self.pending_resume: dict[str, int] | None = None

    def clean_rows(self, ds: datasets.Dataset) -> datasets.Dataset:
        """Dataset-specific text fixes on normalised rows; the default keeps rows as they are."""
        return ds

    def load_normalized(self, split: str) -> datasets.Dataset:
        raw = load_split(split, hub_split=self.hub_splits.get(split), **self.source)
        ds = self.clean_rows(normalize_columns(raw, self.columns, split))
        ds, dropped = drop_empty(ds, split)
        ds = subsample(ds, self.samples.get(split), self.seed)
        self.stats[split] = {"rows": len(ds), "dropped_empty": dropped}
        return ds

    def prepare_split(self, split: str) -> datasets.Dataset:
        if split not in self.splits:
            if split == "train":
                self.spec.long_input.check_trainable()
            check_prompt_fits(self.tokenizer, self.spec)
            ds = tokenize_split(
                self.load_normalized(split), self.tokenizer, self.spec, self.cache_dir, f"{self.name}-{split}"
            )
            self.stats[split].update(truncation_stats(ds))
            log.info("%s/%s: %s", self.name, split, self.stats[split])
            self.splits[split] = ds
        return self.splits[split]

    def setup(self, stage: str | None = None) -> None:
        for split in STAGE_SPLITS.get(stage or "fit", ("train", "validation")):
            self.prepare_split(split)

    def _replicas(self) -> tuple[int, int]:
        if dist.is_available() and dist.is_initialized():
            return dist.get_world_size(), dist.get_rank()
        return 1, 0

    # Exact resume. The data position travels in the datamodule's checkpoint state, which Lightning restores
    # before any dataloader exists. (A stateful DataLoader is not enough: Lightning builds the train loader
    # early to estimate the scheduler's total steps, and then never loads its state.)
    def state_dict(self) -> dict[str, int]:
        if self.train_sampler is None or self.trainer is None:
            return {}
        done = self.trainer.fit_loop.epoch_loop.batch_progress.current.processed
        return {"epoch": self.train_sampler.epoch, "batches_done": done}

    def load_state_dict(self, state: dict[str, int]) -> None:
        self.pending_resume = dict(state) if state else None

    def _loader(self, split: str, *, train: bool) -> DataLoader:
        ds = self.prepare_split(split)
        num_replicas, rank = self._replicas()
        sampler = LengthGroupedBatchSampler(
            ds["length"],
            self.batch_size if train else self.eval_batch_size,
            shuffle=train,
            group_by_length=self.group_by_length if train else self.sort_eval_by_length,
            seed=self.seed,
            num_replicas=num_replicas,
            rank=rank,
        )
        if train:
            self.train_sampler = sampler
            if self.pending_resume:
                sampler.set_epoch(self.pending_resume["epoch"])
                sampler.resume_from(self.pending_resume["epoch"], self.pending_resume["batches_done"])
                self.pending_resume = None
        return DataLoader(
            ds,
            batch_sampler=sampler,
            collate_fn=self.collator,
            num_workers=self.num_workers,
            persistent_workers=self.num_workers > 0,
        )

    def train_dataloader(self) -> DataLoader:
        return self._loader("train", train=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader("validation", train=False)

    def test_dataloader(self) -> DataLoader:
        return self._loader("test", train=False)

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            **self.source,
            "stats": self.stats,
            **self.spec.describe(),
            "multi_ref": self.multi_ref,
        }
