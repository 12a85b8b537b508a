"""One inference interface, `summarize(texts, **generation overrides) -> list[str]`, with backends that
share prompts, tokenization, batching and decoding. No Lightning, no peft."""

from __future__ import annotations

from pathlib import Path

from t5sum.errors import T5SumError
from t5sum.inference.base import BatchedSummarizer, InferenceSettings, InputError, Summarizer


def resolve_model_dir(path: str | Path) -> Path:
    """Accept a run dir (uses its model/) or a model directory itself."""
    path = Path(path)
    if (path / "model").is_dir():
        return path / "model"
    if path.is_dir():
        return path
    raise T5SumError(f"{path} is neither a run dir nor a model directory.")


def load_summarizer(path: str | Path, backend: str = "torch", **kwargs) -> BatchedSummarizer:
    if backend == "torch":
        from t5sum.inference.torch_backend import TorchSummarizer

        return TorchSummarizer(resolve_model_dir(path), **kwargs)
    raise T5SumError(f"Unknown inference backend {backend!r}: available: 'torch'.")


__all__ = ["BatchedSummarizer", "InferenceSettings", "InputError", "Summarizer", "load_summarizer"]
