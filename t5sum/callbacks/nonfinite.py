"""Stop cleanly on a NaN/Inf loss: keep a checkpoint of the last good weights and say so once."""

from __future__ import annotations

import logging
from pathlib import Path

import lightning as L

from t5sum.errors import NonFiniteLossError

log = logging.getLogger(__name__)


class NonFiniteLossGuard(L.Callback):
    """Works with SummarizationModule.training_step, which flags the step and skips its update."""

    def __init__(self, dirpath: str) -> None:
        self.dirpath = Path(dirpath)
        self.checkpoint_path: Path | None = None

    def on_train_batch_end(
        self, trainer: L.Trainer, pl_module: L.LightningModule, outputs, batch, batch_idx
    ) -> None:
        step = getattr(pl_module, "nonfinite_step", None)
        if step is None or self.checkpoint_path is not None:
            return
        self.checkpoint_path = self.dirpath / f"nonfinite-step={step}.ckpt"
        trainer.save_checkpoint(self.checkpoint_path)
        log.error(
            "Non-finite loss at step %d: training stopped, last good weights saved to %s",
            step,
            self.checkpoint_path,
        )

    def raise_if_stopped(self, pl_module: L.LightningModule) -> None:
        """After fit: turn a guarded stop into one clear error for the caller."""
        step = getattr(pl_module, "nonfinite_step", None)
        if step is None:
            return
        where = f"; last good weights in {self.checkpoint_path}" if self.checkpoint_path else ""
        raise NonFiniteLossError(
            f"Loss became NaN/Inf at step {step}{where}. Lower optimizer.lr, keep trainer.gradient_clip_val, "
            "or use trainer.precision=32-true (T5 overflows in fp16)."
        )
