"""The committed offline assets under t5sum/resources: well-formed, T5-compatible, and reproducible."""

from __future__ import annotations

import importlib.util
import json
import re
import sys
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from transformers import AutoConfig, AutoTokenizer, PreTrainedTokenizerBase, T5ForConditionalGeneration

REPO = Path(__file__).resolve().parents[2]
RESOURCES = REPO / "t5sum" / "resources"
SPLITS = {"train": 400, "validation": 40, "test": 40}


@cache
def _script() -> ModuleType:
    path = REPO / "scripts" / "make_sample_assets.py"
    spec = importlib.util.spec_from_file_location("make_sample_assets", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


@cache
def _records(split: str) -> list[dict[str, Any]]:
    with (RESOURCES / "sample" / f"{split}.jsonl").open(encoding="utf-8") as f:
        return [json.loads(line) for line in f]


@cache
def _tokenizer() -> PreTrainedTokenizerBase:
    return AutoTokenizer.from_pretrained(str(RESOURCES / "tiny-tokenizer"))


@pytest.mark.parametrize("split", list(SPLITS))
def test_split_has_expected_size_fields_and_unique_ids(split: str) -> None:
    records = _records(split)
    assert len(records) == SPLITS[split]
    for record in records:
        assert set(record) == {"id", "document", "summary"}
        assert all(isinstance(value, str) and value.strip() for value in record.values()), record
    ids = [record["id"] for record in records]
    assert len(set(ids)) == len(ids)
    assert ids == [f"sample-{split}-{i}" for i in range(len(records))]


def test_splits_do_not_share_ids_or_documents() -> None:
    for field in ("id", "document"):
        values = [record[field] for split in SPLITS for record in _records(split)]
        assert len(set(values)) == len(values), field


@pytest.mark.parametrize("split", list(SPLITS))
def test_documents_are_alternating_dialogues_with_grounded_summaries(split: str) -> None:
    for record in _records(split):
        lines = record["document"].split("\n")
        assert 3 <= len(lines) <= 8
        for i, line in enumerate(lines):
            assert line.startswith(f"#Person{1 + i % 2}#: ")
        assert "\n" not in record["summary"]
        # Every number and capitalised word of the summary (names, days, cities) is copied from the document.
        for slot in re.findall(r"\b(?:\d+|[A-Z][a-z]+)\b", record["summary"]):
            assert slot in record["document"], (slot, record["id"])


def test_sample_files_stay_small() -> None:
    total = sum((RESOURCES / "sample" / f"{split}.jsonl").stat().st_size for split in SPLITS)
    assert total < 200_000


def test_tokenizer_has_t5_special_ids() -> None:
    tokenizer = _tokenizer()
    assert tokenizer.is_fast
    assert (tokenizer.pad_token, tokenizer.eos_token, tokenizer.unk_token) == ("<pad>", "</s>", "<unk>")
    assert (tokenizer.pad_token_id, tokenizer.eos_token_id, tokenizer.unk_token_id) == (0, 1, 2)
    assert tokenizer.model_max_length == 512
    assert tokenizer.model_input_names == ["input_ids", "attention_mask"]  # T5 takes no token_type_ids


def test_every_encoding_ends_with_a_single_eos() -> None:
    tokenizer = _tokenizer()
    texts = [r[field] for r in _records("validation") for field in ("document", "summary")] + ["x", ""]
    for ids in tokenizer(texts)["input_ids"]:
        assert ids[-1] == tokenizer.eos_token_id
        assert ids.count(tokenizer.eos_token_id) == 1
    assert tokenizer("a", "b")["input_ids"].count(tokenizer.eos_token_id) == 2


def test_decode_round_trips_summaries() -> None:
    tokenizer = _tokenizer()
    for record in _records("validation"):
        ids = tokenizer(record["summary"])["input_ids"]
        assert tokenizer.decode(ids, skip_special_tokens=True) == record["summary"]


def test_unk_rate_on_validation_documents_is_low() -> None:
    tokenizer = _tokenizer()
    encodings = tokenizer([r["document"] for r in _records("validation")])["input_ids"]
    n_tokens = sum(len(ids) for ids in encodings)
    n_unk = sum(ids.count(tokenizer.unk_token_id) for ids in encodings)
    assert n_unk / n_tokens < 0.01
    # ...and documents stay short, so a smoke run on CPU is fast.
    assert max(len(ids) for ids in encodings) <= 128


def test_config_matches_tokenizer_and_builds_a_tiny_t5() -> None:
    config = AutoConfig.from_pretrained(str(RESOURCES / "tiny-t5"))
    assert config.model_type == "t5"
    assert config.vocab_size == len(_tokenizer())
    assert (config.pad_token_id, config.eos_token_id, config.decoder_start_token_id) == (0, 1, 0)
    assert config.tie_word_embeddings is True
    assert (config.d_model, config.num_layers, config.num_decoder_layers, config.num_heads) == (64, 2, 2, 4)

    model = T5ForConditionalGeneration(config)
    assert sum(p.numel() for p in model.parameters()) < 1_000_000
    record = _records("train")[0]
    batch = _tokenizer()([record["document"]], text_target=[record["summary"]], return_tensors="pt")
    loss = model(**batch).loss
    assert loss.isfinite()


def test_script_regenerates_identical_assets(tmp_path: Path) -> None:
    assert _script().main(["--out", str(tmp_path), "--seed", "0"]) == 0
    byte_identical = [f"sample/{split}.jsonl" for split in SPLITS] + [
        "tiny-tokenizer/tokenizer.json",
        "tiny-tokenizer/tokenizer_config.json",
        "tiny-tokenizer/special_tokens_map.json",
    ]
    for rel in byte_identical:
        assert (tmp_path / rel).read_bytes() == (RESOURCES / rel).read_bytes(), (
            f"{rel} drifted from the script"
        )
    # config.json records the transformers version that wrote it; everything else must match.
    fresh, committed = (
        json.loads((d / "tiny-t5" / "config.json").read_text()) for d in (tmp_path, RESOURCES)
    )
    fresh.pop("transformers_version", None)
    committed.pop("transformers_version", None)
    assert fresh == committed
