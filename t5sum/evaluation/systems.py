"""What gets evaluated: a run dir, a saved model directory, a hub name, or a run's starting weights."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig, OmegaConf
from transformers import GenerationConfig, PreTrainedTokenizerBase

from t5sum.errors import ConfigError, T5SumError
from t5sum.inference import load_summarizer
from t5sum.inference.base import SETTINGS_FILE, BatchedSummarizer, InferenceSettings

INITIAL = "initial"  # baseline=initial: the weights the run started from


@dataclass
class RunInfo:
    """A training run dir: its resolved config and its metrics.json (empty when the run has none)."""

    path: Path
    config: DictConfig
    metrics: dict[str, Any]

    @property
    def random_init(self) -> bool:
        return bool(self.config.model.get("from_config"))


def load_run(run_dir: str | Path) -> RunInfo:
    path = Path(run_dir).expanduser()
    if not path.is_dir():
        raise T5SumError(f"Run dir {path} does not exist: pass run_dir=<a training run's output folder>.")
    config_file = path / "config.yaml"
    if not config_file.is_file() or not (path / "model").is_dir():
        raise T5SumError(
            f"{path} is not a t5sum run dir (it needs config.yaml and model/); for a plain model directory "
            f"use model.name_or_path={path}."
        )
    metrics_file = path / "metrics.json"
    metrics = json.loads(metrics_file.read_text()) if metrics_file.is_file() else {}
    return RunInfo(path, OmegaConf.load(config_file), metrics)


@dataclass
class System:
    label: str  # "fine-tuned" / "baseline" / a model name
    source: str  # what was loaded, for the report
    summarizer: BatchedSummarizer
    random_init: bool


def run_system(run: RunInfo, backend: str, batch_size: int) -> System:
    """backend=onnx scores the run's ONNX export (<run>/onnx, from `python -m t5sum.export`)."""
    if backend == "onnx":
        export = run.path / "onnx"
        if not (export / "encoder_model.onnx").is_file():
            raise T5SumError(
                f"{export} holds no ONNX export: run `python -m t5sum.export run_dir={run.path}`."
            )
        summarizer = load_summarizer(export, backend="onnx", batch_size=batch_size)
        return System("fine-tuned", str(export), summarizer, run.random_init)
    summarizer = load_summarizer(run.path, backend="torch", batch_size=batch_size)
    return System("fine-tuned", str(run.path), summarizer, run.random_init)


def model_system(
    name_or_path: str,
    settings: InferenceSettings,
    generation_config: GenerationConfig,
    batch_size: int,
    label: str,
    backend: str = "torch",
    tokenizer: PreTrainedTokenizerBase | None = None,
) -> System:
    """A local directory or hub name. A t5sum model dir / ONNX export brings its own settings; any other
    model takes the prompt, source length and generation config it is given."""
    path = Path(name_or_path).expanduser()
    if (path / SETTINGS_FILE).is_file() or (path / "model" / SETTINGS_FILE).is_file():
        summarizer = load_summarizer(path, backend=backend, batch_size=batch_size)
        summarizer.settings = settings
        summarizer.generation_config = generation_config
        return System(label, str(path), summarizer, random_init=False)
    if backend == "onnx":
        raise ConfigError(f"{name_or_path} is not a t5sum ONNX export: backend=onnx needs one.")
    from t5sum.inference.torch_backend import TorchSummarizer
    from t5sum.model.build import _first_line

    try:
        summarizer = TorchSummarizer.from_pretrained(
            str(path) if path.exists() else name_or_path,
            batch_size=batch_size,
            settings=settings,
            generation_config=generation_config,
            tokenizer=tokenizer if tokenizer is not None and not _has_tokenizer(path) else None,
        )
    except OSError as err:
        raise T5SumError(
            f"Could not load model {name_or_path!r} ({_first_line(err)}): pass a run dir, a directory "
            "written by save_pretrained, or a hub name (needs network access)."
        ) from err
    return System(label, name_or_path, summarizer, random_init=False)


def _has_tokenizer(path: Path) -> bool:
    return any(
        (path / name).is_file() for name in ("tokenizer.json", "tokenizer_config.json", "spiece.model")
    )


def initial_system(run: RunInfo, like: BatchedSummarizer, batch_size: int) -> System:
    """The run's starting point: its pretrained weights, or for a random-init run the same seeded init.

    train() seeds and then builds the model before anything else draws random numbers, so re-seeding and
    rebuilding gives the identical weights. A LoRA run starts from the base model (its B matrices are 0).
    """
    from t5sum.inference.torch_backend import TorchSummarizer
    from t5sum.model.build import build_model

    torch.manual_seed(int(run.config.seed))
    model = build_model(run.config.model.name_or_path, run.config.model.get("from_config"))
    summarizer = TorchSummarizer(model, like.tokenizer, like.settings, like.generation_config, batch_size)
    source = run.config.model.get("from_config") or run.config.model.name_or_path
    return System("baseline", f"initial weights of the run ({source})", summarizer, run.random_init)
