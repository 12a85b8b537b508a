"""Data layer: normalisation, filtering, tokenization cache, padding, batching."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from transformers import AutoTokenizer

from t5sum.config import RESOURCES
from t5sum.data.batching import LABEL_PAD, LengthGroupedBatchSampler, Seq2SeqCollator
from t5sum.data.datasets import DialogSumDataModule, LocalFilesDataModule
from t5sum.data.prompt import build_prompt
from t5sum.data.tokenize import TokenizationSpec, cache_key
from t5sum.errors import ConfigError, DataSourceError

TOKENIZER = AutoTokenizer.from_pretrained(RESOURCES / "tiny-tokenizer")


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def make_dm(tmp_path: Path, **kwargs) -> LocalFilesDataModule:
    kwargs.setdefault("data_dir", str(RESOURCES / "sample"))
    return LocalFilesDataModule(
        TOKENIZER, "summarize: {document}", name="t", cache_dir=str(tmp_path / "cache"), **kwargs
    )


def test_hub_column_names_are_mapped_and_empty_rows_dropped(tmp_path: Path) -> None:
    rows = [
        {"dialogue": "#Person1#: Hi.\r\n#Person2#: Hello.", "summary": "They greet.", "id": 7},
        {"dialogue": "   ", "summary": "nothing"},
        {"dialogue": "#Person1#: Bye.", "summary": ""},
    ]
    write_jsonl(tmp_path / "d" / "train.jsonl", rows)
    dm = DialogSumDataModule(TOKENIZER, "{document}", name="dialogsum", data_dir=str(tmp_path / "d"))
    ds = dm.load_normalized("train")
    assert ds.column_names == ["id", "document", "summary"]
    assert ds[0] == {"id": "7", "document": "#Person1#: Hi.\n#Person2#: Hello.", "summary": "They greet."}
    assert dm.stats["train"] == {"rows": 1, "dropped_empty": 2}


def test_missing_column_names_the_key_and_the_columns_present(tmp_path: Path) -> None:
    write_jsonl(tmp_path / "d" / "train.jsonl", [{"text": "a b c", "abstract": "a"}])
    dm = make_dm(tmp_path, data_dir=str(tmp_path / "d"))
    with pytest.raises(DataSourceError) as err:
        dm.load_normalized("train")
    assert "dataset.columns.document" in str(err.value) and "['text', 'abstract']" in str(err.value)
    # and the fix the message suggests works
    dm = make_dm(tmp_path, data_dir=str(tmp_path / "d"), columns={"document": "text", "summary": "abstract"})
    assert dm.load_normalized("train")[0]["document"] == "a b c"


def test_dataset_empty_after_filtering_is_an_error(tmp_path: Path) -> None:
    write_jsonl(tmp_path / "d" / "train.jsonl", [{"document": "x", "summary": " "}] * 3)
    with pytest.raises(DataSourceError, match="empty after dropping"):
        make_dm(tmp_path, data_dir=str(tmp_path / "d")).load_normalized("train")


def test_missing_split_file_lists_what_is_there(tmp_path: Path) -> None:
    write_jsonl(tmp_path / "d" / "train.jsonl", [{"document": "x", "summary": "y"}])
    with pytest.raises(DataSourceError, match=r"No 'test' split.*train\.jsonl"):
        make_dm(tmp_path, data_dir=str(tmp_path / "d")).load_normalized("test")


def test_csv_and_parquet_load_like_jsonl(tmp_path: Path) -> None:
    import pandas as pd

    frame = pd.DataFrame({"document": ["one two", "three four"], "summary": ["one", "three"]})
    frame.to_csv(tmp_path / "train.csv", index=False)
    frame.to_parquet(tmp_path / "validation.parquet")
    dm = make_dm(tmp_path, data_dir=str(tmp_path))
    assert dm.load_normalized("train")["summary"] == ["one", "three"]
    assert dm.load_normalized("validation")["id"] == ["validation-0", "validation-1"]


def test_hub_unreachable_names_the_dataset_and_the_local_key(tmp_path: Path) -> None:
    dm = DialogSumDataModule(TOKENIZER, "{document}", name="dialogsum")  # no data_dir: the hub, offline
    with pytest.raises(DataSourceError) as err:
        dm.load_normalized("train")
    assert "knkarthick/dialogsum" in str(err.value) and "dataset.data_dir" in str(err.value)


def test_training_subsample_is_seeded(tmp_path: Path) -> None:
    first = make_dm(tmp_path, train_samples=50, seed=1).load_normalized("train")["id"]
    again = make_dm(tmp_path, train_samples=50, seed=1).load_normalized("train")["id"]
    other = make_dm(tmp_path, train_samples=50, seed=2).load_normalized("train")["id"]
    assert first == again and first != other and len(first) == 50


def test_tokenization_truncates_keeping_eos_and_reports_the_share(tmp_path: Path) -> None:
    dm = make_dm(tmp_path, max_source_length=24, max_target_length=8)
    ds = dm.prepare_split("validation")
    assert max(ds["length"]) == 24 and all(ids[-1] == TOKENIZER.eos_token_id for ids in ds["input_ids"])
    assert all(len(lab) <= 8 and lab[-1] == TOKENIZER.eos_token_id for lab in ds["labels"])
    expected = sum(
        len(TOKENIZER(build_prompt("summarize: {document}", d))["input_ids"]) > 24 for d in ds["document"]
    ) / len(ds)
    assert dm.stats["validation"]["source_truncated_share"] == pytest.approx(expected) and expected > 0.5


def test_tokenization_cache_key_follows_what_changes_tokens(tmp_path: Path) -> None:
    ds = make_dm(tmp_path).load_normalized("validation")
    spec = TokenizationSpec("summarize: {document}", 64, 16)
    key = cache_key(ds, TOKENIZER, spec)
    assert key == cache_key(ds, TOKENIZER, TokenizationSpec("summarize: {document}", 64, 16))
    assert key != cache_key(ds, TOKENIZER, TokenizationSpec("summarize: {document}", 65, 16))
    assert key != cache_key(ds, TOKENIZER, TokenizationSpec("tl;dr {document}", 64, 16))
    other_tokenizer = AutoTokenizer.from_pretrained(RESOURCES / "tiny-tokenizer")
    other_tokenizer.add_tokens(["<new>"])
    assert key != cache_key(ds, other_tokenizer, spec)
    dm = make_dm(tmp_path)
    dm.prepare_split("validation")
    assert len(list((tmp_path / "cache" / "tokenized").glob("*.arrow"))) == 1
    make_dm(tmp_path).prepare_split("validation")  # second run reuses the cache file
    assert len(list((tmp_path / "cache" / "tokenized").glob("*.arrow"))) == 1


def test_prompt_longer_than_max_source_length_is_an_error(tmp_path: Path) -> None:
    dm = LocalFilesDataModule(
        TOKENIZER,
        "Please read the following dialogue very carefully and then summarize it: {document}",
        name="t",
        data_dir=str(RESOURCES / "sample"),
        max_source_length=6,
    )
    with pytest.raises(ConfigError, match=r"max_source_length is 6"):
        dm.prepare_split("validation")


def test_collator_pads_inputs_with_pad_and_labels_with_minus_100() -> None:
    rows = [
        {"input_ids": [5, 6, 1], "labels": [7, 1], "id": "a", "document": "d", "summary": "s"},
        {"input_ids": [5, 1], "labels": [7, 8, 9, 1], "id": "b", "document": "d", "summary": "s"},
    ]
    batch = Seq2SeqCollator(pad_token_id=0)(rows)
    assert batch["input_ids"].tolist() == [[5, 6, 1], [5, 1, 0]]
    assert batch["attention_mask"].tolist() == [[1, 1, 1], [1, 1, 0]]
    assert batch["labels"].tolist() == [[7, 1, LABEL_PAD, LABEL_PAD], [7, 8, 9, 1]]
    assert batch["id"] == ["a", "b"]


def padding_share(lengths: list[int], batches: list[list[int]]) -> float:
    padded = sum(max(lengths[i] for i in b) * len(b) for b in batches)
    return 1 - sum(lengths) / padded


def test_length_grouping_cuts_padding_and_covers_every_example_once() -> None:
    lengths = torch.randint(5, 500, (1000,), generator=torch.Generator().manual_seed(0)).tolist()
    grouped = list(
        LengthGroupedBatchSampler(lengths, 8, shuffle=True, group_by_length=True, mega_batch_mult=20)
    )
    random_ = list(LengthGroupedBatchSampler(lengths, 8, shuffle=True, group_by_length=False))
    assert sorted(i for b in grouped for i in b) == list(range(1000))
    assert padding_share(lengths, grouped) < 0.1 < 0.3 < padding_share(lengths, random_)
    sampler = LengthGroupedBatchSampler(lengths, 8, shuffle=True, seed=3)
    first = list(sampler)
    sampler.set_epoch(1)
    assert list(sampler) != first  # a new order each epoch


def test_evaluation_batches_are_sorted_longest_first() -> None:
    lengths = [3, 9, 1, 7, 5]
    batches = list(LengthGroupedBatchSampler(lengths, 2, shuffle=False, group_by_length=True))
    assert batches == [[1, 3], [4, 0], [2]]


def test_ranks_get_disjoint_equal_shares_and_resume_skips_done_batches() -> None:
    lengths = list(range(1, 42))
    shards = [list(LengthGroupedBatchSampler(lengths, 4, num_replicas=2, rank=r, seed=5)) for r in (0, 1)]
    assert len(shards[0]) == len(shards[1]) == 6
    seen = [i for shard in shards for b in shard for i in b]
    assert set(seen) == set(range(41))
    sampler = LengthGroupedBatchSampler(lengths, 4, seed=5)
    full = list(sampler)
    sampler.resume_from(0, 4)
    assert list(sampler) == full[4:]
    assert list(sampler) == full  # the skip applies to the resumed pass only


def test_sharded_batches_are_the_one_process_batches_and_repeats_are_marked() -> None:
    lengths = [7, 3, 9, 1, 5, 8, 2, 6, 4, 10, 11]  # 6 batches of 2, the last holds one row
    for shuffle in (False, True):
        one = list(LengthGroupedBatchSampler(lengths, 2, shuffle=shuffle, seed=3))
        for world in (2, 4):
            samplers = [
                LengthGroupedBatchSampler(lengths, 2, shuffle=shuffle, seed=3, num_replicas=world, rank=r)
                for r in range(world)
            ]
            shards = [list(s) for s in samplers]
            assert len({len(shard) for shard in shards}) == 1  # equal step counts: no DDP hang
            kept = {
                s.examples_before(k): batch
                for s, shard in zip(samplers, shards, strict=True)
                for k, batch in enumerate(shard)
                if s.examples_before(k) is not None
            }
            # the non-repeat batches, in 1-process order, are exactly the 1-process batches (same grouping)
            assert [kept[k] for k in sorted(kept)] == one
            assert sorted(kept) == [2 * i for i in range(len(one))]
