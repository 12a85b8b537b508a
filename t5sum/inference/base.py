"""What every backend shares: prompts, tokenization, length-sorted batching, decoding, overrides."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import torch
from transformers import GenerationConfig, PreTrainedTokenizerBase

from t5sum.data.batching import pad_inputs
from t5sum.data.decode import decode_generated
from t5sum.data.prompt import build_prompt, validate_template
from t5sum.errors import T5SumError

SETTINGS_FILE = "t5sum.json"  # in every model dir: written by t5sum.run_dir.save_model, read here
# per-call knobs; anything else (sampling, token ids, ...) stays as the run configured it
OVERRIDABLE = (
    "max_new_tokens",
    "min_new_tokens",
    "num_beams",
    "length_penalty",
    "no_repeat_ngram_size",
    "early_stopping",
    "repetition_penalty",
)


class InputError(T5SumError):
    """A text or a generation override that cannot be summarized as given."""


@dataclass(frozen=True)
class InferenceSettings:
    prompt_template: str
    max_source_length: int

    @classmethod
    def from_model_dir(cls, model_dir: str | Path) -> InferenceSettings:
        path = Path(model_dir) / SETTINGS_FILE
        if not path.is_file():
            raise T5SumError(
                f"{path} is missing: {model_dir} is not a t5sum model directory (a run dir's model/ folder)."
            )
        raw = json.loads(path.read_text())
        validate_template(raw["prompt_template"])
        return cls(prompt_template=raw["prompt_template"], max_source_length=int(raw["max_source_length"]))


class Summarizer(Protocol):
    def summarize(self, texts: Sequence[str], **overrides: Any) -> list[str]: ...


class BatchedSummarizer:
    """Backends implement `generate_ids`; everything around it is shared, so they behave the same.

    Empty or whitespace-only texts raise InputError (naming their positions); texts longer than
    `max_source_length` tokens are truncated at the end, as in training.
    """

    def __init__(
        self,
        tokenizer: PreTrainedTokenizerBase,
        settings: InferenceSettings,
        generation_config: GenerationConfig,
        batch_size: int = 8,
    ) -> None:
        self.tokenizer = tokenizer
        self.settings = settings
        self.generation_config = generation_config
        self.batch_size = batch_size

    def generate_ids(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, config: GenerationConfig):
        raise NotImplementedError

    def resolve_config(self, overrides: dict[str, Any]) -> GenerationConfig:
        unknown = sorted(set(overrides) - set(OVERRIDABLE))
        if unknown:
            raise InputError(
                f"Unknown generation override(s) {unknown}: allowed are {', '.join(OVERRIDABLE)}."
            )
        config = copy.deepcopy(self.generation_config)
        config.update(**overrides)
        try:
            config.validate(strict=True)
        except ValueError as err:
            raise InputError(f"Invalid generation overrides {overrides}: {err}") from err
        return config

    def encode(self, texts: Sequence[str]) -> list[list[int]]:
        empty = [i for i, text in enumerate(texts) if not isinstance(text, str) or not text.strip()]
        if empty:
            raise InputError(f"Texts at positions {empty} are empty or not strings: nothing to summarize.")
        prompts = [build_prompt(self.settings.prompt_template, text) for text in texts]
        return self.tokenizer(prompts, truncation=True, max_length=self.settings.max_source_length)[
            "input_ids"
        ]

    def pad_batch(self, rows: Sequence[Sequence[int]]) -> tuple[torch.Tensor, torch.Tensor]:
        return pad_inputs(rows, self.tokenizer.pad_token_id)

    def generate(
        self,
        encoded: Sequence[Sequence[int]],
        config: GenerationConfig,
        sort_by_length: bool = True,
        on_batch: Callable[[int], None] | None = None,
    ) -> tuple[list[str], list[int]]:
        """Token ids -> (summaries, generated token counts), in input order. Sorting by length (longest
        first) keeps padding low; ``on_batch(batch_size)`` is called after each batch (progress bars)."""
        indices = range(len(encoded))
        order = sorted(indices, key=lambda i: -len(encoded[i])) if sort_by_length else list(indices)
        summaries: list[str] = [""] * len(encoded)
        lengths: list[int] = [0] * len(encoded)
        for start in range(0, len(order), self.batch_size):
            chunk = order[start : start + self.batch_size]
            input_ids, attention_mask = self.pad_batch([encoded[i] for i in chunk])
            texts_out, generated = decode_generated(
                self.tokenizer, self.generate_ids(input_ids, attention_mask, config)
            )
            for index, text, length in zip(chunk, texts_out, generated.tolist(), strict=True):
                summaries[index] = text
                lengths[index] = int(length)
            if on_batch is not None:
                on_batch(len(chunk))
        return summaries, lengths

    def summarize(self, texts: Sequence[str], **overrides: Any) -> list[str]:
        if isinstance(texts, str):
            texts = [texts]
        config = self.resolve_config(overrides)
        return self.generate(self.encode(texts), config)[0]

    __call__ = summarize
