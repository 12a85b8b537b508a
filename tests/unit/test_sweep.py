"""Sweeps: the search-space grammar shared by the Optuna sweeper and Azure ML sweep jobs."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from t5sum.config import CONFIG_DIR
from t5sum.errors import ConfigError
from t5sum.sweep.space import Param, parse_space
from tests.conftest import compose_train
from tests.helpers import cli_env, run_cli


def test_space_grammar_covers_choice_log_interval_int_range_and_lists():
    space = {
        p.name: p
        for p in parse_space(
            {
                "lr": "tag(log, interval(1e-5, 1e-3))",
                "dropout": "interval(0.0, 0.1)",
                "r": "choice(4, 8, 16)",
                "modules": [["q", "v"], ["q", "k", "v"]],
                "batch": "range(4, 17, 4)",
                "accumulate": "tag(int, interval(1, 4))",
            }
        )
    }
    assert space["lr"] == Param("lr", "float", low=1e-5, high=1e-3, log=True)
    assert space["dropout"].continuous and not space["dropout"].log
    assert space["r"].grid() == [4, 8, 16]
    assert space["modules"].grid() == [["q", "v"], ["q", "k", "v"]]
    assert space["batch"].grid() == [4, 8, 12, 16]  # stop is exclusive, like Python's range
    assert space["accumulate"].grid() == [1, 2, 3, 4]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("interval(0.1, 0.01)", "needs low < high"),
        ("tag(log, interval(0.0, 1.0))", "needs low > 0"),
        ("range(5, 1)", "is empty"),
        ("0.5", "is a fixed value"),
        ("tag(sqrt, interval(1.0, 2.0))", "unknown tag"),
        ("choice(1,", "does not parse"),
    ],
)
def test_bad_space_entries_fail_with_the_key_named(value, message):
    with pytest.raises(ConfigError, match=message) as err:
        parse_space({"optimizer.lr": value})
    assert "optimizer.lr" in str(err.value)


def test_every_problem_is_reported_at_once_and_grid_rejects_continuous_ranges():
    with pytest.raises(ConfigError) as err:
        parse_space({"a": "interval(2.0, 1.0)", "b": "7"})
    assert "a:" in str(err.value) and "b:" in str(err.value)
    with pytest.raises(ConfigError, match="continuous range and has no grid"):
        parse_space({"lr": "interval(0.1, 0.2)"})[0].grid()
    with pytest.raises(ConfigError, match="empty"):
        parse_space({})


# --- sweeps through the command line -------------------------------------------------------------------

FAST_TRIAL = [
    "trainer.max_steps=3",
    "trainer.val_check_interval=3",
    "trainer.limit_val_batches=1",
    "test_after_fit=false",
    "save_model=false",
]


def _study(sweep_dir: Path):
    import optuna

    return optuna.load_study(study_name="smoke", storage=f"sqlite:///{sweep_dir / 'optuna.db'}")


@pytest.mark.slow
def test_killed_optuna_sweep_resumes_with_only_the_missing_trials(tmp_path: Path) -> None:
    from optuna.trial import TrialState

    sweep = tmp_path / "sweep"
    # a sweep override on the command line replaces the preset's range for that key
    cli_space = "optimizer.lr=tag(log,interval(0.02,0.05))"
    args = [
        "experiment=smoke",
        "hparams_search=smoke_optuna",
        cli_space,
        *FAST_TRIAL,
        f"hydra.sweep.dir={sweep}",
    ]
    log = tmp_path / "first.log"
    first = subprocess.Popen(
        [sys.executable, "-m", "t5sum.train", *args],
        cwd=tmp_path,
        env=cli_env(tmp_path),
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    deadline = time.monotonic() + 240
    while not (sweep / "2" / ".hydra" / "overrides.yaml").exists():  # trials 0 and 1 are done
        assert first.poll() is None and time.monotonic() < deadline, "the sweep ended before trial 2 began"
        time.sleep(0.1)
    os.killpg(first.pid, signal.SIGKILL)  # a crash, not a clean stop: trial 2 stays RUNNING in the study
    first.wait()
    states = [t.state for t in _study(sweep).trials]
    assert states == [TrialState.COMPLETE, TrialState.COMPLETE, TrialState.RUNNING], log.read_text()[-3000:]
    finished_before = {n: (sweep / n / "metrics.json").stat().st_mtime_ns for n in ("0", "1")}

    second = run_cli(*args, cwd=tmp_path)
    assert second.returncode == 0, second.stderr[-3000:]
    trials = _study(sweep).trials
    assert len(trials) == 5  # 2 done + the crashed one + its retry + the last: not 4 new trials
    assert trials[2].state == TrialState.FAIL and trials[2].user_attrs["crashed"]
    assert trials[3].user_attrs["retry_of"] == 2 and trials[3].params == trials[2].params
    assert [t.state for t in trials[3:]] == [TrialState.COMPLETE, TrialState.COMPLETE]
    assert {n: (sweep / n / "metrics.json").stat().st_mtime_ns for n in ("0", "1")} == finished_before
    assert sorted(p.name for p in sweep.iterdir() if p.name.isdigit()) == ["0", "1", "2", "3", "4"]
    assert all(0.02 <= t.params["optimizer.lr"] <= 0.05 for t in trials)  # the command line's range
    # the reseeded sampler does not replay the first run's parameters for the new trial
    assert trials[4].params not in [t.params for t in trials[:3]]

    summary = (sweep / "sweep_summary.md").read_text()
    assert "| 2 |" in summary and "incomplete" in summary  # the killed trial's folder is listed, not hidden
    with (sweep / "sweep_summary.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert [r["job"] for r in rows] == ["0", "1", "2", "3", "4"]
    best = max((r for r in rows if r["objective"]), key=lambda r: float(r["objective"]))
    assert [r["best"] for r in rows].count("True") == 1 and best["best"] == "True"

    third = run_cli(*args, cwd=tmp_path)  # the study is complete: nothing runs again
    assert third.returncode == 0 and len(_study(sweep).trials) == 5


@pytest.mark.slow
def test_grid_multirun_summary_has_a_row_per_run_and_a_failed_run_does_not_stop_the_sweep(tmp_path) -> None:
    sweep = tmp_path / "sweep"
    result = run_cli(
        "-m",
        "experiment=smoke",
        "optimizer.lr=-1.0,3e-3",
        *FAST_TRIAL,
        f"hydra.sweep.dir={sweep}",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    with (sweep / "sweep_summary.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert [r["job"] for r in rows] == ["0", "1"]
    assert rows[0]["status"].startswith("failed: ValueError") and "learning rate" in rows[0]["status"]
    assert rows[1]["status"] == "completed" and rows[1]["best"] == "True"
    assert float(rows[1]["objective"]) == json.loads((sweep / "1" / "metrics.json").read_text())["objective"]
    assert "optimizer.lr=0.003" in rows[1]["overrides"] and int(rows[1]["params_trainable"]) > 0
    assert "optimizer.lr=-1.0" in (sweep / "sweep_summary.md").read_text()


@pytest.mark.parametrize("preset", sorted(p.stem for p in (CONFIG_DIR / "hparams_search").glob("*.yaml")))
def test_every_value_a_preset_can_sample_composes_a_valid_run(preset: str, tmp_path: Path) -> None:
    """A sampled value must never make a trial fail at composition (e.g. greedy with beam-only flags)."""
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from omegaconf import OmegaConf
    from transformers import AutoTokenizer

    from t5sum.config import RESOURCES, check_config
    from t5sum.model.module import generation_config_from
    from t5sum.sweep.space import override_value

    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        params = compose("train", [f"hparams_search={preset}"], return_hydra_config=True).hydra.sweeper.params
    space = parse_space(params)
    assert space
    tokenizer = AutoTokenizer.from_pretrained(str(RESOURCES / "tiny-tokenizer"))
    for param in space:
        values = [param.low, param.high] if param.continuous else param.grid()
        for value in values:
            override = f"{param.name}={override_value(value)}"
            cfg = compose_train([f"hparams_search={preset}", override], tmp_path)
            assert OmegaConf.select(cfg, param.name) == value
            check_config(cfg)
            generation_config_from(OmegaConf.to_container(cfg.generation, resolve=True), tokenizer)


def test_a_misspelt_key_in_the_space_fails_before_any_trial_is_recorded(tmp_path: Path) -> None:
    sweep = tmp_path / "sweep"
    args = ["experiment=smoke", "hparams_search=smoke_optuna", "optimizer.lrr=interval(0.001,0.01)"]
    result = run_cli(*args, f"hydra.sweep.dir={sweep}", cwd=tmp_path)
    assert result.returncode != 0
    assert "optimizer.lrr" in result.stderr and "Traceback" not in result.stderr
    assert not (sweep / "optuna.db").exists() and not (sweep / "0").exists()
