"""Callbacks that act on the finished run dir, and the ONNX export one (`callbacks=onnx_export`)."""

from __future__ import annotations

import logging
from pathlib import Path

import lightning as L

from t5sum.errors import ConfigError

log = logging.getLogger(__name__)


class RunDirCallback(L.Callback):
    """`train()` calls `on_run_dir_written` once model/ (the best weights, LoRA merged) is on disk."""

    def on_run_dir_written(self, run_dir: Path) -> None:
        raise NotImplementedError


class OnnxExport(RunDirCallback):
    """Exports the run's best model to <run dir>/onnx, parity gate included."""

    def __init__(self, quantize: str | None = None, opset: int | None = None) -> None:
        self.quantize = quantize
        self.opset = opset

    def on_run_dir_written(self, run_dir: Path) -> None:
        from t5sum.inference.onnx_export import export_onnx  # heavy and optional: only when used

        if not (run_dir / "model").is_dir():
            raise ConfigError("callbacks=onnx_export needs the saved model: set save_model=true.")
        out = export_onnx(run_dir, opset=self.opset, quantize=self.quantize)
        log.info("ONNX export passed the parity gate: %s", out)
