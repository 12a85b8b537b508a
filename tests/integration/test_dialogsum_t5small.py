"""Real DialogSum rows, the real T5 tokenizer and the t5-small architecture (random init, not pretrained):
a short CPU run must lower validation loss and raise ROUGE above its step-0 value, and the evaluator
must reproduce both scores. Sized to take about two
minutes on 2 cores (one t5-small step on 4 x 160 tokens is ~230 GFLOP); the few-hundred-step version of
this run is in the README."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from t5sum.evaluate import evaluate
from t5sum.train import train
from tests.conftest import SHARED_DATA, SHARED_MODELS, compose_evaluate, requires_shared

pytestmark = [requires_shared, pytest.mark.integration, pytest.mark.slow]


def val_history(run: Path, key: str) -> list[float]:
    with (run / "csv" / "metrics.csv").open() as handle:
        return [float(row[key]) for row in csv.DictReader(handle) if row[key]]


def test_short_run_lowers_val_loss_and_raises_rouge(make_cfg, tmp_path: Path) -> None:
    cfg = make_cfg(
        "dataset=dialogsum",
        f"dataset.data_dir={SHARED_DATA / 'dialogsum'}",
        "dataset.train_samples=256",
        "dataset.val_samples=16",
        "dataset.max_source_length=128",
        "dataset.max_target_length=32",
        "dataset.batch_size=4",
        "model=t5-small",
        f"model.from_config={SHARED_MODELS / 'configs' / 't5-small.json'}",
        f"model.tokenizer={SHARED_MODELS / 't5-tokenizer'}",
        "optimizer.lr=1e-3",
        "module.warmup_steps=4",
        "generation.num_beams=1",
        "generation.max_new_tokens=16",
        "generation.early_stopping=false",
        "trainer=cpu",
        "trainer.max_steps=16",
        "trainer.val_check_interval=8",
        "validate_before_fit=true",
        "test_after_fit=false",
    )
    metrics, _ = train(cfg)
    run = Path(cfg.paths.output_dir)
    losses = val_history(run, "val/loss")
    assert len(losses) == 3  # before training, step 8, step 16
    assert metrics["val/loss"] < metrics["val_before/loss"] and losses[-1] < losses[0]
    assert metrics["val/rougeLsum"] > metrics["val_before/rougeLsum"]

    # The evaluator, on the same validation rows: the saved (best) model scores what validation logged for
    # it, and baseline=initial scores what the untrained weights scored before fit.
    result, objects = evaluate(
        compose_evaluate([f"run_dir={run}", "baseline=initial", "split=validation"], tmp_path)
    )
    best_val = max(val_history(run, "val/rougeLsum")[1:])
    assert result["num_examples"] == 16
    assert result["metrics"]["rougeLsum"] == pytest.approx(best_val, abs=1e-3)
    assert result["baseline_metrics"]["rougeLsum"] == pytest.approx(metrics["val_before/rougeLsum"], abs=1e-3)
    assert result["comparison"]["rougeLsum"]["improvement"] > 0
    assert (objects["out_dir"] / "report.html").is_file()
