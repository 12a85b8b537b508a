"""Callbacks: non-finite loss guard (more arrive with export and registration)."""

from t5sum.callbacks.nonfinite import NonFiniteLossGuard

__all__ = ["NonFiniteLossGuard"]
