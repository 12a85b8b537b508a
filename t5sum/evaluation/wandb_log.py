"""Evaluation results to the experiment loggers; W&B also gets a predictions table and the plots."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from t5sum.config import instantiate_group

TABLE_COLUMNS = ("id", "reference", "prediction", "baseline_prediction", "rougeLsum", "baseline_rougeLsum")


def flat_metrics(result: Mapping[str, Any]) -> dict[str, float]:
    prefix = f"eval/{result['split']}"
    out = {}
    for system, metrics in (("", result["metrics"]), ("baseline_", result.get("baseline_metrics") or {})):
        for key, value in metrics.items():
            if isinstance(value, int | float) and math.isfinite(value):
                out[f"{prefix}/{system}{key}"] = float(value)
    return out


def table_rows(rows: Sequence[Mapping[str, Any]]) -> list[list[Any]]:
    out = []
    for row in rows:
        base = row.get("baseline_scores") or {}
        out.append(
            [
                row["id"],
                row["reference"],
                row["prediction"],
                row.get("baseline_prediction"),
                100 * row["scores"]["rougeLsum_f"],
                100 * base["rougeLsum_f"] if base else None,
            ]
        )
    return out


def log_evaluation(
    logger_cfg: DictConfig,
    result: Mapping[str, Any],
    rows: Sequence[Mapping[str, Any]],
    plots: Mapping[str, Path],
) -> None:
    from lightning.pytorch.loggers import WandbLogger

    for logger in instantiate_group(logger_cfg):
        logger.log_metrics(flat_metrics(result), step=0)
        if isinstance(logger, WandbLogger):
            split = result["split"]
            logger.log_table(
                key=f"eval/{split}/predictions", columns=list(TABLE_COLUMNS), data=table_rows(rows)
            )
            for name, path in plots.items():
                logger.log_image(key=f"eval/{split}/{name}", images=[str(path)])
            logger.experiment.finish()
        else:
            logger.save()
