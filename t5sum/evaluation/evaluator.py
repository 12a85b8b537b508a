"""The one evaluator: generate for a split with any Summarizer, score it with the training metrics."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from tqdm.auto import tqdm
from transformers import GenerationConfig

from t5sum.data.datamodule import SummarizationDataModule
from t5sum.data.long_input import ModelInput, input_stats
from t5sum.data.tokenize import model_inputs
from t5sum.metrics import ROUGE_KEYS, SummarizationMetrics, rouge_scores
from t5sum.metrics.bleu import bleu_statistics
from t5sum.metrics.bootstrap import bleu_statistic, bootstrap_ci, mean_statistic, paired_bootstrap
from t5sum.metrics.rouge import Reference, as_reference_list, select_references
from t5sum.metrics.text import compression_ratio

SPLITS = ("train", "validation", "test")
# metrics with a per-example value (or per-example sufficient statistics) get confidence intervals
CI_METRICS = (*ROUGE_KEYS, "bleu", "gen_len", "compression_ratio")


@dataclass
class EvalData:
    """One split as the model sees it: the training data path's rows and token ids."""

    ids: list[str]
    documents: list[str]
    references: list[Reference]  # a list where the split has several human references per example
    inputs: list[ModelInput]  # the model input(s) of each example, by the long-input strategy

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def input_ids(self) -> list[list[int]]:
        return [m.ids for m in self.inputs]

    @property
    def source_truncated(self) -> list[bool]:
        """Whether the long-input strategy changed each document."""
        return [m.changed for m in self.inputs]

    @property
    def first_references(self) -> list[str]:
        return [as_reference_list(ref)[0] for ref in self.references]

    @property
    def references_per_example(self) -> float:
        return float(np.mean([len(as_reference_list(ref)) for ref in self.references])) if self.ids else 0.0


def load_eval_data(datamodule: SummarizationDataModule, split: str) -> EvalData:
    if split not in SPLITS:
        raise ValueError(f"split={split!r} is not a dataset split: use one of {', '.join(SPLITS)}.")
    ds = datamodule.prepare_split(split)
    references: list[Reference] = list(ds["summary"])
    if "references" in ds.column_names:  # e.g. DialogSum test: three human summaries per dialogue
        references = [
            list(refs) if refs else summary
            for refs, summary in zip(ds["references"], references, strict=True)
        ]
    return EvalData(
        ids=[str(i) for i in ds["id"]],
        documents=list(ds["document"]),
        references=references,
        inputs=model_inputs(ds),
    )


@dataclass
class SystemScores:
    """Everything measured for one model on one split: outputs, per-example scores and aggregates."""

    predictions: list[str]
    generated_tokens: list[int]
    rouge_rows: list[dict[str, float]]
    bleu_stats: np.ndarray
    compression: np.ndarray
    metrics: dict[str, float]
    seconds: float
    extra: dict[str, Any] = field(default_factory=dict)

    def per_example(self, metric: str) -> np.ndarray:
        """Per-example values on the scale of `metrics` (ROUGE F1 x 100)."""
        if metric in ROUGE_KEYS:
            return np.array([row[f"{metric}_f"] for row in self.rouge_rows]) * 100
        if metric == "gen_len":
            return np.asarray(self.generated_tokens, dtype=np.float64)
        if metric == "compression_ratio":
            return self.compression
        raise KeyError(metric)

    def statistic(self, metric: str):
        return (
            bleu_statistic(self.bleu_stats) if metric == "bleu" else mean_statistic(self.per_example(metric))
        )


def score_outputs(
    data: EvalData,
    predictions: list[str],
    generated_tokens: list[int],
    max_new_tokens: int | None,
    multi_ref: str = "max",
) -> SystemScores:
    rows = rouge_scores(predictions, data.references, multi_ref=multi_ref)
    metric = SummarizationMetrics(max_new_tokens=max_new_tokens, multi_ref=multi_ref)
    metric.update(predictions, data.references, data.documents, generated_tokens, rouge_rows=rows)
    metrics = {key: float(value) for key, value in metric.compute().items()}
    metrics["num_examples"] = int(metrics["num_examples"])
    metrics.update(input_stats(data.inputs))  # what the long-input strategy changed and kept
    compression = np.array(
        [compression_ratio(p, d) for p, d in zip(predictions, data.documents, strict=True)]
    )
    return SystemScores(
        predictions=predictions,
        generated_tokens=generated_tokens,
        rouge_rows=rows,
        bleu_stats=bleu_statistics(predictions, select_references(data.references, multi_ref)),
        compression=compression,
        metrics=metrics,
        seconds=0.0,
    )


def evaluate_summarizer(
    summarizer,
    data: EvalData,
    config: GenerationConfig,
    label: str = "model",
    progress: bool = True,
    sort_by_length: bool = True,
    multi_ref: str = "max",
) -> SystemScores:
    """Generate in length-sorted batches (a progress bar shows examples/s), then score."""
    started = time.perf_counter()
    with tqdm(total=len(data), desc=f"generate ({label})", unit="ex", disable=not progress) as bar:
        predictions, generated = summarizer.generate_inputs(
            data.inputs, config, sort_by_length=sort_by_length, on_batch=bar.update
        )
    seconds = time.perf_counter() - started
    scores = score_outputs(data, predictions, generated, config.max_new_tokens, multi_ref)
    scores.seconds = seconds
    scores.metrics["examples_per_second"] = len(data) / seconds if seconds > 0 else float("nan")
    return scores


def confidence_intervals(
    scores: SystemScores, samples: int, confidence: float, seed: int
) -> dict[str, list[float]]:
    n = len(scores.predictions)
    return {
        metric: list(bootstrap_ci(scores.statistic(metric), n, samples, confidence, seed))
        for metric in CI_METRICS
    }


def compare(
    baseline: SystemScores, tuned: SystemScores, samples: int, confidence: float, seed: int
) -> dict[str, dict[str, float]]:
    """Per metric: baseline, fine-tuned, improvement (fine-tuned - baseline), its CI and a paired p-value."""
    n = len(tuned.predictions)
    table: dict[str, dict[str, float]] = {}
    for metric in CI_METRICS:
        paired = paired_bootstrap(
            baseline.statistic(metric), tuned.statistic(metric), n, samples, confidence, seed
        )
        table[metric] = {
            "baseline": baseline.metrics[metric],
            "fine_tuned": tuned.metrics[metric],
            "improvement": paired.delta,
            "ci_low": paired.ci_low,
            "ci_high": paired.ci_high,
            "p_value": paired.p_value,
        }
    return table


def prediction_rows(
    data: EvalData, tuned: SystemScores, baseline: SystemScores | None
) -> list[dict[str, Any]]:
    """predictions.jsonl: one row per example, with its scores (and the baseline's, when there is one)."""
    rows = []
    firsts = data.first_references
    for i, example_id in enumerate(data.ids):
        row: dict[str, Any] = {
            "id": example_id,
            "reference": firsts[i],
            "prediction": tuned.predictions[i],
            "generated_tokens": tuned.generated_tokens[i],
            "source_truncated": data.source_truncated[i],
            "scores": _rounded(tuned.rouge_rows[i]),
        }
        if not isinstance(data.references[i], str):
            row["references"] = list(data.references[i])
        if baseline is not None:
            row["baseline_prediction"] = baseline.predictions[i]
            row["baseline_scores"] = _rounded(baseline.rouge_rows[i])
        rows.append(row)
    return rows


def _rounded(row: Mapping[str, float]) -> dict[str, float]:
    return {key: round(value, 6) for key, value in row.items()}
