"""The end of every multirun, grid or Optuna: sweep_summary.csv and .md, one row per run, the best marked."""

from __future__ import annotations

import csv
import json
import logging
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

log = logging.getLogger(__name__)
SHOWN_METRICS = ("test/rouge1", "test/rouge2", "test/rougeLsum")


def job_dirs(sweep_dir: Path) -> list[Path]:
    """The sweep's job folders (each has .hydra/overrides.yaml), in job-number order."""
    found = [p.parent.parent for p in sweep_dir.glob("*/.hydra/overrides.yaml")]
    return sorted(found, key=lambda p: (not p.name.isdigit(), int(p.name) if p.name.isdigit() else 0, p.name))


def run_row(job_dir: Path, monitor: str) -> dict[str, Any]:
    overrides = [str(o) for o in OmegaConf.load(job_dir / ".hydra" / "overrides.yaml")]
    metrics_file = job_dir / "metrics.json"
    metrics = json.loads(metrics_file.read_text()) if metrics_file.is_file() else {}
    error_file = job_dir / "error.txt"
    if metrics:
        status = "completed" if _finite(metrics.get("objective")) else f"completed, no {monitor}"
    elif error_file.is_file():
        status = "failed: " + error_file.read_text().strip().splitlines()[0][:200]
    else:
        status = "incomplete"  # killed, or still running
    numbers = {k: v for k, v in metrics.items() if isinstance(v, int | float) and not isinstance(v, bool)}
    return {"job": job_dir.name, "status": status, "overrides": overrides, "run_dir": str(job_dir), **numbers}


def best_index(rows: Sequence[dict[str, Any]], mode: str) -> int | None:
    scored = [(i, r["objective"]) for i, r in enumerate(rows) if _finite(r.get("objective"))]
    if not scored:
        return None
    pick = max if mode == "max" else min
    return pick(scored, key=lambda item: item[1])[0]


def _finite(value: Any) -> bool:
    return isinstance(value, int | float) and math.isfinite(value)


def varying_overrides(rows: Sequence[dict[str, Any]]) -> list[list[str]]:
    """Each row's overrides without those every run shares, so the table shows what the sweep changed."""
    common = set.intersection(*(set(r["overrides"]) for r in rows)) if len(rows) > 1 else set()
    return [[o for o in r["overrides"] if o not in common] for r in rows]


def write_summary(sweep_dir: Path, monitor: str, mode: str) -> tuple[Path, Path] | None:
    from t5sum.evaluation.report import Table, fmt_number, table_markdown

    rows = [run_row(job, monitor) for job in job_dirs(sweep_dir)]
    if not rows:
        log.warning("No runs found under %s: no sweep summary written.", sweep_dir)
        return None
    best = best_index(rows, mode)
    for i, row in enumerate(rows):
        row["best"] = i == best

    columns = [
        "job",
        "best",
        "status",
        "objective",
        "overrides",
        "wall_seconds",
        "params_trainable",
        "run_dir",
    ]
    extra = sorted({k for r in rows for k in r} - set(columns))
    csv_path = sweep_dir / "sweep_summary.csv"
    with csv_path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns + extra)
        writer.writeheader()
        for row in rows:
            writer.writerow({**row, "overrides": " ".join(row["overrides"])})

    shown = [m for m in SHOWN_METRICS if any(m in r for r in rows)]
    header = [
        "job",
        "overrides",
        f"{monitor} (best)",
        *shown,
        "wall s",
        "trainable params",
        "status",
        "run dir",
    ]
    table_rows = [
        [
            row["job"] + (" (best)" if row["best"] else ""),
            " ".join(changed) or "(defaults)",
            fmt_number(row.get("objective"), 4),
            *[fmt_number(row.get(m), 4) for m in shown],
            fmt_number(row.get("wall_seconds"), 0),
            fmt_number(row.get("params_trainable"), 0),
            row["status"],
            row["run_dir"],
        ]
        for row, changed in zip(rows, varying_overrides(rows), strict=True)
    ]
    note = (
        f"{len(rows)} runs; best by {monitor} ({mode}). Every column of metrics.json is in sweep_summary.csv."
    )
    md_path = sweep_dir / "sweep_summary.md"
    md_path.write_text("\n".join(table_markdown(Table("Sweep summary", header, table_rows, note))))
    log.info("Sweep summary: %s", md_path)
    return csv_path, md_path


class SweepSummaryCallback(Callback):
    """Hydra callback (conf/train.yaml hydra.callbacks): writes the summary when a multirun ends."""

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        write_summary(Path(config.hydra.sweep.dir), str(config.monitor), str(config.monitor_mode))
