"""Prompt + tokenization of normalised rows, cached on disk under a key of everything that changes tokens."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import datasets
from transformers import PreTrainedTokenizerBase

from t5sum.data.prompt import build_prompt, validate_template
from t5sum.errors import ConfigError


@dataclass(frozen=True)
class TokenizationSpec:
    prompt_template: str
    max_source_length: int
    max_target_length: int


def tokenizer_fingerprint(tokenizer: PreTrainedTokenizerBase) -> str:
    backend = getattr(tokenizer, "backend_tokenizer", None)
    content = backend.to_str() if backend is not None else json.dumps(tokenizer.get_vocab(), sort_keys=True)
    return hashlib.sha256(f"{type(tokenizer).__name__}|{content}".encode()).hexdigest()[:16]


def cache_key(ds: datasets.Dataset, tokenizer: PreTrainedTokenizerBase, spec: TokenizationSpec) -> str:
    parts = [
        ds._fingerprint,
        tokenizer_fingerprint(tokenizer),
        json.dumps(spec.__dict__, sort_keys=True),
        "v1",
    ]
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:20]


def check_prompt_fits(tokenizer: PreTrainedTokenizerBase, spec: TokenizationSpec) -> None:
    validate_template(spec.prompt_template)
    overhead = len(tokenizer(build_prompt(spec.prompt_template, ""))["input_ids"])
    if overhead >= spec.max_source_length:
        raise ConfigError(
            f"The prompt template alone is {overhead} tokens but dataset.max_source_length is "
            f"{spec.max_source_length}: no room is left for the document. Raise dataset.max_source_length "
            "or shorten model.prompt_template."
        )


def fit_length(ids: list[int], limit: int, eos_id: int | None) -> tuple[list[int], bool]:
    """Cut to `limit` tokens, keeping the closing EOS the model was trained to see."""
    if len(ids) <= limit:
        return ids, False
    if eos_id is not None and ids[-1] == eos_id:
        return [*ids[: limit - 1], eos_id], True
    return ids[:limit], True


def encode_batch(batch: dict, tokenizer: PreTrainedTokenizerBase, spec: TokenizationSpec) -> dict:
    prompts = [build_prompt(spec.prompt_template, doc) for doc in batch["document"]]
    eos = tokenizer.eos_token_id
    # one extra token tells "exactly at the limit" apart from "truncated"
    sources = tokenizer(prompts, truncation=True, max_length=spec.max_source_length + 1)["input_ids"]
    targets = tokenizer(text_target=batch["summary"], truncation=True, max_length=spec.max_target_length + 1)[
        "input_ids"
    ]
    out: dict[str, list] = {"input_ids": [], "labels": [], "source_truncated": [], "target_truncated": []}
    for src, tgt in zip(sources, targets, strict=True):
        src, src_cut = fit_length(src, spec.max_source_length, eos)
        tgt, tgt_cut = fit_length(tgt, spec.max_target_length, eos)
        out["input_ids"].append(src)
        out["labels"].append(tgt)
        out["source_truncated"].append(src_cut)
        out["target_truncated"].append(tgt_cut)
    out["length"] = [len(ids) for ids in out["input_ids"]]
    return out


def tokenize_split(
    ds: datasets.Dataset,
    tokenizer: PreTrainedTokenizerBase,
    spec: TokenizationSpec,
    cache_dir: str | Path | None,
    name: str,
) -> datasets.Dataset:
    key = cache_key(ds, tokenizer, spec)
    cache_file = None
    if cache_dir is not None:
        folder = Path(cache_dir).expanduser() / "tokenized"
        folder.mkdir(parents=True, exist_ok=True)
        cache_file = str(folder / f"{name}-{key}.arrow")
    return ds.map(
        encode_batch,
        batched=True,
        fn_kwargs={"tokenizer": tokenizer, "spec": spec},
        cache_file_name=cache_file,
        load_from_cache_file=cache_file is not None,
        new_fingerprint=key,
        desc=f"tokenize {name}",
    )


def truncation_stats(ds: datasets.Dataset) -> dict[str, float]:
    n = len(ds)
    return {
        "source_truncated_share": sum(ds["source_truncated"]) / n if n else 0.0,
        "target_truncated_share": sum(ds["target_truncated"]) / n if n else 0.0,
        "mean_source_tokens": sum(ds["length"]) / n if n else 0.0,
    }
