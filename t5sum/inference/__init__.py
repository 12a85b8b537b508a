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


def detect_backend(path: str | Path) -> str:
    """onnx for an export directory (it holds encoder_model.onnx), else torch."""
    return "onnx" if (Path(path) / "encoder_model.onnx").is_file() else "torch"


def load_summarizer(
    path: str | Path, backend: str = "auto", threads: int | None = None, **kwargs
) -> BatchedSummarizer:
    """`auto`: see `detect_backend`. `threads` sets torch's intra-op threads (the torch backend's model and
    generate loop) and onnxruntime's for an export, whose search then runs torch on one thread during each
    call: oversubscribed threads swing latency 3-10x on small machines, so servers set it deliberately."""
    if backend == "auto":
        backend = detect_backend(path)
    if threads:
        import torch

        torch.set_num_threads(threads)
    if backend == "torch":
        from t5sum.inference.torch_backend import TorchSummarizer

        return TorchSummarizer.from_pretrained(resolve_model_dir(path), **kwargs)
    if backend == "onnx":
        from t5sum.inference.onnx_backend import OnnxSummarizer

        return OnnxSummarizer(path, threads=threads, **kwargs)
    raise T5SumError(f"Unknown inference backend {backend!r}: use 'torch' or 'onnx'.")


__all__ = ["BatchedSummarizer", "InferenceSettings", "InputError", "Summarizer", "load_summarizer"]
