"""Per-example ROUGE via the reference `rouge-score` package, with offline sentence splitting for Lsum."""

from __future__ import annotations

import importlib.metadata
from functools import lru_cache
from typing import Any

from rouge_score import rouge_scorer

from t5sum.metrics.text import split_sentences

ROUGE_KEYS = ("rouge1", "rouge2", "rougeL", "rougeLsum")


@lru_cache(maxsize=2)
def _scorer(use_stemmer: bool) -> rouge_scorer.RougeScorer:
    # Building the scorer (and its Porter stemmer) per batch is wasted work; one per stemming mode.
    return rouge_scorer.RougeScorer(list(ROUGE_KEYS), use_stemmer=use_stemmer)


def rouge_scores(
    predictions: list[str], references: list[str], use_stemmer: bool = True
) -> list[dict[str, float]]:
    """Score each pair; keys are ``{key}_f``, ``{key}_p``, ``{key}_r`` on a 0-1 scale.

    rouge-score's Lsum splits on newlines only, so both texts are re-joined one sentence per line first.
    split_sentences only changes whitespace, which rouge-score's tokenizer ignores, so rouge1/2/L are
    identical to scoring the raw texts and one scorer call per example covers all four keys.
    """
    if len(predictions) != len(references):
        raise ValueError(f"{len(predictions)} predictions but {len(references)} references")
    scorer = _scorer(use_stemmer)
    results: list[dict[str, float]] = []
    for prediction, reference in zip(predictions, references, strict=True):
        scores = scorer.score("\n".join(split_sentences(reference)), "\n".join(split_sentences(prediction)))
        row: dict[str, float] = {}
        for key in ROUGE_KEYS:
            score = scores[key]
            row[f"{key}_f"] = float(score.fmeasure)
            row[f"{key}_p"] = float(score.precision)
            row[f"{key}_r"] = float(score.recall)
        results.append(row)
    return results


def metric_profile(use_stemmer: bool) -> dict[str, Any]:
    """Describe how scores were computed, so numbers in reports are comparable (or visibly not)."""
    return {
        "scorer": "rouge-score",
        "scorer_version": importlib.metadata.version("rouge-score"),
        "rouge_keys": list(ROUGE_KEYS),
        "rouge_scale": "mean F1 x 100 (precision/recall also reported)",
        "stemming": bool(use_stemmer),
        "sentence_splitter": "t5sum.metrics.text.split_sentences: newline + punctuation regex",
        "tokenizer": "rouge-score default: lowercase, non-alphanumeric -> space",
        "bleu": "sacrebleu-style corpus BLEU, 13a tokenization, torchmetrics SacreBLEUScore",
        "bleu_details": "no smoothing, case-sensitive, 0-100; sacrebleu package not required",
        "torchmetrics_version": importlib.metadata.version("torchmetrics"),
    }
