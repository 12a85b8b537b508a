"""Callbacks that tests inject through config (`+callbacks.x._target_=tests.helpers...`)."""

from __future__ import annotations

import lightning as L
import torch


class CrashAtStep(L.Callback):
    """Simulates a crash (OOM, preemption) when training reaches `step`."""

    def __init__(self, step: int) -> None:
        self.step = step

    def on_train_batch_start(
        self, trainer: L.Trainer, pl_module: L.LightningModule, batch, batch_idx
    ) -> None:
        if trainer.global_step >= self.step:
            raise RuntimeError(f"simulated crash at step {trainer.global_step}")


class PoisonWeightsAtStep(L.Callback):
    """Writes NaN into one weight at `step`, so that step's loss is NaN."""

    def __init__(self, step: int) -> None:
        self.step = step

    def on_train_batch_start(
        self, trainer: L.Trainer, pl_module: L.LightningModule, batch, batch_idx
    ) -> None:
        if trainer.global_step == self.step:
            with torch.no_grad():
                next(pl_module.model.parameters()).fill_(float("nan"))
