"""Session fixtures for the serving tests: one tiny trained run and its Summarizer."""

from __future__ import annotations

from pathlib import Path

import pytest

from t5sum.inference import load_summarizer
from t5sum.train import train
from tests.conftest import compose_train


@pytest.fixture(scope="session")
def run_dir(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("serve")
    cfg = compose_train(
        ["experiment=smoke", "logger=none", "trainer.max_steps=20", "test_after_fit=false"], tmp
    )
    train(cfg)
    return Path(cfg.paths.output_dir)


@pytest.fixture(scope="session")
def summarizer(run_dir: Path):
    return load_summarizer(run_dir)
