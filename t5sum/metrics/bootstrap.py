"""Bootstrap over examples: confidence intervals for a system, paired tests between two systems.

A statistic is a function from an index matrix (resamples x examples) to one value per resample, so means
(ROUGE, lengths) and corpus statistics (BLEU from summed sufficient statistics) go through the same code.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from t5sum.metrics.bleu import bleu_from_statistics

Statistic = Callable[[np.ndarray], np.ndarray]


def mean_statistic(values: np.ndarray) -> Statistic:
    values = np.asarray(values, dtype=np.float64)
    return lambda idx: values[idx].mean(axis=-1)


def bleu_statistic(stats: np.ndarray) -> Statistic:
    stats = np.asarray(stats, dtype=np.float64)
    return lambda idx: np.array([bleu_from_statistics(stats[row].sum(axis=0)) for row in np.atleast_2d(idx)])


def resample_indices(n: int, samples: int, seed: int) -> np.ndarray:
    if n < 1:
        raise ValueError("bootstrap needs at least one example")
    return np.random.default_rng(seed).integers(0, n, size=(samples, n), dtype=np.int64)


def _interval(distribution: np.ndarray, confidence: float) -> tuple[float, float]:
    alpha = (1.0 - confidence) / 2
    low, high = np.quantile(distribution, [alpha, 1.0 - alpha])
    return float(low), float(high)


def bootstrap_ci(
    statistic: Statistic, n: int, samples: int = 1000, confidence: float = 0.95, seed: int = 0
) -> tuple[float, float]:
    """Percentile interval of the statistic over `samples` resamples of the n examples."""
    return _interval(statistic(resample_indices(n, samples, seed)), confidence)


@dataclass(frozen=True)
class PairedResult:
    delta: float  # system b minus system a, on all examples
    ci_low: float
    ci_high: float
    p_value: float  # two-sided: how often a resample's delta is this far from the observed one by chance


def paired_bootstrap(
    statistic_a: Statistic,
    statistic_b: Statistic,
    n: int,
    samples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> PairedResult:
    """Paired bootstrap (both systems scored on the same resampled examples).

    The p-value shifts the resampled deltas to the null of no difference (Berg-Kirkpatrick et al., 2012):
    p = (1 + #{|d_i - d| >= |d|}) / (1 + samples). Identical systems give p = 1.
    """
    everything = np.arange(n)[None, :]
    delta = float(statistic_b(everything)[0] - statistic_a(everything)[0])
    idx = resample_indices(n, samples, seed)
    deltas = statistic_b(idx) - statistic_a(idx)
    tolerance = 1e-12 * max(1.0, abs(delta))  # float noise must not turn "equal" into "smaller"
    extreme = np.abs(deltas - delta) >= abs(delta) - tolerance
    low, high = _interval(deltas, confidence)
    return PairedResult(delta, low, high, float((1 + extreme.sum()) / (1 + samples)))
