"""Data layer: raw rows -> {id, document, summary} -> prompt -> tokens -> length-grouped batches."""

from t5sum.data.prompt import build_prompt, validate_template

__all__ = ["build_prompt", "validate_template"]
