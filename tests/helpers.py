"""Test helpers: the CLI as a subprocess, and callbacks tests inject through config
(`+callbacks.x._target_=tests.helpers...`)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import lightning as L
import torch


def run_cli(
    *args: str, cwd: Path, timeout: int = 300, module: str = "t5sum.train"
) -> subprocess.CompletedProcess:
    """`python -m <module> <args>` offline, with its dataset cache under `cwd`."""
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=cwd,
        env=cli_env(cwd),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


ROOT = Path(__file__).resolve().parents[1]


def cli_env(cwd: Path) -> dict[str, str]:
    """Offline, a cache under `cwd`, and `tests.helpers` importable (callbacks injected by config)."""
    pythonpath = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)
    return {
        **os.environ,
        "PYTHONPATH": pythonpath,
        "HF_HUB_OFFLINE": "1",
        "HF_DATASETS_OFFLINE": "1",
        "T5SUM_CACHE_DIR": str(cwd / "cache"),
    }


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


class RankProbe(L.Callback):
    """Rank 0 writes what every rank trains with (gathered across the process group) to ranks.json."""

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        import json

        lr = torch.tensor(trainer.optimizers[0].param_groups[0]["initial_lr"], dtype=torch.float64)
        seen = trainer.strategy.all_gather(lr).reshape(-1).tolist()
        if trainer.is_global_zero:
            out = Path(trainer.default_root_dir) / "ranks.json"
            out.write_text(json.dumps({"world_size": trainer.world_size, "lr": seen}))
