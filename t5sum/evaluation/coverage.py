"""Model-free: what each long-input strategy keeps of the reference, measured on the model input itself."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from t5sum.data.long_input import LongInput, build_inputs, input_stats
from t5sum.errors import ConfigError
from t5sum.metrics.rouge import reference_coverage

WHOLE = "whole document"
COLUMNS = (
    ("budget", "budget"),
    ("source_truncated_share", "docs changed"),
    ("mean_source_tokens", "tokens in (mean)"),
    ("kept_token_share", "prompt tokens kept"),
    ("unigram_coverage", "ref. unigrams kept"),
    ("bigram_coverage", "ref. bigrams kept"),
    ("rouge1_recall", "ROUGE-1 R"),
    ("rouge2_recall", "ROUGE-2 R"),
)


def coverage_rows(
    tokenizer: Any,
    template: str,
    documents: Sequence[str],
    references: Sequence[str],
    budget: int,
    strategies: Mapping[str, LongInput],
) -> list[dict[str, Any]]:
    """Per strategy: what it changed and kept (input_stats) and the mean reference_coverage of the decoded
    model input (all windows, under chunk_merge). A last row scores the whole document, the ceiling.
    A setting that cannot run at this budget (e.g. a chunk overlap as long as the window) gets an empty row
    with its reason in `note`."""
    longest = max(len(ids) for ids in tokenizer(list(documents), verbose=False)["input_ids"]) + budget
    settings = {**strategies, WHOLE: LongInput(max_source_length=longest)}
    rows = []
    for name, long_input in settings.items():
        size = long_input.source_length(budget)
        try:
            inputs = build_inputs(tokenizer, template, documents, size, long_input)
        except ConfigError as err:
            rows.append({"strategy": name, "budget": size, "note": str(err)})
            continue
        texts = [" ".join(tokenizer.batch_decode(m.windows, skip_special_tokens=True)) for m in inputs]
        scores = [reference_coverage(t, r) for t, r in zip(texts, references, strict=True)]
        means = {key: float(np.mean([s[key] for s in scores])) for key in scores[0]} if scores else {}
        rows.append(
            {"strategy": name, "budget": size if name != WHOLE else None, **input_stats(inputs), **means}
        )
    return rows


def over_budget_share(source_tokens: Sequence[int], budget: int) -> float:
    return float(np.mean([n > budget for n in source_tokens])) if len(source_tokens) else 0.0


def format_cell(key: str, value: Any) -> str:
    if value is None:
        return "-"
    if key == "budget":
        return str(int(value))
    if key == "mean_source_tokens":
        return f"{value:.0f}"
    return f"{100 * value:.1f}%"


def coverage_table(rows: Sequence[Mapping[str, Any]]) -> tuple[list[str], list[list[str]]]:
    header = ["strategy", *(title for _, title in COLUMNS)]
    return header, [[row["strategy"], *(format_cell(k, row.get(k)) for k, _ in COLUMNS)] for row in rows]


def coverage_markdown(rows: Sequence[Mapping[str, Any]]) -> str:
    header, body = coverage_table(rows)
    lines = ["| " + " | ".join(header) + " |", "|---|" + "---:|" * (len(header) - 1)]
    return "\n".join(lines + ["| " + " | ".join(cells) + " |" for cells in body])
