"""Bootstrap intervals, paired tests and resampleable BLEU statistics."""

from __future__ import annotations

import numpy as np
import pytest

from t5sum.metrics import SummarizationMetrics
from t5sum.metrics.bleu import bleu_from_statistics, bleu_statistics
from t5sum.metrics.bootstrap import bleu_statistic, bootstrap_ci, mean_statistic, paired_bootstrap

PREDICTIONS = [
    "the cat sat on the mat today",
    "a dog barked at the mailman loudly",
    "rain is expected tomorrow in the north",
    "the meeting moved to friday afternoon",
    "prices rose sharply in the last quarter",
]
REFERENCES = [
    "the cat sat on the mat",
    "the dog barked at the postman",
    "tomorrow rain is expected in northern areas",
    "the meeting was moved to friday",
    "prices rose in the last quarter of the year",
]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_ci_contains_the_estimate_and_narrows_with_more_examples(seed: int) -> None:
    rng = np.random.default_rng(seed)
    widths = []
    for n in (30, 300, 3000):
        values = rng.normal(40.0, 10.0, size=n)
        low, high = bootstrap_ci(mean_statistic(values), n, samples=500, seed=seed)
        assert low <= values.mean() <= high
        widths.append(high - low)
    assert widths[0] > widths[1] > widths[2]
    assert widths[0] / widths[2] == pytest.approx(10.0, rel=0.35)  # width ~ 1/sqrt(n)


def test_ci_is_seeded() -> None:
    values = np.arange(50.0)
    assert bootstrap_ci(mean_statistic(values), 50, seed=3) == bootstrap_ci(
        mean_statistic(values), 50, seed=3
    )
    assert bootstrap_ci(mean_statistic(values), 50, seed=3) != bootstrap_ci(
        mean_statistic(values), 50, seed=4
    )


def test_paired_bootstrap_on_identical_systems_gives_p_one() -> None:
    values = np.random.default_rng(0).uniform(0, 100, size=200)
    result = paired_bootstrap(mean_statistic(values), mean_statistic(values.copy()), 200)
    assert result.delta == 0.0 and result.ci_low == result.ci_high == 0.0
    assert result.p_value == pytest.approx(1.0)


def test_paired_bootstrap_detects_a_real_difference_and_not_noise() -> None:
    rng = np.random.default_rng(1)
    a = rng.uniform(0, 100, size=300)
    better = a + rng.normal(3.0, 2.0, size=300)  # consistently better by ~3 points
    result = paired_bootstrap(mean_statistic(a), mean_statistic(better), 300)
    assert result.delta == pytest.approx((better - a).mean())
    assert result.ci_low > 0 and result.p_value < 0.01
    noise = a + rng.normal(0.0, 2.0, size=300)  # same system up to noise
    assert paired_bootstrap(mean_statistic(a), mean_statistic(noise), 300).p_value > 0.05
    worse = paired_bootstrap(mean_statistic(better), mean_statistic(a), 300)
    assert worse.delta < 0 and worse.ci_high < 0


def test_bleu_statistics_total_equals_the_metric_corpus_bleu() -> None:
    metric = SummarizationMetrics()
    metric.update(PREDICTIONS, REFERENCES, REFERENCES, [5] * len(PREDICTIONS))
    stats = bleu_statistics(PREDICTIONS, REFERENCES)
    assert stats.shape == (5, 10)
    assert bleu_from_statistics(stats.sum(axis=0)) == pytest.approx(float(metric.compute()["bleu"]), abs=1e-4)
    # the statistic is corpus BLEU of the resampled examples, not a mean of sentence BLEUs
    subset = np.array([[0, 0, 3]])
    expected = SummarizationMetrics()
    picked = [PREDICTIONS[i] for i in subset[0]], [REFERENCES[i] for i in subset[0]]
    expected.update(*picked, picked[1], [5, 5, 5])
    assert bleu_statistic(stats)(subset)[0] == pytest.approx(float(expected.compute()["bleu"]), abs=1e-4)


def test_bleu_statistics_with_several_references_match_the_metric() -> None:
    references = [[ref, pred] for pred, ref in zip(PREDICTIONS, REFERENCES, strict=True)]  # 2nd ref is exact
    metric = SummarizationMetrics()
    metric.update(PREDICTIONS, references, REFERENCES, [5] * len(PREDICTIONS))
    stats = bleu_statistics(PREDICTIONS, references)
    assert bleu_from_statistics(stats.sum(axis=0)) == pytest.approx(float(metric.compute()["bleu"]), abs=1e-4)
    assert bleu_from_statistics(stats.sum(axis=0)) == pytest.approx(100.0)
