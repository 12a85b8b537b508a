"""The command line as a user types it: help, clean errors, multirun, W&B offline."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import run_cli


def test_help_lists_groups_and_options(tmp_path: Path) -> None:
    result = run_cli("--help", cwd=tmp_path)
    assert result.returncode == 0
    assert "experiment: cnndm_t5base_full" in result.stdout and "method: full, lora" in result.stdout


def test_user_error_is_one_message_and_exit_code_2_without_traceback(tmp_path: Path) -> None:
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "train.jsonl").write_text(json.dumps({"text": "a b", "abstract": "a"}) + "\n")
    (tmp_path / "mine" / "validation.jsonl").write_text(json.dumps({"text": "a b", "abstract": "a"}) + "\n")
    result = run_cli(
        "experiment=smoke",
        f"dataset.data_dir={tmp_path / 'mine'}",
        "dataset.columns.summary=abstract_text",
        cwd=tmp_path,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 2
    assert "dataset.columns.summary" in output and "abstract_text" in output
    assert "Traceback" not in output


def test_unknown_group_option_names_the_available_ones(tmp_path: Path) -> None:
    result = run_cli("method=qlora", cwd=tmp_path)
    assert result.returncode != 0
    assert "Could not find 'method/qlora'" in result.stderr and "full" in result.stderr


@pytest.mark.slow
def test_multirun_trains_each_combination_into_its_own_run_dir(tmp_path: Path) -> None:
    result = run_cli(
        "-m",
        "experiment=smoke",
        "method=full,lora",
        "debug=fdr",
        f"hydra.sweep.dir={tmp_path / 'sweep'}",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    runs = sorted((tmp_path / "sweep").glob("*/metrics.json"))
    assert [p.parent.name for p in runs] == ["0", "1"]
    methods = [json.loads(p.read_text())["params_trainable"] for p in runs]
    assert methods[1] < methods[0]  # the LoRA run trains fewer parameters
    assert (runs[1].parent / "adapter" / "adapter_config.json").is_file()


def test_wandb_logger_runs_offline_without_prompting(tmp_path: Path) -> None:
    pytest.importorskip("wandb")
    no_credentials = ("WANDB_MODE", "WANDB_API_KEY")  # online by config, but nothing to log in with
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "t5sum.train",
            "experiment=smoke",
            "logger=wandb",
            "trainer.max_steps=2",
            "trainer.limit_val_batches=1",
            "trainer.limit_test_batches=1",
        ],
        cwd=tmp_path,
        env={
            **{k: v for k, v in os.environ.items() if k not in no_credentials},
            "HF_HUB_OFFLINE": "1",
            "HOME": str(tmp_path),
        },
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert list(tmp_path.glob("outputs/*/*/wandb/offline-run-*"))


def test_exit_on_errors_maps_each_listed_error_to_its_code(caplog) -> None:
    import logging

    from t5sum.errors import ConfigError, NonFiniteLossError, T5SumError, exit_on_errors

    log = logging.getLogger("t5sum.test")
    with pytest.raises(SystemExit) as user, exit_on_errors(log):
        raise ConfigError("set dataset=")
    assert user.value.code == 2 and "set dataset=" in caplog.text
    with pytest.raises(SystemExit) as nan, exit_on_errors(log, {T5SumError: 2, NonFiniteLossError: 3}):
        raise NonFiniteLossError("loss is nan at step 2")
    assert nan.value.code == 3
    with pytest.raises(KeyError), exit_on_errors(log):  # anything else is a bug: it keeps its traceback
        raise KeyError("x")
