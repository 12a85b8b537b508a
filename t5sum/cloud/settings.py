"""Composing the configs that Azure commands need: the azure profile and the training run it launches."""

from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from t5sum.config import CONFIG_DIR, check_config
from t5sum.errors import ConfigError

CODE_ROOT = Path(__file__).resolve().parents[2]  # the checkout holding t5sum/ and pyproject.toml


def compose(config_name: str, overrides: list[str], return_hydra_config: bool = False) -> DictConfig:
    """conf/<config_name>.yaml with command-line overrides, as the entry points compose it."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from hydra.errors import HydraException

    GlobalHydra.instance().clear()
    try:
        with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
            return hydra_compose(config_name, overrides=overrides, return_hydra_config=return_hydra_config)
    except HydraException as err:
        raise ConfigError(f"Overrides {' '.join(overrides)}: {err}") from err
    finally:
        GlobalHydra.instance().clear()


def training_config(overrides: list[str], return_hydra_config: bool = False) -> DictConfig:
    """The config `python -m t5sum.train <overrides>` will run with, checked before anything is sent."""
    cfg = compose("train", overrides, return_hydra_config)
    check_config(cfg)
    return cfg


def profile(name: str, overrides: list[str] | None = None) -> DictConfig:
    """conf/azure/<name>.yaml plus `azure.x=y` overrides, without Hydra (callbacks run inside a Hydra app)."""
    cfg = OmegaConf.load(CONFIG_DIR / "azure" / f"{name}.yaml")
    dotlist = [o.removeprefix("azure.") for o in overrides or []]
    return OmegaConf.merge(cfg, OmegaConf.from_dotlist(dotlist))


def code_dir(azure: DictConfig) -> Path:
    return Path(azure.code_dir).resolve() if azure.get("code_dir") else CODE_ROOT
