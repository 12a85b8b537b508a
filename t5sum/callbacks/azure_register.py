"""`callbacks=azure_register`: register the run's best model in Azure ML once the run dir is written."""

from __future__ import annotations

from pathlib import Path

from t5sum.callbacks.onnx_export import RunDirCallback


class AzureRegister(RunDirCallback):
    """As `python -m t5sum.azure register run_dir=<run> azure=<profile>`; imports cloud/ only here."""

    def __init__(self, azure: str = "t4_cluster", overrides: list[str] | None = None) -> None:
        self.azure = azure
        self.overrides = list(overrides or [])

    def on_run_dir_written(self, run_dir: Path) -> None:
        from t5sum.cloud.registry import register
        from t5sum.cloud.settings import profile
        from t5sum.cloud.workspace import connect

        cfg = profile(self.azure, self.overrides)
        register(cfg, run_dir, client=connect(cfg.workspace))
