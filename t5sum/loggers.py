"""Experiment loggers that need more than a `_target_`."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


def wandb_has_credentials() -> bool:
    if os.environ.get("WANDB_API_KEY"):
        return True
    netrc = Path(os.environ.get("NETRC", Path.home() / ".netrc"))
    return netrc.is_file() and "api.wandb.ai" in netrc.read_text(errors="ignore")


def wandb_logger(offline: bool = False, **kwargs: Any):
    """A WandbLogger that never prompts: it goes offline when asked to, or when no credentials exist."""
    from lightning.pytorch.loggers import WandbLogger

    mode = os.environ.get("WANDB_MODE", "")
    if mode in ("offline", "disabled", "dryrun"):
        offline = True
    elif not offline and not wandb_has_credentials():
        log.warning(
            "No W&B credentials (WANDB_API_KEY or `wandb login`): logging offline; `wandb sync` later."
        )
        offline = True
    os.environ.setdefault("WANDB_SILENT", "true")
    if offline:
        os.environ["WANDB_MODE"] = "offline"
    Path(kwargs.get("save_dir", ".")).mkdir(parents=True, exist_ok=True)
    return WandbLogger(offline=offline, **kwargs)


def mlflow_logger(
    experiment_name: str = "t5sum",
    run_id: str | None = None,
    tracking_uri: str | None = None,
    save_dir: str = "./mlruns",
    log_model: bool = False,
    run_name: str | None = None,
    tags: dict[str, Any] | None = None,
):
    """Lightning's MLFlowLogger. Attached to a run it did not start (an Azure ML job's MLFLOW_RUN_ID), it
    leaves that run open at the end of fit: test metrics still land in it, and Azure ends it with the job."""
    from lightning.pytorch.loggers import MLFlowLogger

    class AttachedMLFlowLogger(MLFlowLogger):
        def finalize(self, status: str = "success") -> None:
            if run_id is None:
                super().finalize(status)

    return AttachedMLFlowLogger(
        experiment_name=experiment_name,
        run_id=run_id,
        tracking_uri=tracking_uri,
        save_dir=save_dir,
        log_model=log_model,
        run_name=run_name,
        tags=tags,
    )
