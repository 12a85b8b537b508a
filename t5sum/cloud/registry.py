"""`python -m t5sum.azure register run_dir=<run>`: a run dir's model in the workspace's model registry.

The registered folder is `<run>/model` (merged HF weights; LoRA already merged) or `<run>/onnx`; its tags
carry the run's metrics (metrics.json) and what produced it (config.yaml), so the registry can be compared
and searched without opening the files.
"""

from __future__ import annotations

import json
import logging
import re
from numbers import Real
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from t5sum.cloud.validate import validated_yaml
from t5sum.errors import ConfigError

log = logging.getLogger(__name__)
SOURCES = ("model", "onnx")


def model_tags(config: DictConfig, metrics: dict[str, Any], source: str) -> dict[str, str]:
    tags = {
        "task_name": str(config.get("task_name")),
        "base_model": str(OmegaConf.select(config, "model.name_or_path")),
        "method": str(OmegaConf.select(config, "method.name")),
        "dataset": str(OmegaConf.select(config, "dataset.name")),
        "monitor": str(config.get("monitor")),
        "format": source,
    }
    for key, value in sorted(metrics.items()):
        if key.startswith(("val/", "test/")) and isinstance(value, Real) and not isinstance(value, bool):
            tags[key] = f"{value:.4f}"
    return tags


def model_spec(run_dir: str | Path, register: DictConfig):
    """The Model entity for a run dir (nothing is uploaded yet)."""
    from azure.ai.ml.entities import Model

    run = Path(run_dir).expanduser()
    if register.source not in SOURCES:
        raise ConfigError(f"azure.register.source={register.source!r}: use model or onnx.")
    folder = run / register.source
    config_file = run / "config.yaml"
    if not folder.is_dir() or not config_file.is_file():
        hint = "python -m t5sum.export run_dir=<run>" if register.source == "onnx" else "save_model=true"
        raise ConfigError(f"{run} has no config.yaml and {register.source}/ to register ({hint}).")
    config = OmegaConf.load(config_file)
    metrics_file = run / "metrics.json"
    metrics = json.loads(metrics_file.read_text()) if metrics_file.is_file() else {}
    name = register.name or re.sub(r"[^A-Za-z0-9_.-]", "-", str(config.task_name))
    return Model(
        name=name,
        path=str(folder.resolve()),
        type="custom_model",
        description=register.description,
        tags=model_tags(config, metrics, register.source),
    )


def register(azure: DictConfig, run_dir: str | Path | None, client: Any = None) -> str:
    """Prints the spec; with a client, uploads the folder and registers it. Returns the YAML."""
    from azure.ai.ml import load_model

    from t5sum.cloud.workspace import create_or_update

    if not run_dir:
        raise ConfigError("Nothing to register: pass run_dir=<a training run dir>.")
    model = model_spec(run_dir, azure.register)
    spec = validated_yaml(model, load_model, "model")
    print(spec)
    if client is not None:
        created = create_or_update(client.models, model)
        log.info("Registered %s:%s", created.name, created.version)
    return spec
