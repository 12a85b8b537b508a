"""What every backend shares: prompts, tokenization, length-sorted batching, decoding, overrides."""

from __future__ import annotations

import copy
import dataclasses
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import torch
from transformers import GenerationConfig, PreTrainedTokenizerBase

from t5sum.data.batching import pad_inputs
from t5sum.data.decode import decode_generated
from t5sum.data.long_input import LongInput, ModelInput, build_inputs
from t5sum.data.prompt import validate_template
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
    max_source_length: int  # the token budget (per window under chunk_merge)
    long_input: LongInput = field(default_factory=LongInput)  # model dirs from before long_input: truncate

    @classmethod
    def from_model_dir(cls, model_dir: str | Path) -> InferenceSettings:
        path = Path(model_dir) / SETTINGS_FILE
        if not path.is_file():
            raise T5SumError(
                f"{path} is missing: {model_dir} is not a t5sum model directory (a run dir's model/ folder)."
            )
        raw = json.loads(path.read_text())
        validate_template(raw["prompt_template"])
        return cls(
            prompt_template=raw["prompt_template"],
            max_source_length=int(raw["max_source_length"]),
            long_input=LongInput.from_config(raw.get("long_input")),
        )

    def with_long_input(self, long_input: LongInput) -> InferenceSettings:
        """Another strategy for the same model; its own max_source_length (extended) replaces the budget."""
        budget = long_input.budget(self.max_source_length)
        return dataclasses.replace(self, long_input=long_input, max_source_length=budget)


class Summarizer(Protocol):
    def summarize(self, texts: Sequence[str], **overrides: Any) -> list[str]: ...


class BatchedSummarizer:
    """Backends implement `generate_ids`; everything around it is shared, so they behave the same.

    Empty or whitespace-only texts raise InputError (naming their positions); texts longer than
    `max_source_length` tokens are fitted by the settings' long-input strategy, as in training.
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

    def encode_inputs(self, texts: Sequence[str]) -> list[ModelInput]:
        """Model inputs by the long-input strategy, with the data module's `build_inputs`: same ids."""
        empty = [i for i, text in enumerate(texts) if not isinstance(text, str) or not text.strip()]
        if empty:
            raise InputError(f"Texts at positions {empty} are empty or not strings: nothing to summarize.")
        s = self.settings
        return build_inputs(self.tokenizer, s.prompt_template, texts, s.max_source_length, s.long_input)

    def encode(self, texts: Sequence[str]) -> list[list[int]]:
        """One id sequence per text (chunk_merge: its first window; `summarize` uses them all)."""
        return [m.ids for m in self.encode_inputs(texts)]

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

    def generate_inputs(
        self,
        inputs: Sequence[ModelInput],
        config: GenerationConfig,
        sort_by_length: bool = True,
        on_batch: Callable[[int], None] | None = None,
    ) -> tuple[list[str], list[int]]:
        """Like `generate`, for inputs with several windows (chunk_merge): every window of every text is
        summarized in one batched pass, then each multi-window text's partial summaries, joined one per
        line, are summarized again (cut to the budget like `truncate`). One-window inputs take one pass."""
        if all(len(m.windows) == 1 for m in inputs):
            return self.generate([m.ids for m in inputs], config, sort_by_length, on_batch)
        flat = [window for m in inputs for window in m.windows]
        partial, partial_lengths = self.generate(flat, config, sort_by_length)
        summaries, lengths, merged, position = [], [], {}, 0
        for index, m in enumerate(inputs):
            parts = partial[position : position + len(m.windows)]
            summaries.append(parts[0])
            lengths.append(partial_lengths[position])
            if len(parts) > 1:
                merged[index] = "\n".join(parts)
            position += len(m.windows)
        s = self.settings
        truncate = dataclasses.replace(s.long_input, strategy="truncate")
        joined = build_inputs(
            self.tokenizer, s.prompt_template, list(merged.values()), s.max_source_length, truncate
        )
        final, final_lengths = self.generate([m.ids for m in joined], config, sort_by_length)
        for index, text, length in zip(merged, final, final_lengths, strict=True):
            summaries[index], lengths[index] = text, length
        if on_batch is not None:
            on_batch(len(inputs))
        return summaries, lengths

    def summarize(self, texts: Sequence[str], **overrides: Any) -> list[str]:
        if isinstance(texts, str):
            texts = [texts]
        config = self.resolve_config(overrides)
        return self.generate_inputs(self.encode_inputs(texts), config)[0]

    __call__ = summarize
