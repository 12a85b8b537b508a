"""Prompt + tokenization of normalised rows, cached on disk under a key of everything that changes tokens."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import datasets
from transformers import PreTrainedTokenizerBase

from t5sum.data.long_input import LongInput, ModelInput, build_inputs, fit_length, input_stats
from t5sum.data.prompt import build_prompt, validate_template
from t5sum.errors import ConfigError


@dataclass(frozen=True)
class TokenizationSpec:
    prompt_template: str
    max_source_length: int  # the token budget of the model input (long_input may set its own)
    max_target_length: int
    long_input: LongInput = field(default_factory=LongInput)

    def describe(self) -> dict:
        return asdict(self)


def tokenizer_fingerprint(tokenizer: PreTrainedTokenizerBase) -> str:
    backend = getattr(tokenizer, "backend_tokenizer", None)
    content = backend.to_str() if backend is not None else json.dumps(tokenizer.get_vocab(), sort_keys=True)
    return hashlib.sha256(f"{type(tokenizer).__name__}|{content}".encode()).hexdigest()[:16]


def cache_key(ds: datasets.Dataset, tokenizer: PreTrainedTokenizerBase, spec: TokenizationSpec) -> str:
    parts = [
        ds._fingerprint,
        tokenizer_fingerprint(tokenizer),
        json.dumps(spec.describe(), sort_keys=True),
        "v2",
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


def encode_batch(batch: dict, tokenizer: PreTrainedTokenizerBase, spec: TokenizationSpec) -> dict:
    """Model inputs by the long-input strategy (`source_truncated`: the strategy changed the document;
    `windows` only under chunk_merge), labels cut to max_target_length."""
    inputs = build_inputs(
        tokenizer, spec.prompt_template, batch["document"], spec.max_source_length, spec.long_input
    )
    # one extra token tells "exactly at the limit" apart from "truncated"
    targets = tokenizer(text_target=batch["summary"], truncation=True, max_length=spec.max_target_length + 1)[
        "input_ids"
    ]
    labels = [fit_length(tgt, spec.max_target_length, tokenizer.eos_token_id) for tgt in targets]
    out: dict[str, list] = {
        "input_ids": [m.ids for m in inputs],
        "labels": [tgt for tgt, _ in labels],
        "source_truncated": [m.changed for m in inputs],
        "target_truncated": [cut for _, cut in labels],
        "source_tokens": [m.source_tokens for m in inputs],
        "kept_tokens": [m.kept_tokens for m in inputs],
        "length": [len(m.ids) for m in inputs],
    }
    if spec.long_input.strategy == "chunk_merge":
        out["windows"] = [m.windows for m in inputs]
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


def model_inputs(ds: datasets.Dataset) -> list[ModelInput]:
    """A tokenized split's model inputs, as `build_inputs` made them."""
    windows = ds["windows"] if "windows" in ds.column_names else [[ids] for ids in ds["input_ids"]]
    return [ModelInput(list(w), int(n)) for w, n in zip(windows, ds["source_tokens"], strict=True)]


def truncation_stats(ds: datasets.Dataset) -> dict[str, float]:
    """What the long-input strategy did (share changed, tokens kept) and the share of cut targets."""
    n = len(ds)
    return {
        **input_stats(model_inputs(ds)),
        "target_truncated_share": sum(ds["target_truncated"]) / n if n else 0.0,
    }
