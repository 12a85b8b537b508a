"""Long inputs: how a document longer than the token budget becomes model input (imports nothing heavy).

One function, `build_inputs`, turns documents into model input ids for every strategy; the data module
(training, evaluation) and the Summarizer (inference, serving) both call it, so the same setting gives the
same ids everywhere. Every strategy works on the ids of the whole prompt (template + document + EOS), so
nothing is re-tokenized and the budget holds exactly:

- truncate / extended: the first `budget - 1` tokens and EOS (extended only raises the budget);
- head_tail: the prompt's first tokens and its last tokens (template suffix included), then EOS;
- select: the template's tokens plus the best-scoring sentences, in document order, that fit;
- chunk_merge: overlapping windows of the document, each wrapped in the template (inference only).
"""

from __future__ import annotations

import bisect
import math
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from typing import Any

from t5sum.data.prompt import DOCUMENT_FIELD, build_prompt
from t5sum.errors import ConfigError

STRATEGIES = ("truncate", "head_tail", "select", "extended", "chunk_merge")
INFERENCE_ONLY = ("chunk_merge",)
NEEDS_OFFSETS = ("select", "chunk_merge")


@dataclass(frozen=True)
class LongInput:
    """A `long_input` config (conf/long_input/*.yaml documents each key)."""

    strategy: str = "truncate"
    max_source_length: int | None = None
    head_share: float = 0.5
    lead_bias: float = 0.3
    chunk_overlap: int = 64
    gradient_checkpointing: bool = False

    def __post_init__(self) -> None:
        if self.strategy not in STRATEGIES:
            raise ConfigError(
                f"long_input.strategy={self.strategy!r} is not a long-input strategy: use one of "
                f"{', '.join(STRATEGIES)} (long_input=<name>)."
            )
        for key in ("head_share", "lead_bias"):
            value = getattr(self, key)
            if not 0.0 <= value <= 1.0:
                raise ConfigError(f"long_input.{key}={value} is outside [0, 1]: give a share from 0 to 1.")
        if self.max_source_length is not None and self.max_source_length < 2:
            raise ConfigError(
                f"long_input.max_source_length={self.max_source_length}: use at least 2 tokens, or null for "
                "dataset.max_source_length."
            )
        if self.chunk_overlap < 0:
            raise ConfigError(f"long_input.chunk_overlap={self.chunk_overlap}: use 0 or more tokens.")

    @classmethod
    def from_config(cls, node: Mapping[str, Any] | LongInput | None) -> LongInput:
        """From a config node or a saved dict (keys such as `_target_` are ignored); None: truncate."""
        if isinstance(node, LongInput):
            return node
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in dict(node or {}).items() if k in known})

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def source_length(self, default: int) -> int:
        """The token budget: this setting's own length (extended), else the dataset's."""
        return int(self.max_source_length or default)

    def budget(self, default: int) -> int:
        """`source_length`, checked to be workable (fails before any data is read)."""
        budget = self.source_length(default)
        self.check_budget(budget)
        return budget

    def check_trainable(self) -> None:
        if self.strategy in INFERENCE_ONLY:
            raise ConfigError(
                f"long_input={self.strategy} is inference-only: train with truncate, head_tail, select or "
                f"extended, then evaluate or serve with long_input={self.strategy}."
            )

    def check_budget(self, budget: int) -> None:
        if self.strategy == "chunk_merge" and self.chunk_overlap >= budget:
            raise ConfigError(
                f"long_input.chunk_overlap={self.chunk_overlap} must be smaller than the {budget}-token "
                "window (the source length): consecutive windows would not advance."
            )


@dataclass(frozen=True)
class ModelInput:
    """What the model sees for one document: one id sequence (several windows under chunk_merge)."""

    windows: list[list[int]]
    source_tokens: int  # the whole prompt's length, before the strategy

    @property
    def ids(self) -> list[int]:
        """The single model input (chunk_merge: the first window)."""
        return self.windows[0]

    @property
    def kept_tokens(self) -> int:
        """Prompt tokens the model sees at least once."""
        return self.source_tokens if len(self.windows) > 1 else len(self.windows[0])

    @property
    def changed(self) -> bool:
        return len(self.windows) > 1 or len(self.windows[0]) < self.source_tokens


def fit_length(ids: list[int], limit: int, eos_id: int | None) -> tuple[list[int], bool]:
    """Cut to `limit` tokens, keeping the closing EOS the model was trained to see."""
    if len(ids) <= limit:
        return ids, False
    if eos_id is not None and ids[-1] == eos_id:
        return [*ids[: limit - 1], eos_id], True
    return ids[:limit], True


def head_tail(ids: Sequence[int], budget: int, head_share: float, eos_id: int) -> list[int]:
    """The prompt's first round(head_share * (budget - 1)) tokens, its last ones, then EOS."""
    body = list(ids[:-1]) if ids and ids[-1] == eos_id else list(ids)
    if len(body) < budget:
        return [*body, eos_id]
    room = budget - 1
    head = round(head_share * room)
    tail = room - head
    return [*body[:head], *(body[len(body) - tail :] if tail else []), eos_id]


_SENTENCE_END = re.compile(r"""[.!?]+["'”’»)\]}]*(?=\s)|\n""")
_WORD = re.compile(r"\w+")


def sentence_starts(text: str) -> list[int]:
    """Character offsets where sentences start: after . ! ? (and closing quotes) or a newline."""
    starts = [0]
    for match in _SENTENCE_END.finditer(text):
        end = match.end()
        while end < len(text) and text[end].isspace():
            end += 1
        if end < len(text) and end > starts[-1]:
            starts.append(end)
    return starts


def sentence_scores(sentences: Sequence[str], lead_bias: float) -> list[float]:
    """TF-IDF centrality (cosine to the document's mean TF-IDF vector) mixed with a lead bias.

    Plain Python + math on purpose: scikit-learn's TfidfVectorizer would be a ~40 MB dependency (with scipy)
    for twenty lines, and the builder must stay light because inference imports it.
    """
    bags = [Counter(word.lower() for word in _WORD.findall(s)) for s in sentences]
    n = len(bags)
    df = Counter(word for bag in bags for word in bag)
    idf = {word: math.log((1 + n) / (1 + count)) + 1 for word, count in df.items()}
    vectors = []
    for bag in bags:
        vec = {w: c * idf[w] for w, c in bag.items()}
        norm = math.sqrt(sum(v * v for v in vec.values())) or 1.0
        vectors.append({w: v / norm for w, v in vec.items()})
    centroid: Counter[str] = Counter()
    for vec in vectors:
        centroid.update(vec)
    centroid_norm = math.sqrt(sum(v * v for v in centroid.values())) or 1.0
    centrality = [sum(v * centroid[w] for w, v in vec.items()) / centroid_norm for vec in vectors]
    top = max(centrality, default=0.0) or 1.0
    return [(1 - lead_bias) * c / top + lead_bias * (1 - i / n) for i, c in enumerate(centrality)]


@dataclass(frozen=True)
class PromptLayout:
    """Which token positions of a tokenized prompt are template prefix, document and template suffix."""

    prefix: list[int]
    document: list[int]
    suffix: list[int]  # EOS excluded

    @classmethod
    def of(
        cls, ids: Sequence[int], offsets: Sequence[tuple[int, int]], doc_start: int, doc_end: int, eos_id: int
    ) -> PromptLayout:
        positions = range(len(ids) - 1 if ids and ids[-1] == eos_id else len(ids))
        prefix, document, suffix = [], [], []
        for i in positions:
            start, end = offsets[i]
            if end <= doc_start:
                prefix.append(i)
            elif start >= doc_end:
                suffix.append(i)
            else:
                document.append(i)
        return cls(prefix, document, suffix)


def select(
    ids: Sequence[int],
    offsets: Sequence[tuple[int, int]],
    layout: PromptLayout,
    document: str,
    doc_start: int,
    budget: int,
    lead_bias: float,
    eos_id: int,
) -> list[int]:
    """Template tokens + the best sentences that fit the budget, in document order, + EOS."""
    room = budget - 1 - len(layout.prefix) - len(layout.suffix)
    starts = sentence_starts(document)
    members: list[list[int]] = [[] for _ in starts]
    for pos in layout.document:
        members[max(bisect.bisect_right(starts, offsets[pos][0] - doc_start) - 1, 0)].append(pos)
    bounds = [*starts, len(document)]
    scores = sentence_scores([document[bounds[i] : bounds[i + 1]] for i in range(len(starts))], lead_bias)
    chosen: list[int] = []
    for index in sorted(range(len(starts)), key=lambda i: (-scores[i], i)):
        if members[index] and len(members[index]) <= room:
            chosen.append(index)
            room -= len(members[index])
    kept = sorted(pos for i in chosen for pos in members[i]) or layout.document[:room]
    return [ids[i] for i in (*layout.prefix, *kept, *layout.suffix)] + [eos_id]


def windows(
    ids: Sequence[int], layout: PromptLayout, budget: int, overlap: int, eos_id: int
) -> list[list[int]]:
    """Overlapping windows of the document, each wrapped in the template's prefix and suffix, + EOS."""
    room = budget - 1 - len(layout.prefix) - len(layout.suffix)
    if room - overlap < 1:
        raise ConfigError(
            f"long_input.chunk_overlap={overlap} leaves no room to advance: the template takes "
            f"{budget - room} of the {budget} tokens; lower the overlap or raise the source length."
        )
    prefix = [ids[i] for i in layout.prefix]
    suffix = [ids[i] for i in layout.suffix]
    doc = [ids[i] for i in layout.document]
    out, start = [], 0
    while True:
        out.append([*prefix, *doc[start : start + room], *suffix, eos_id])
        if start + room >= len(doc):
            return out
        start += room - overlap


def build_inputs(
    tokenizer: Any, template: str, documents: Sequence[str], budget: int, long_input: LongInput
) -> list[ModelInput]:
    """Documents -> model inputs of at most `budget` tokens each (per window), for any strategy."""
    long_input.check_budget(budget)
    eos = tokenizer.eos_token_id
    strategy = long_input.strategy
    prompts = [build_prompt(template, doc) for doc in documents]
    offsets = strategy in NEEDS_OFFSETS
    if offsets and not getattr(tokenizer, "is_fast", False):
        raise ConfigError(f"long_input={strategy} needs a fast tokenizer (with offsets): use tokenizer.json.")
    encoded = tokenizer(prompts, return_offsets_mapping=offsets, verbose=False)
    doc_start = template.index(DOCUMENT_FIELD)
    out = []
    for i, ids in enumerate(encoded["input_ids"]):
        if len(ids) <= budget:
            out.append(ModelInput([list(ids)], len(ids)))
            continue
        if strategy in ("truncate", "extended"):
            windows_ = [fit_length(list(ids), budget, eos)[0]]
        elif strategy == "head_tail":
            windows_ = [head_tail(ids, budget, long_input.head_share, eos)]
        else:
            offsets_ = encoded["offset_mapping"][i]
            layout = PromptLayout.of(ids, offsets_, doc_start, doc_start + len(documents[i]), eos)
            if strategy == "select":
                doc = documents[i]
                windows_ = [select(ids, offsets_, layout, doc, doc_start, budget, long_input.lead_bias, eos)]
            else:
                windows_ = windows(ids, layout, budget, long_input.chunk_overlap, eos)
        out.append(ModelInput(windows_, len(ids)))
    return out


STAT_KEYS = (
    "source_truncated_share",
    "mean_source_tokens",
    "mean_document_tokens",
    "kept_token_share",
    "mean_windows",
)


def input_stats(inputs: Sequence[ModelInput]) -> dict[str, float]:
    """Share of documents the strategy changed, tokens kept, and how much of the prompt that is."""
    n = len(inputs)
    if not n:
        return dict.fromkeys(STAT_KEYS, 0.0)
    total = sum(m.source_tokens for m in inputs)
    kept = sum(m.kept_tokens for m in inputs)
    return {
        "source_truncated_share": sum(m.changed for m in inputs) / n,
        "mean_source_tokens": sum(len(m.ids) for m in inputs) / n,
        "mean_document_tokens": total / n,
        "kept_token_share": kept / total if total else 0.0,
        "mean_windows": sum(len(m.windows) for m in inputs) / n,
    }
