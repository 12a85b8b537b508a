"""`python -m t5sum.azure submit`: the same `python -m t5sum.train` with the same overrides, on a cluster."""

from __future__ import annotations

import logging
import shlex
from collections.abc import Mapping
from typing import Any

from omegaconf import DictConfig, OmegaConf

from t5sum.cloud.environment import environment
from t5sum.cloud.settings import code_dir, training_config
from t5sum.cloud.validate import raise_if, unknown_kwargs, validated_yaml
from t5sum.errors import ConfigError

log = logging.getLogger(__name__)
SET_BY_CLUSTER = ("trainer.num_nodes", "trainer.devices")


def override_key(override: str) -> str:
    return override.lstrip("+~").split("=", 1)[0]


def job_overrides(user: list[str], azure: DictConfig) -> list[str]:
    """The user's overrides, the profile's train_overrides the user did not set, then the node layout:
    trainer.num_nodes = instance_count, trainer.devices = processes per node, DDP when there are several."""
    taken = {override_key(o) for o in user}
    clash = sorted(taken & set(SET_BY_CLUSTER))
    if clash:
        raise ConfigError(
            f"{', '.join(clash)} follow the cluster: set azure.job.instance_count (nodes) and "
            "azure.process_count_per_instance (processes per node) instead."
        )
    nodes, per_node = azure.job.instance_count or 1, azure.process_count_per_instance
    layout = [f"++trainer.num_nodes={nodes}", f"trainer.devices={per_node}"]
    if nodes * per_node > 1:
        layout.append("++trainer.strategy=ddp")
    return [*user, *(o for o in azure.train_overrides if override_key(o) not in taken), *layout]


def train_command(overrides: list[str]) -> str:
    return "python -m t5sum.train " + " ".join(shlex.quote(o) for o in overrides)


def command_job(
    azure: DictConfig, overrides: list[str], task_name: str, inputs: Mapping[str, Any] | None = None
):
    """The command node (`command()` builds a node: submit it as is, dump its `_to_job()`)."""
    from azure.ai.ml import PyTorchDistribution, command

    kwargs = OmegaConf.to_container(azure.job, resolve=True)
    raise_if(unknown_kwargs(command, kwargs, "azure.job"), "azure.job")
    kwargs = {k: v for k, v in kwargs.items() if v is not None}
    kwargs.setdefault("experiment_name", task_name)
    root = code_dir(azure)
    return command(
        command=train_command(overrides),
        code=str(root),
        environment=environment(azure.environment, root),
        distribution=PyTorchDistribution(process_count_per_instance=azure.process_count_per_instance),
        inputs=dict(inputs or {}),
        **kwargs,
    )


def submit_spec(azure: DictConfig, user_overrides: list[str]) -> tuple[Any, str]:
    """The command node and its validated YAML; the training config is composed and checked first."""
    from azure.ai.ml import load_job

    overrides = job_overrides(user_overrides, azure)
    train_cfg = training_config(overrides)
    job = command_job(azure, overrides, train_cfg.task_name)
    return job, validated_yaml(job, load_job, "command job")


def send_job(job: Any, spec: str, client: Any, kind: str) -> str:
    """Prints the spec; with a client, submits the job. Returns the YAML."""
    from t5sum.cloud.workspace import create_or_update

    print(spec)
    if client is not None:
        created = create_or_update(client.jobs, job)
        log.info("Submitted %s %s: %s", kind, created.name, created.studio_url)
    return spec


def submit(azure: DictConfig, user_overrides: list[str], client: Any = None) -> str:
    return send_job(*submit_spec(azure, user_overrides), client, "command job")
