"""Per-example BLEU sufficient statistics, so corpus BLEU can be recomputed on any resample of examples.

Both functions wrap torchmetrics' SacreBLEU internals (13a tokenizer, 4-grams, no smoothing): the same
implementation `SummarizationMetrics` accumulates, so a statistics total gives exactly its corpus BLEU.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torchmetrics.functional.text.bleu import _bleu_score_compute, _bleu_score_update
from torchmetrics.functional.text.sacre_bleu import _SacreBLEUTokenizer

from t5sum.metrics.rouge import Reference, as_reference_list

BLEU_N_GRAM = 4
_TOKENIZER = _SacreBLEUTokenizer("13a", lowercase=False)


def bleu_statistics(predictions: Sequence[str], references: Sequence[Reference]) -> np.ndarray:
    """Rows of [matches per n-gram order (4), candidate n-grams per order (4), hyp length, ref length]."""
    if len(predictions) != len(references):
        raise ValueError(f"{len(predictions)} predictions but {len(references)} references")
    rows = np.zeros((len(predictions), 2 * BLEU_N_GRAM + 2))
    for i, (prediction, reference) in enumerate(zip(predictions, references, strict=True)):
        numerator, denominator = torch.zeros(BLEU_N_GRAM), torch.zeros(BLEU_N_GRAM)
        pred_len, target_len = _bleu_score_update(
            [prediction],
            [as_reference_list(reference)],
            numerator,
            denominator,
            torch.tensor(0.0),
            torch.tensor(0.0),
            BLEU_N_GRAM,
            _TOKENIZER,
        )
        rows[i, :BLEU_N_GRAM] = numerator.numpy()
        rows[i, BLEU_N_GRAM : 2 * BLEU_N_GRAM] = denominator.numpy()
        rows[i, -2:] = float(pred_len), float(target_len)
    return rows


def bleu_from_statistics(totals: np.ndarray) -> float:
    """Corpus BLEU (0-100) from the column sums of `bleu_statistics` rows."""
    totals = torch.as_tensor(np.asarray(totals, dtype=np.float64), dtype=torch.float32)
    score = _bleu_score_compute(
        totals[-2],
        totals[-1],
        totals[:BLEU_N_GRAM],
        totals[BLEU_N_GRAM : 2 * BLEU_N_GRAM],
        BLEU_N_GRAM,
        [1.0 / BLEU_N_GRAM] * BLEU_N_GRAM,
        False,
    )
    return float(score) * 100
