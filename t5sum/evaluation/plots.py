"""Report figures (matplotlib, rendered to PNG files; the HTML report embeds them as data URIs)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # headless: no display, no GUI backend
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

COLORS = {"reference": "#4c72b0", "fine-tuned": "#dd8452", "baseline": "#8c8c8c", "train": "#4c72b0"}


def _save(fig, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def loss_curves(log: pd.DataFrame, path: Path) -> Path | None:
    """Train loss (raw and smoothed) and val loss against the optimizer step."""
    series = {name: log[["step", name]].dropna() for name in ("train/loss", "val/loss") if name in log}
    if not any(len(s) for s in series.values()):
        return None
    fig, ax = plt.subplots(figsize=(7, 3.6))
    train = series.get("train/loss")
    if train is not None and len(train):
        ax.plot(
            train["step"], train["train/loss"], color=COLORS["train"], alpha=0.3, lw=1, label="train (raw)"
        )
        window = max(1, len(train) // 20)
        smooth = train["train/loss"].rolling(window, min_periods=1).mean()
        ax.plot(train["step"], smooth, color=COLORS["train"], lw=2, label=f"train (mean of {window})")
    val = series.get("val/loss")
    if val is not None and len(val):
        ax.plot(val["step"], val["val/loss"], "o-", color=COLORS["fine-tuned"], lw=2, label="validation")
    ax.set(xlabel="optimizer step", ylabel="cross-entropy loss", title="Loss")
    ax.grid(alpha=0.3)
    ax.legend()
    return _save(fig, path)


def metric_curves(log: pd.DataFrame, path: Path, keys: Sequence[str]) -> Path | None:
    """Validation ROUGE against the optimizer step."""
    present = [k for k in keys if f"val/{k}" in log and log[f"val/{k}"].notna().any()]
    if not present:
        return None
    fig, ax = plt.subplots(figsize=(7, 3.6))
    for key in present:
        points = log[["step", f"val/{key}"]].dropna()
        ax.plot(points["step"], points[f"val/{key}"], "o-", lw=2, label=key)
    ax.set(xlabel="optimizer step", ylabel="score (0-100)", title="Validation ROUGE during training")
    ax.grid(alpha=0.3)
    ax.legend()
    return _save(fig, path)


def length_histograms(lengths: Mapping[str, Sequence[int]], path: Path) -> Path:
    """Word counts of references and of each system's outputs, on shared bins."""
    everything = np.concatenate([np.asarray(v, dtype=float) for v in lengths.values()])
    bins = np.histogram_bin_edges(everything, bins=min(30, max(5, len(everything) // 10)))
    fig, ax = plt.subplots(figsize=(7, 3.6))
    for name, values in lengths.items():
        values = np.asarray(values, dtype=float)
        label = f"{name} (mean {values.mean():.1f})"
        ax.hist(values, bins=bins, histtype="step", lw=2, color=COLORS.get(name), label=label)
    ax.set(xlabel="words", ylabel="examples", title="Summary length: reference vs generated")
    ax.grid(alpha=0.3)
    ax.legend()
    return _save(fig, path)


def paired_scatter(baseline: Sequence[float], tuned: Sequence[float], metric: str, path: Path) -> Path:
    """Per-example score, baseline against fine-tuned: points above the diagonal improved."""
    fig, ax = plt.subplots(figsize=(4.6, 4.4))
    ax.scatter(baseline, tuned, s=12, alpha=0.5, color=COLORS["fine-tuned"])
    top = max(1.0, float(np.max(baseline, initial=0)), float(np.max(tuned, initial=0)))
    ax.plot([0, top], [0, top], color="#555", lw=1, ls="--")
    better = float(np.mean(np.asarray(tuned) > np.asarray(baseline)))
    ax.set(
        xlabel=f"baseline {metric}",
        ylabel=f"fine-tuned {metric}",
        title=f"Per example ({better:.0%} improved)",
        xlim=(0, top),
        ylim=(0, top),
    )
    ax.grid(alpha=0.3)
    return _save(fig, path)
