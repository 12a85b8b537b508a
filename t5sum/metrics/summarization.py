"""DDP-safe summarization metrics: every state is a summed tensor, so ranks reduce exactly."""

from __future__ import annotations

from typing import Any

import torch
from torchmetrics import Metric
from torchmetrics.functional.text.bleu import _bleu_score_compute, _bleu_score_update
from torchmetrics.functional.text.sacre_bleu import _SacreBLEUTokenizer

from t5sum.metrics.rouge import ROUGE_KEYS, Reference, as_reference_list, rouge_scores, select_references
from t5sum.metrics.text import compression_ratio

_BLEU_N_GRAM = 4
_PARTS = ("f", "p", "r")


class SummarizationMetrics(Metric):
    """ROUGE-1/2/L/Lsum, corpus BLEU, compression ratio, generated length and max_new_tokens hits.

    ROUGE is scored per example on the CPU (rouge-score) and only the sums are kept, so no strings are
    gathered across ranks. BLEU keeps SacreBLEUScore's n-gram sufficient statistics (13a tokenizer) as this
    metric's own states rather than in a child metric, because torchmetrics does not reset, merge or sync
    child metrics together with their parent. ``compression_ratio`` is summary length / document length in
    whitespace words (documents with no words count as 1 word), averaged over examples.

    ``compute()`` before any ``update()`` returns NaN for every mean and 0 for ``num_examples``.
    """

    full_state_update = False
    is_differentiable = False
    higher_is_better = True

    rouge_sum: torch.Tensor
    compression_sum: torch.Tensor
    gen_len_sum: torch.Tensor
    hit_max_count: torch.Tensor
    num_examples: torch.Tensor
    bleu_numerator: torch.Tensor
    bleu_denominator: torch.Tensor
    bleu_preds_len: torch.Tensor
    bleu_target_len: torch.Tensor

    def __init__(
        self,
        max_new_tokens: int | None = None,
        use_stemmer: bool = True,
        multi_ref: str = "max",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.max_new_tokens = max_new_tokens
        self.use_stemmer = use_stemmer
        self.multi_ref = multi_ref  # several references per example: max | mean ROUGE (BLEU uses all) | first
        self._bleu_tokenizer = _SacreBLEUTokenizer("13a", lowercase=False)
        # Rows follow ROUGE_KEYS, columns are F1 / precision / recall sums.
        self.add_state("rouge_sum", torch.zeros(len(ROUGE_KEYS), len(_PARTS)), dist_reduce_fx="sum")
        for name in ("compression_sum", "gen_len_sum"):
            self.add_state(name, torch.tensor(0.0), dist_reduce_fx="sum")
        for name in ("hit_max_count", "num_examples"):
            self.add_state(name, torch.tensor(0, dtype=torch.long), dist_reduce_fx="sum")
        self.add_state("bleu_numerator", torch.zeros(_BLEU_N_GRAM), dist_reduce_fx="sum")
        self.add_state("bleu_denominator", torch.zeros(_BLEU_N_GRAM), dist_reduce_fx="sum")
        self.add_state("bleu_preds_len", torch.tensor(0.0), dist_reduce_fx="sum")
        self.add_state("bleu_target_len", torch.tensor(0.0), dist_reduce_fx="sum")

    def update(
        self,
        predictions: list[str],
        references: list[Reference],
        documents: list[str],
        generated_lengths: torch.Tensor | list[int],
        rouge_rows: list[dict[str, float]] | None = None,
    ) -> None:
        """Accumulate a batch; ``generated_lengths`` counts generated tokens per example, padding excluded.
        ``rouge_rows``: this batch's ``rouge_scores`` when the caller already has them (no second scoring)."""
        lengths = torch.as_tensor(generated_lengths, dtype=torch.float32).flatten().cpu()
        sizes = {len(predictions), len(references), len(documents), lengths.numel()}
        if len(sizes) != 1:
            raise ValueError(
                f"batch size mismatch: {len(predictions)} predictions, {len(references)} references, "
                f"{len(documents)} documents, {lengths.numel()} generated lengths"
            )
        if not predictions:
            return
        references = select_references(references, self.multi_ref)
        device = self.rouge_sum.device

        if rouge_rows is not None and len(rouge_rows) != len(predictions):
            raise ValueError(f"{len(rouge_rows)} rouge rows for {len(predictions)} predictions")
        rows = rouge_rows or rouge_scores(predictions, references, self.use_stemmer, self.multi_ref)
        table = torch.tensor(
            [[[row[f"{key}_{part}"] for part in _PARTS] for key in ROUGE_KEYS] for row in rows],
            dtype=torch.float64,
        )
        self.rouge_sum += table.sum(dim=0).to(device=device, dtype=self.rouge_sum.dtype)

        pairs = zip(predictions, documents, strict=True)
        ratios = [compression_ratio(pred, doc) for pred, doc in pairs]
        self.compression_sum += torch.tensor(ratios, dtype=torch.float64).sum().to(device)
        self.gen_len_sum += lengths.sum().to(device)
        if self.max_new_tokens is not None:
            self.hit_max_count += int((lengths >= self.max_new_tokens).sum())
        self.num_examples += len(predictions)

        # _bleu_score_update adds n-gram counts in place and returns the updated length totals.
        self.bleu_preds_len, self.bleu_target_len = _bleu_score_update(
            predictions,
            [as_reference_list(reference) for reference in references],
            self.bleu_numerator,
            self.bleu_denominator,
            self.bleu_preds_len,
            self.bleu_target_len,
            _BLEU_N_GRAM,
            self._bleu_tokenizer,
        )

    def compute(self) -> dict[str, torch.Tensor]:
        """Means over all examples seen on all ranks; ROUGE and BLEU on 0-100, shares on 0-1."""
        count = self.num_examples.to(torch.float32)
        nan = torch.tensor(float("nan"), device=self.rouge_sum.device)
        empty = bool(self.num_examples == 0)
        means = torch.full_like(self.rouge_sum, float("nan")) if empty else self.rouge_sum / count
        out: dict[str, torch.Tensor] = {}
        for i, key in enumerate(ROUGE_KEYS):
            out[key] = means[i, 0] * 100
        for i, key in enumerate(ROUGE_KEYS):
            out[f"{key}_precision"] = means[i, 1] * 100
            out[f"{key}_recall"] = means[i, 2] * 100
        if empty:
            out["bleu"] = nan
        else:
            bleu = _bleu_score_compute(
                self.bleu_preds_len,
                self.bleu_target_len,
                self.bleu_numerator,
                self.bleu_denominator,
                _BLEU_N_GRAM,
                [1.0 / _BLEU_N_GRAM] * _BLEU_N_GRAM,
                False,
            )
            out["bleu"] = bleu.to(self.rouge_sum.device) * 100
        out["compression_ratio"] = nan if empty else self.compression_sum / count
        out["gen_len"] = nan if empty else self.gen_len_sum / count
        if self.max_new_tokens is not None:
            out["hit_max_new_tokens_share"] = nan if empty else self.hit_max_count / count
        out["num_examples"] = self.num_examples.clone()
        return out


def cap_warning(hit_share: float | torch.Tensor, max_new_tokens: int, threshold: float = 0.95) -> str | None:
    """Flag the classic "Gen Len 19.0" bug: nearly every summary truncated by the generation length cap."""
    share = float(hit_share)
    if not share >= threshold:  # also False for NaN (no examples)
        return None
    return (
        f"{share:.0%} of outputs hit max_new_tokens={max_new_tokens}: summaries are being cut off; "
        "raise generation.max_new_tokens"
    )
