"""Callbacks: non-finite loss guard, and callbacks that act on the finished run dir (ONNX export, Azure ML
registration)."""

from t5sum.callbacks.azure_register import AzureRegister
from t5sum.callbacks.nonfinite import NonFiniteLossGuard
from t5sum.callbacks.onnx_export import OnnxExport, RunDirCallback

__all__ = ["AzureRegister", "NonFiniteLossGuard", "OnnxExport", "RunDirCallback"]
