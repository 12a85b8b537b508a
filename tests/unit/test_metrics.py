"""Metric tests: ROUGE must match rouge-score exactly, BLEU must match sacrebleu, states must merge."""

from __future__ import annotations

import math

import pytest
import torch
from rouge_score import rouge_scorer
from torchmetrics.text import SacreBLEUScore

from t5sum.metrics import (
    ROUGE_KEYS,
    SummarizationMetrics,
    cap_warning,
    count_words,
    metric_profile,
    rouge_scores,
    split_sentences,
)

# (prediction, reference): sentence reordering (Lsum != L), stemming, quotes/punctuation, an empty
# prediction, existing newlines, and a near-copy so corpus BLEU has 4-gram matches.
PAIRS = [
    (
        "The dog ran home after dark. The cat sat on the mat all day.",
        "The cat sat on the mat all day. The dog ran home after dark.",
    ),
    (
        "The runner was running quickly through the parks.",
        "Runners run quickly in the park. The race runs until noon.",
    ),
    (
        'He said "stop!" Then he left, quietly. Was it fair?',
        'He said: "Stop!" Then he left (quietly). Nobody asked whether it was fair.',
    ),
    ("", "Shares fell 3.5% on Monday. Analysts had expected worse."),
    (
        "Rain is expected tomorrow.\nTemperatures will drop sharply.",
        "Forecasters expect rain tomorrow, with temperatures dropping sharply! Wind warnings remain.",
    ),
    (
        "The council approved the new budget on Tuesday. Spending on schools will rise by 4%.",
        "The council approved the new budget on Tuesday evening. School spending will rise by 4%.",
    ),
]
PREDICTIONS = [p for p, _ in PAIRS]
REFERENCES = [r for _, r in PAIRS]
DOCUMENTS = [f"{r} Some more source text that the summary compresses." for r in REFERENCES]
GEN_LENGTHS = [17, 12, 20, 0, 14, 20]


def _expected_rouge(prediction: str, reference: str, use_stemmer: bool = True) -> dict[str, float]:
    """Independent reference: rouge-score on raw text, Lsum on one sentence per line (as documented)."""
    plain = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL"], use_stemmer=use_stemmer)
    lsum = rouge_scorer.RougeScorer(["rougeLsum"], use_stemmer=use_stemmer)
    scores = dict(plain.score(reference, prediction))
    scores.update(lsum.score("\n".join(split_sentences(reference)), "\n".join(split_sentences(prediction))))
    out = {}
    for key, score in scores.items():
        out[f"{key}_f"], out[f"{key}_p"], out[f"{key}_r"] = score.fmeasure, score.precision, score.recall
    return out


def _full_metric(max_new_tokens: int | None = 20) -> SummarizationMetrics:
    metric = SummarizationMetrics(max_new_tokens=max_new_tokens)
    metric.update(PREDICTIONS, REFERENCES, DOCUMENTS, GEN_LENGTHS)
    return metric


def _assert_same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert a.keys() == b.keys()
    for key in a:
        assert torch.allclose(a[key].double(), b[key].double(), atol=1e-4, equal_nan=True), key


# --- text helpers -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("First line\nSecond line", ["First line", "Second line"]),
        ("One. Two\n\n  Three!  ", ["One.", "Two", "Three!"]),
        ("a. b", ["a.", "b"]),
        ("It ended. then no punctuation here", ["It ended.", "then no punctuation here"]),
        ('He said "Stop!" Then he left.', ['He said "Stop!"', "Then he left."]),
        ("(It rained.) Then it stopped?", ["(It rained.)", "Then it stopped?"]),
        ("Wait... what?! Yes.", ["Wait...", "what?!", "Yes."]),
        ("Pi is 3.14 and e.g.2 stays together.", ["Pi is 3.14 and e.g.2 stays together."]),
        # Documented limitation: abbreviations end a sentence.
        ("Dr. Smith arrived.", ["Dr.", "Smith arrived."]),
        ("", []),
        ("  \n \n", []),
    ],
)
def test_split_sentences(text: str, expected: list[str]) -> None:
    assert split_sentences(text) == expected


def test_split_sentences_only_changes_whitespace() -> None:
    for text in PREDICTIONS + REFERENCES:
        assert "".join("".join(split_sentences(text)).split()) == "".join(text.split())


def test_count_words() -> None:
    assert count_words("  a b\tc\n d ") == 4
    assert count_words("") == 0


# --- ROUGE --------------------------------------------------------------------------------------


def test_rouge_per_example_matches_rouge_score() -> None:
    ours = rouge_scores(PREDICTIONS, REFERENCES)
    assert len(ours) == len(PAIRS)
    for row, (prediction, reference) in zip(ours, PAIRS, strict=True):
        expected = _expected_rouge(prediction, reference)
        assert row.keys() == expected.keys()
        assert set(row) == {f"{k}_{p}" for k in ROUGE_KEYS for p in "fpr"}
        for key, value in expected.items():
            assert row[key] == pytest.approx(value, abs=1e-6), key


def test_rouge_cases_exercise_what_they_claim() -> None:
    reordered, stemmed, _, empty, *_ = rouge_scores(PREDICTIONS, REFERENCES)
    # Reordered sentences: sentence-level LCS (Lsum) recovers both sentences, plain LCS only one.
    assert reordered["rougeLsum_f"] == pytest.approx(1.0)
    assert reordered["rougeL_f"] < 0.7
    unstemmed = rouge_scores(PREDICTIONS[1:2], REFERENCES[1:2], use_stemmer=False)[0]
    assert stemmed["rouge1_f"] > unstemmed["rouge1_f"]
    assert all(value == 0.0 for value in empty.values())


def test_rouge_rejects_length_mismatch() -> None:
    with pytest.raises(ValueError):
        rouge_scores(["a"], ["a", "b"])


def test_metric_means_match_rouge_score() -> None:
    result = _full_metric().compute()
    expected = [_expected_rouge(p, r) for p, r in PAIRS]
    for key in ROUGE_KEYS:
        for name, part in ((key, "f"), (f"{key}_precision", "p"), (f"{key}_recall", "r")):
            mean = sum(row[f"{key}_{part}"] for row in expected) / len(expected)
            assert result[name].item() / 100 == pytest.approx(mean, abs=1e-6), name


def test_metric_profile() -> None:
    profile = metric_profile(use_stemmer=False)
    assert profile["scorer"] == "rouge-score"
    assert profile["scorer_version"] == "0.1.2"
    assert profile["stemming"] is False
    assert "13a" in profile["bleu"]


# --- BLEU ---------------------------------------------------------------------------------------


def _bleu(predictions: list[str], references: list[str]) -> float:
    metric = SummarizationMetrics()
    metric.update(predictions, references, references, [1] * len(predictions))
    return metric.compute()["bleu"].item()


def test_bleu_identical_and_disjoint() -> None:
    assert _bleu(REFERENCES, REFERENCES) == pytest.approx(100.0, abs=1e-4)
    assert _bleu(["alpha beta gamma delta epsilon"], ["one two three four five"]) == 0.0


def test_bleu_matches_torchmetrics_sacrebleu() -> None:
    reference = SacreBLEUScore(tokenize="13a")
    reference.update(PREDICTIONS, [[r] for r in REFERENCES])
    expected = reference.compute().item() * 100
    assert expected > 0  # the data has 4-gram matches, so this is not a trivial 0 == 0
    assert _bleu(PREDICTIONS, REFERENCES) == pytest.approx(expected, abs=1e-4)


def test_bleu_matches_sacrebleu_package() -> None:
    sacrebleu = pytest.importorskip("sacrebleu", reason="sacrebleu is optional and not installed")
    expected = sacrebleu.corpus_bleu(PREDICTIONS, [REFERENCES], tokenize="13a", smooth_method="none").score
    assert _bleu(PREDICTIONS, REFERENCES) == pytest.approx(expected, abs=1e-3)


# --- lengths, compression, cap ------------------------------------------------------------------


def test_length_arithmetic() -> None:
    metric = SummarizationMetrics(max_new_tokens=10)
    # ratios: 3/6 = 0.5, 2/8 = 0.25, 2/1 (empty document counts as one word) = 2.0
    metric.update(["a b c", "one two"], ["x", "y"], ["1 2 3 4 5 6", "1 2 3 4 5 6 7 8"], torch.tensor([10, 4]))
    metric.update(["p q"], ["z"], [""], [12])
    result = metric.compute()
    assert result["compression_ratio"].item() == pytest.approx((0.5 + 0.25 + 2.0) / 3)
    assert result["gen_len"].item() == pytest.approx((10 + 4 + 12) / 3)
    assert result["hit_max_new_tokens_share"].item() == pytest.approx(2 / 3)
    assert result["num_examples"].item() == 3


def test_no_hit_share_without_max_new_tokens() -> None:
    assert "hit_max_new_tokens_share" not in _full_metric(max_new_tokens=None).compute()


def test_update_rejects_mismatched_batch() -> None:
    with pytest.raises(ValueError, match="mismatch"):
        SummarizationMetrics().update(["a"], ["b"], ["c"], [1, 2])


def test_cap_warning() -> None:
    message = cap_warning(0.95, max_new_tokens=20)
    assert message is not None
    assert "max_new_tokens=20" in message
    assert "raise generation.max_new_tokens" in message
    assert cap_warning(torch.tensor(1.0), max_new_tokens=20) is not None
    assert cap_warning(0.94, max_new_tokens=20) is None
    assert cap_warning(0.5, max_new_tokens=20, threshold=0.5) is not None
    assert cap_warning(float("nan"), max_new_tokens=20) is None


# --- state handling -----------------------------------------------------------------------------


def _halves() -> tuple[SummarizationMetrics, SummarizationMetrics]:
    first, second = SummarizationMetrics(max_new_tokens=20), SummarizationMetrics(max_new_tokens=20)
    first.update(PREDICTIONS[:3], REFERENCES[:3], DOCUMENTS[:3], GEN_LENGTHS[:3])
    second.update(PREDICTIONS[3:], REFERENCES[3:], DOCUMENTS[3:], torch.tensor(GEN_LENGTHS[3:]))
    return first, second


def test_merge_state_equals_single_pass() -> None:
    expected = _full_metric().compute()
    assert expected["bleu"].item() > 0
    first, second = _halves()
    first.merge_state(second)
    _assert_same(first.compute(), expected)


def test_summed_states_equal_single_pass() -> None:
    """Simulates the DDP all-reduce: every state declares dist_reduce_fx='sum'."""
    first, second = _halves()
    reduced = SummarizationMetrics(max_new_tokens=20)
    assert set(reduced._reductions) == set(reduced._defaults)
    for name in reduced._defaults:
        assert isinstance(getattr(first, name), torch.Tensor), name
        setattr(reduced, name, getattr(first, name) + getattr(second, name))
    reduced._update_count = 1
    _assert_same(reduced.compute(), _full_metric().compute())


def test_empty_compute_is_nan_and_reset_clears() -> None:
    metric = _full_metric()
    metric.reset()
    for name, default in metric._defaults.items():
        assert torch.equal(getattr(metric, name), default), name
    with pytest.warns(UserWarning, match="before the ``update``"):
        result = metric.compute()
    assert result["num_examples"].item() == 0
    assert all(math.isnan(v.item()) for k, v in result.items() if k != "num_examples")
    metric.update(PREDICTIONS[:1], REFERENCES[:1], DOCUMENTS[:1], [5])
    assert metric.compute()["num_examples"].item() == 1


MULTI = [
    ("the cat sat on the mat", ["a cat was on the mat", "the cat sat on a mat today", "dogs bark"]),
    ("rain is expected tomorrow", ["tomorrow it will rain", "rain expected tomorrow in the north"]),
]


def test_multi_reference_max_equals_rouge_score_multi() -> None:
    from rouge_score import rouge_scorer

    scorer = rouge_scorer.RougeScorer(list(ROUGE_KEYS), use_stemmer=True)
    rows = rouge_scores([p for p, _ in MULTI], [refs for _, refs in MULTI], multi_ref="max")
    for row, (prediction, refs) in zip(rows, MULTI, strict=True):
        expected = scorer.score_multi(refs, prediction)  # single-sentence texts: Lsum needs no splitting
        for key in ROUGE_KEYS:
            assert row[f"{key}_f"] == pytest.approx(expected[key].fmeasure)
            assert row[f"{key}_r"] == pytest.approx(expected[key].recall)


def test_multi_reference_mean_lies_between_the_single_references() -> None:
    prediction, refs = MULTI[0]
    single = [rouge_scores([prediction], [ref])[0]["rouge1_f"] for ref in refs]
    mean = rouge_scores([prediction], [refs], multi_ref="mean")[0]["rouge1_f"]
    assert mean == pytest.approx(sum(single) / len(single))
    assert rouge_scores([prediction], [refs])[0]["rouge1_f"] == pytest.approx(max(single))
    assert rouge_scores([prediction], [[refs[1]]]) == rouge_scores([prediction], [refs[1]])
    with pytest.raises(ValueError, match="multi_ref"):
        rouge_scores([prediction], [refs], multi_ref="min")
    with pytest.raises(ValueError, match="empty reference list"):
        rouge_scores([prediction], [[]])


def test_metric_with_several_references_per_example() -> None:
    from torchmetrics.text import SacreBLEUScore

    predictions, references = [p for p, _ in MULTI], [refs for _, refs in MULTI]
    metric = SummarizationMetrics(multi_ref="mean")
    metric.update(predictions, references, ["doc one two three", "doc"], [5, 4])
    out = metric.compute()
    mean_rows = rouge_scores(predictions, references, multi_ref="mean")
    assert float(out["rouge1"]) == pytest.approx(100 * sum(r["rouge1_f"] for r in mean_rows) / 2, abs=1e-4)
    expected_bleu = SacreBLEUScore(tokenize="13a")(
        predictions, references
    )  # sacrebleu's multi-reference BLEU
    assert float(out["bleu"]) == pytest.approx(100 * float(expected_bleu), abs=1e-3)


def test_first_reference_only_scores_like_a_single_reference() -> None:
    from t5sum.metrics.rouge import select_references

    prediction, refs = MULTI[0]
    first = rouge_scores([prediction], [refs], multi_ref="first")
    assert first == rouge_scores([prediction], [refs[0]])
    assert select_references([refs, "one"], "first") == [refs[0], "one"]
    metric = SummarizationMetrics(multi_ref="first")
    metric.update([prediction], [refs], ["a document"], [5])
    single = SummarizationMetrics()
    single.update([prediction], [refs[0]], ["a document"], [5])
    assert {k: float(v) for k, v in metric.compute().items()} == {
        k: float(v) for k, v in single.compute().items()
    }
