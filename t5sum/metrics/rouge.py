"""Per-example ROUGE via the reference `rouge-score` package, with offline sentence splitting for Lsum."""

from __future__ import annotations

import importlib.metadata
from collections import Counter
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from nltk.stem import porter
from rouge_score import rouge_scorer, tokenize

from t5sum.metrics.text import split_sentences

ROUGE_KEYS = ("rouge1", "rouge2", "rougeL", "rougeLsum")


@lru_cache(maxsize=2)
def _scorer(use_stemmer: bool) -> rouge_scorer.RougeScorer:
    # Building the scorer (and its Porter stemmer) per batch is wasted work; one per stemming mode.
    return rouge_scorer.RougeScorer(list(ROUGE_KEYS), use_stemmer=use_stemmer)


# Rows with several references: max (rouge-score's score_multi), mean over them, or the first one only (the
# official DialogSum baseline scores against summary1 alone; then BLEU uses the first reference too).
MULTI_REF = ("max", "mean", "first")
Reference = str | Sequence[str]  # one reference, or several for the same example


def as_reference_list(reference: Reference) -> list[str]:
    refs = [reference] if isinstance(reference, str) else list(reference)
    if not refs:
        raise ValueError("an example has an empty reference list")
    return refs


def select_references(references: Sequence[Reference], multi_ref: str) -> list[Reference]:
    """The references each example is scored against: under `first` its first one, else all of them."""
    if multi_ref not in MULTI_REF:
        raise ValueError(f"multi_ref={multi_ref!r}: use one of {', '.join(MULTI_REF)}")
    return [as_reference_list(r)[0] for r in references] if multi_ref == "first" else list(references)


def rouge_scores(
    predictions: Sequence[str],
    references: Sequence[Reference],
    use_stemmer: bool = True,
    multi_ref: str = "max",
) -> list[dict[str, float]]:
    """Score each pair; keys are ``{key}_f``, ``{key}_p``, ``{key}_r`` on a 0-1 scale.

    A reference may be a list (several human references): ``multi_ref="max"`` takes, per ROUGE key, the
    reference with the best F1 (rouge-score's ``score_multi``); ``"mean"`` averages P, R and F1 over them;
    ``"first"`` scores against the first reference only.

    rouge-score's Lsum splits on newlines only, so both texts are re-joined one sentence per line first.
    split_sentences only changes whitespace, which rouge-score's tokenizer ignores, so rouge1/2/L are
    identical to scoring the raw texts and one scorer call per example covers all four keys.
    """
    if len(predictions) != len(references):
        raise ValueError(f"{len(predictions)} predictions but {len(references)} references")
    references = select_references(references, multi_ref)
    scorer = _scorer(use_stemmer)
    results: list[dict[str, float]] = []
    for prediction, reference in zip(predictions, references, strict=True):
        pred = "\n".join(split_sentences(prediction))
        each = [scorer.score("\n".join(split_sentences(ref)), pred) for ref in as_reference_list(reference)]
        row: dict[str, float] = {}
        for key in ROUGE_KEYS:
            if multi_ref == "max":
                best = max(each, key=lambda scores: scores[key].fmeasure)[key]  # first best, as score_multi
                parts = (best.fmeasure, best.precision, best.recall)
            else:
                parts = tuple(
                    sum(getattr(s[key], a) for s in each) / len(each)
                    for a in ("fmeasure", "precision", "recall")
                )
            row[f"{key}_f"], row[f"{key}_p"], row[f"{key}_r"] = (float(x) for x in parts)
        results.append(row)
    return results


class _MemoStemmer:
    """rouge-score's Porter stemmer, memoised: long inputs repeat the same words thousands of times."""

    def __init__(self) -> None:
        self.stem = lru_cache(maxsize=500_000)(porter.PorterStemmer().stem)


@lru_cache(maxsize=1)
def _stemmer() -> _MemoStemmer:
    return _MemoStemmer()


def rouge_tokens(text: str) -> list[str]:
    """rouge-score's own tokenization with stemming (lowercase, alphanumeric runs, Porter stems of words
    longer than 3 characters): the tokens ROUGE compares."""
    return tokenize.tokenize(text, _stemmer())


def _ngrams(tokens: Sequence[str], n: int) -> Counter:
    return Counter(tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1))


def reference_coverage(text: str, reference: str) -> dict[str, float]:
    """How much of a reference a text (e.g. a model input) still holds: the share of the reference's distinct
    unigrams and bigrams present in it, and ROUGE-1/2 recall (clipped counts, as rouge-score), all 0-1."""
    have, want = rouge_tokens(text), rouge_tokens(reference)
    out: dict[str, float] = {}
    for n, name in ((1, "unigram"), (2, "bigram")):
        have_n, want_n = _ngrams(have, n), _ngrams(want, n)
        total = sum(want_n.values())
        out[f"{name}_coverage"] = sum(g in have_n for g in want_n) / len(want_n) if want_n else 0.0
        out[f"rouge{n}_recall"] = sum((have_n & want_n).values()) / total if total else 0.0
    return out


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
