"""A self-describing run dir: evaluation, export and serving need nothing but this folder."""

from __future__ import annotations

import copy
import json
import math
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from t5sum.data.long_input import LongInput
from t5sum.inference.base import SETTINGS_FILE
from t5sum.model.lora import is_peft_model


def _jsonable(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


def write_json(path: Path, payload: Mapping[str, Any]) -> None:
    path.write_text(json.dumps(_jsonable(payload), indent=2, sort_keys=True) + "\n")


def write_jsonl(path: Path, rows: Iterable[Mapping[str, Any]]) -> None:
    with path.open("w") as handle:
        for row in rows:
            handle.write(json.dumps(_jsonable(row), ensure_ascii=False) + "\n")


def save_config(out_dir: Path, cfg: DictConfig) -> None:
    (out_dir / "config.yaml").write_text(OmegaConf.to_yaml(cfg, resolve=True))


def save_model(out_dir: Path, model: Any, tokenizer: Any, generation_config: Any, inference: Mapping) -> Path:
    """model/ is always a plain HF model (LoRA merged); adapter/ holds the LoRA weights alone."""
    model_dir = out_dir / "model"
    if is_peft_model(model):
        model.save_pretrained(out_dir / "adapter")
        model = copy.deepcopy(model).merge_and_unload()
    model.save_pretrained(model_dir)
    tokenizer.save_pretrained(model_dir)
    generation_config.save_pretrained(model_dir)
    write_json(model_dir / SETTINGS_FILE, inference)
    return model_dir


def inference_settings(cfg: DictConfig, out_dir: Path) -> dict[str, Any]:
    """What inference needs to rebuild the exact model input (model/t5sum.json)."""
    long_input = LongInput.from_config(cfg.get("long_input"))
    return {
        "prompt_template": cfg.model.prompt_template,
        "max_source_length": long_input.source_length(cfg.dataset.max_source_length),
        "long_input": long_input.to_dict(),
        "max_target_length": cfg.dataset.max_target_length,
        "dataset": cfg.dataset.name,
        "method": cfg.method.name,
        "source_run": str(out_dir.resolve()),
    }
