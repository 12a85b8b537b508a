"""`python -m t5sum.azure sweep`: an Azure ML sweep job from the same hparams_search preset as local sweeps.

Each trial runs `python -m t5sum.train` with the user's overrides (the preset included), `hydra.mode=RUN` (one
run, not a Hydra multirun) and that trial's values. The primary metric is the preset's `monitor`, the name
training logs through MLflow (logger=mlflow attaches to the trial's own run).
"""

from __future__ import annotations

import math
import re
from typing import Any

from omegaconf import DictConfig, OmegaConf

from t5sum.cloud.jobs import command_job, job_overrides, send_job
from t5sum.cloud.settings import training_config
from t5sum.cloud.validate import raise_if, unknown_kwargs, validated_yaml
from t5sum.errors import ConfigError
from t5sum.sweep.space import Param, override_value, parse_space

SINGLE_RUN = "hydra.mode=RUN"  # the preset sets MULTIRUN for the local Optuna sweeper


def input_name(key: str) -> str:
    """Azure input names are identifiers: optimizer.lr -> optimizer_lr."""
    return re.sub(r"\W", "_", key)


def distribution(param: Param):
    """Azure's form of one parsed entry. Azure's LogUniform draws exp(uniform(min, max)): bounds are logs."""
    from azure.ai.ml.sweep import Choice, LogUniform, QLogUniform, Uniform

    if param.kind == "choice" or param.step is not None:
        values = param.grid()
        if any(isinstance(v, list | tuple | dict) for v in values):
            raise ConfigError(f"Search space entry {param.name}: Azure sweeps choose between scalars only.")
        return Choice(values=values)
    assert param.low is not None and param.high is not None
    if param.log:
        low, high = math.log(param.low), math.log(param.high)
        return (
            QLogUniform(min_value=low, max_value=high, q=1) if param.kind == "int" else LogUniform(low, high)
        )
    return Uniform(min_value=param.low, max_value=param.high)


def termination_policy(policy: DictConfig | None):
    from azure.ai.ml.sweep import BanditPolicy, MedianStoppingPolicy, TruncationSelectionPolicy

    if not policy:
        return None
    kinds = {
        "bandit": BanditPolicy,
        "median_stopping": MedianStoppingPolicy,
        "truncation_selection": TruncationSelectionPolicy,
    }
    kwargs = OmegaConf.to_container(policy, resolve=True)
    kind = kwargs.pop("type", None)
    if kind not in kinds:
        raise ConfigError(f"azure.sweep.early_termination.type={kind!r}: use one of {', '.join(kinds)}.")
    raise_if(unknown_kwargs(kinds[kind], kwargs, "azure.sweep.early_termination"), "early termination")
    return kinds[kind](**kwargs)


def sweep_spec(azure: DictConfig, user_overrides: list[str]) -> tuple[Any, str]:
    """The sweep node and its validated YAML."""
    from azure.ai.ml import load_job

    preset = training_config(user_overrides, return_hydra_config=True)
    sweeper = preset.hydra.sweeper
    if not sweeper.get("params"):
        raise ConfigError("Nothing to sweep: pass hparams_search=<preset> (conf/hparams_search/).")
    space = parse_space(sweeper.params)
    trial = [*user_overrides, SINGLE_RUN]
    # one trial's config, composed and checked here with example values
    examples = [f"{p.name}={override_value(p.example())}" for p in space]
    training_config(job_overrides([*trial, *examples], azure))
    placeholders = [f"{p.name}=${{{{inputs.{input_name(p.name)}}}}}" for p in space]
    node = command_job(
        azure,
        job_overrides([*trial, *placeholders], azure),
        preset.task_name,
        inputs={input_name(p.name): distribution(p) for p in space},
    )
    settings = azure.sweep
    sweep = node.sweep(
        primary_metric=preset.monitor,
        goal="maximize" if preset.monitor_mode == "max" else "minimize",
        sampling_algorithm=settings.sampling_algorithm,
        early_termination_policy=termination_policy(settings.early_termination),
    )
    limits = OmegaConf.to_container(settings.limits, resolve=True)
    raise_if(unknown_kwargs(sweep.set_limits, limits, "azure.sweep.limits"), "sweep limits")
    if limits.get("max_total_trials") is None:
        limits["max_total_trials"] = sweeper.get("n_trials")
    sweep.set_limits(**{k: v for k, v in limits.items() if v is not None})
    return sweep, validated_yaml(sweep, load_job, "sweep job")


def sweep(azure: DictConfig, user_overrides: list[str], client: Any = None) -> str:
    return send_job(*sweep_spec(azure, user_overrides), client, "sweep job")
