"""Config plumbing: the resources resolver, up-front validation of every `_target_`, group instantiation."""

from __future__ import annotations

import importlib
import inspect
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, ListConfig, OmegaConf

from t5sum.errors import ConfigError

RESOURCES = Path(__file__).resolve().parent / "resources"
CONFIG_DIR = Path(__file__).resolve().parent / "conf"
METHODS = ("full", "lora")
HYDRA_KEYS = {"_target_", "_partial_", "_recursive_", "_convert_", "_args_"}

if not OmegaConf.has_resolver("t5sum_resources"):
    OmegaConf.register_new_resolver("t5sum_resources", lambda: str(RESOURCES))
if not OmegaConf.has_resolver("beam_only"):
    # a beam-search flag that must fall back to its off value under greedy decoding (num_beams=1), so that
    # sweeping generation.num_beams over choice(1, 4) gives a valid generation config in every trial
    OmegaConf.register_new_resolver("beam_only", lambda beams, value: value if int(beams) > 1 else False)


def import_target(path: str) -> Any:
    module_name, _, attr = path.rpartition(".")
    try:
        return getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError, ValueError) as err:
        raise ConfigError(f"_target_ {path!r} cannot be imported ({err}).") from err


def target_problems(node: Any, where: str = "") -> list[str]:
    """Every `_target_` must import and its keys must be parameters of it; returns all problems found."""
    problems: list[str] = []
    if isinstance(node, DictConfig):
        if "_target_" in node:
            target_path = node["_target_"]
            try:
                target = import_target(target_path)
            except ConfigError as err:
                problems.append(f"{where or '<root>'}: {err}")
            else:
                kwargs = {k: None for k in node if k not in HYDRA_KEYS}
                try:
                    inspect.signature(target).bind_partial(**kwargs)
                except TypeError as err:
                    problems.append(f"{where or '<root>'}: {target_path} does not accept these keys ({err}).")
                except ValueError:
                    pass  # builtins without a signature
        for key in node:
            if key == "hydra":
                continue
            problems += target_problems(node._get_node(key), f"{where}.{key}" if where else str(key))
    elif isinstance(node, ListConfig):
        for i, item in enumerate(node._iter_ex(resolve=False)):
            problems += target_problems(item, f"{where}[{i}]")
    return problems


def check_config(cfg: DictConfig) -> None:
    """Raise one ConfigError listing every problem, before anything heavy starts."""
    problems = target_problems(cfg)
    if cfg.method.name not in METHODS:
        problems.append(
            f"method.name={cfg.method.name!r}: use one of {', '.join(METHODS)} (method=full|lora)."
        )
    if cfg.monitor_mode not in ("min", "max"):
        problems.append(f"monitor_mode={cfg.monitor_mode!r}: use min or max.")
    for key in ("batch_size", "eval_batch_size", "max_source_length", "max_target_length"):
        value = cfg.dataset.get(key)
        if value is not None and value < 1:
            problems.append(f"dataset.{key}={value}: must be a positive integer.")
    problems += long_input_problems(cfg)
    exports = [
        k for k, v in (cfg.get("callbacks") or {}).items() if v and "OnnxExport" in v.get("_target_", "")
    ]
    if exports and not cfg.get("save_model", True):
        problems.append(f"callbacks.{exports[0]} exports the saved model: set save_model=true or drop it.")
    if problems:
        raise ConfigError("Invalid configuration:\n  - " + "\n  - ".join(problems))


def load_option(group: str, name: str) -> DictConfig:
    """One option of a config group outside a Hydra run, its `defaults: [<sibling>]` merged first."""
    path = CONFIG_DIR / group / f"{name}.yaml"
    if not path.is_file():
        options = ", ".join(sorted(p.stem for p in (CONFIG_DIR / group).glob("*.yaml")))
        raise ConfigError(f"{group}={name} does not exist: use one of {options}.")
    node = OmegaConf.load(path)
    bases = [load_option(group, base) for base in node.pop("defaults", []) if base != "_self_"]
    return OmegaConf.merge(*bases, node)


def long_input_presets() -> dict[str, Any]:
    """Every conf/long_input option as a LongInput, in the strategies' order."""
    from t5sum.data.long_input import STRATEGIES, LongInput

    names = sorted((p.stem for p in (CONFIG_DIR / "long_input").glob("*.yaml")), key=STRATEGIES.index)
    return {name: LongInput.from_config(load_option("long_input", name)) for name in names}


def long_input_problems(cfg: DictConfig) -> list[str]:
    """A long_input setting that cannot train (bad values, an inference-only strategy)."""
    from t5sum.data.long_input import LongInput

    try:
        long_input = LongInput.from_config(cfg.get("long_input"))
        long_input.check_trainable()
        long_input.budget(cfg.dataset.max_source_length)
    except ConfigError as err:
        return [str(err)]
    return []


def instantiate_group(group: DictConfig | None) -> list[Any]:
    """Instantiate each callbacks/logger entry. An entry without `_target_` is an error, not a skip."""
    from hydra.utils import instantiate

    if not group:
        return []
    objects = []
    for name, node in group.items():
        if node is None:
            continue  # disabled with `callbacks.<name>=null`
        if not isinstance(node, DictConfig) or "_target_" not in node:
            raise ConfigError(f"Entry '{name}' has no _target_: give one, or set it to null to disable it.")
        objects.append(instantiate(node))
    return objects
