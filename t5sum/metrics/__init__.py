"""Summarization metrics (leaf layer: imports nothing from other t5sum subpackages)."""

from t5sum.metrics.rouge import ROUGE_KEYS, metric_profile, rouge_scores
from t5sum.metrics.summarization import SummarizationMetrics, cap_warning
from t5sum.metrics.text import count_words, split_sentences

__all__ = [
    "ROUGE_KEYS",
    "SummarizationMetrics",
    "cap_warning",
    "count_words",
    "metric_profile",
    "rouge_scores",
    "split_sentences",
]
