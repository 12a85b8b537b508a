"""DDP through Hydra (2 CPU processes, gloo): exact validation, one run dir, sweeps that stay sweeps."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from tests.helpers import run_cli

pytestmark = pytest.mark.slow

# 33 validation rows in batches of 4: 9 batches, so the second rank's last batch is a repeat to be skipped
ODD_VALIDATION = [
    "experiment=smoke",
    "dataset.val_samples=33",
    "dataset.eval_batch_size=4",
    "dataset.test_samples=21",
]
SHORT = ["trainer.max_steps=2", "validate_before_fit=true", "save_model=false"]


def _metrics(run_dir: Path) -> dict:
    return json.loads((run_dir / "metrics.json").read_text())


def test_ddp_validation_equals_one_process_and_writes_one_run_dir(tmp_path: Path) -> None:
    single = run_cli(*ODD_VALIDATION, *SHORT, f"hydra.run.dir={tmp_path / 'single'}", cwd=tmp_path)
    assert single.returncode == 0, single.stderr[-3000:]
    ddp = run_cli(*ODD_VALIDATION, *SHORT, "trainer=ddp", f"hydra.run.dir={tmp_path / 'ddp'}", cwd=tmp_path)
    assert ddp.returncode == 0, ddp.stderr[-3000:]
    assert "Starting with 2 processes" in ddp.stderr + ddp.stdout

    one, two = _metrics(tmp_path / "single"), _metrics(tmp_path / "ddp")
    assert two["val_before/num_examples"] == one["val_before/num_examples"] == 33  # no repeated rows counted
    for key in ("rouge1", "rouge2", "rougeLsum", "bleu", "gen_len", "compression_ratio"):
        assert two[f"val_before/{key}"] == pytest.approx(one[f"val_before/{key}"], abs=1e-4), key
    assert two["val_before/loss"] == pytest.approx(one["val_before/loss"], rel=1e-5)

    # every rank's test rows reach predictions.jsonl once, in the 1-process order
    ids = [
        json.loads(line)["id"] for line in (tmp_path / "ddp" / "predictions.jsonl").read_text().splitlines()
    ]
    single_ids = [
        json.loads(line)["id"]
        for line in (tmp_path / "single" / "predictions.jsonl").read_text().splitlines()
    ]
    assert ids == single_ids and len(set(ids)) == 21 and two["test/num_examples"] == 21

    # one run dir, written by rank 0 only: rank 1 left its log there and nothing else anywhere
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cache", "ddp", "single"]
    assert not list((tmp_path / "ddp").glob("*rank*")) or all(
        p.suffix == ".log" for p in (tmp_path / "ddp").glob("*rank*")
    )


def test_ddp_inside_a_multirun_trains_each_trial_on_both_ranks_with_its_own_values(tmp_path: Path) -> None:
    sweep = tmp_path / "sweep"
    result = run_cli(
        "-m",
        "experiment=smoke",
        "trainer=ddp",
        "optimizer.lr=0.001,0.002",
        "trainer.max_steps=2",
        "test_after_fit=false",
        "save_model=false",
        "+callbacks.rank_probe._target_=tests.helpers.RankProbe",
        f"hydra.sweep.dir={sweep}",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert sorted(p.name for p in sweep.iterdir() if p.is_dir()) == [
        "0",
        "1",
    ]  # exactly 2 trials, not 2 sweeps
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cache", "sweep"]
    for job, lr in (("0", 0.001), ("1", 0.002)):
        probe = json.loads((sweep / job / "ranks.json").read_text())
        assert probe == {"world_size": 2, "lr": [lr, lr]}, job
    with (sweep / "sweep_summary.csv").open() as f:
        assert [row["job"] for row in csv.DictReader(f)] == ["0", "1"]
