"""Compare evaluated runs (full vs LoRA, ...): quality next to what each run cost to train and to store."""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hydra.core.utils import JobStatus
from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from t5sum.evaluation.report import Table, fmt, fmt_number, page_html, table_html, table_markdown
from t5sum.metrics import ROUGE_KEYS

log = logging.getLogger(__name__)


def folder_mb(path: Path) -> float | None:
    if path.is_file():
        return path.stat().st_size / 1e6
    if not path.is_dir():
        return None
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 1e6


def run_row(eval_dir: Path) -> dict[str, Any]:
    """One comparison row from an evaluation folder (its metrics.json) and the run dir it came from."""
    result = json.loads((eval_dir / "metrics.json").read_text())
    run = result.get("run") or {}
    train = run.get("train_metrics") or {}
    run_path = Path(run["path"]) if run.get("path") else None
    best = train.get("best_checkpoint")
    row: dict[str, Any] = {
        "run": run.get("path") or result["model"]["source"],
        "method": _method(run_path),
        **{key: result["metrics"][key] for key in ROUGE_KEYS},
        **{f"{key}_ci": result["ci"][key] for key in ROUGE_KEYS},
        "params_trainable": train.get("params_trainable"),
        "trainable_share": train.get("trainable_share"),
        "adapter_mb": folder_mb(run_path / "adapter") if run_path else None,
        "model_mb": folder_mb(run_path / "model") if run_path else None,
        "checkpoint_mb": folder_mb(Path(best)) if best else None,
        "train_seconds": train.get("train_seconds"),
        "peak_memory_mb": train.get("peak_memory_mb"),
        "train_tokens_per_second": train.get("train_tokens_per_second"),
        "dataset": f"{result['dataset']}/{result['split']}",
        "num_examples": result["num_examples"],
    }
    return row


def _method(run_path: Path | None) -> str | None:
    if run_path is None or not (run_path / "model" / "t5sum.json").is_file():
        return None
    return json.loads((run_path / "model" / "t5sum.json").read_text()).get("method")


def comparison_table(rows: Sequence[dict[str, Any]]) -> Table:
    header = ["run", "method", *ROUGE_KEYS, "trainable params", "share", "adapter MB", "model MB"]
    header += ["checkpoint MB", "train s", "peak RSS MB", "train tokens/s"]
    best = max(range(len(rows)), key=lambda i: rows[i]["rougeLsum"]) if rows else -1
    out = []
    for i, row in enumerate(rows):
        share = row["trainable_share"]
        cells = [row["run"] + (" (best)" if i == best else ""), row["method"] or "n/a"]
        cells += [fmt(key, row[key]) for key in ROUGE_KEYS]
        cells += [
            fmt_number(row["params_trainable"], 0),
            "n/a" if share is None else f"{100 * share:.2f}%",
            fmt_number(row["adapter_mb"], 2),
            fmt_number(row["model_mb"], 1),
            fmt_number(row["checkpoint_mb"], 1),
            fmt_number(row["train_seconds"], 0),
            fmt_number(row["peak_memory_mb"], 0),
            fmt_number(row["train_tokens_per_second"], 0),
        ]
        out.append(cells)
    datasets = sorted({f"{row['dataset']} ({row['num_examples']} examples)" for row in rows})
    note = (
        f"Scored on {', '.join(datasets)}. ROUGE is F1 x 100 (confidence intervals in each run's report). "
        "Sizes are on disk; peak RSS is the training process's maximum resident memory."
    )
    return Table("Runs compared", header, out, note)


def write_comparison(eval_dirs: Sequence[Path], out_dir: Path) -> tuple[Path, Path]:
    rows = [run_row(Path(d)) for d in eval_dirs]
    table = comparison_table(rows)
    out_dir.mkdir(parents=True, exist_ok=True)
    markdown, html = out_dir / "comparison.md", out_dir / "comparison.html"
    markdown.write_text("\n".join(["# Comparison", "", *table_markdown(table)]))
    html.write_text(page_html("Comparison", [table_html(table)]))
    (out_dir / "comparison.json").write_text(json.dumps(rows, indent=2))
    return markdown, html


class ComparisonCallback(Callback):
    """After `python -m t5sum.evaluate -m run_dir=a,b,...`: comparison.md/html in the sweep dir.

    Jobs return their evaluation folder; the basic launcher runs them in this process, so the callback sees
    every return value.
    """

    def __init__(self) -> None:
        self.eval_dirs: list[Path] = []

    def on_job_end(self, config: DictConfig, job_return: Any, **kwargs: Any) -> None:
        if job_return.status != JobStatus.COMPLETED:
            return
        value = job_return.return_value
        if isinstance(value, str) and (Path(value) / "metrics.json").is_file():
            self.eval_dirs.append(Path(value))

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        if len(self.eval_dirs) < 2:
            return
        markdown, _ = write_comparison(self.eval_dirs, Path(config.hydra.sweep.dir))
        log.info("comparison of %d runs: %s", len(self.eval_dirs), markdown)
