"""DDP launched through Hydra, single run or multirun, without the known traps.

Lightning starts ranks 1..N-1 by re-running `sys.argv`. Inside a Hydra multirun that argv is the whole sweep
(`-m lr=1e-3,3e-3` or an Optuna preset), so the second process runs the sweep again and the ranks train with
different hyperparameters in one process group (Lightning #11300, #18175). Here each rank > 0 gets exactly its
trial's overrides, in RUN mode, in the trial's own output dir. Between trials the process group is destroyed
and the launcher's environment variables are removed: a leftover LOCAL_RANK would make the next trial believe
an external launcher started it, and wait forever for ranks nobody starts.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from lightning.pytorch.strategies import DDPStrategy
from lightning.pytorch.strategies.launchers import subprocess_script

_lightning_rank_command = subprocess_script._hydra_subprocess_cmd
LAUNCHER_ENV = ("MASTER_ADDR", "MASTER_PORT", "NODE_RANK", "LOCAL_RANK", "WORLD_SIZE", "PL_GLOBAL_SEED")


def in_multirun() -> bool:
    """Whether this process runs a job of a Hydra multirun (grid or sweeper), not a single run."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    return HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN


def rank_command(local_rank: int) -> tuple[Sequence[str], str]:
    """The command that starts `local_rank` of the current Hydra job (a single run or one sweep trial)."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.utils import get_original_cwd

    import __main__

    if not in_multirun():
        return _lightning_rank_command(local_rank)  # Lightning's own is right for a single run
    hydra_cfg = HydraConfig.get()
    if __main__.__spec__ is None:
        command = [sys.executable, os.path.abspath(sys.argv[0])]
    else:
        command = [sys.executable, "-m", __main__.__spec__.name]
    command += config_location_flags(sys.argv[1:])
    command += list(hydra_cfg.overrides.task)  # this trial only: its fixed overrides and its sampled values
    command += [
        "hydra.mode=RUN",  # an hparams_search preset sets MULTIRUN; a rank runs one trial
        f"hydra.run.dir={hydra_cfg.runtime.output_dir}",
        f"hydra.job.name={hydra_cfg.job.name}_rank{local_rank}",
        "hydra.output_subdir=null",
    ]
    return command, get_original_cwd()


def config_location_flags(argv: Sequence[str]) -> list[str]:
    """--config-path/--config-dir/--config-name (and short forms) from the command line, with their values."""
    flags = ("--config-path", "-cp", "--config-dir", "-cd", "--config-name", "-cn")
    out: list[str] = []
    for i, arg in enumerate(argv):
        if arg in flags and i + 1 < len(argv):
            out += [arg, argv[i + 1]]
        elif arg.startswith(tuple(f"{flag}=" for flag in flags)):
            out.append(arg)
    return out


class _TrialScriptLauncher(subprocess_script._SubprocessScriptLauncher):
    def _call_children_scripts(self) -> None:
        original = subprocess_script._hydra_subprocess_cmd
        subprocess_script._hydra_subprocess_cmd = rank_command
        try:
            super()._call_children_scripts()
        finally:
            subprocess_script._hydra_subprocess_cmd = original


class HydraDDPStrategy(DDPStrategy):
    """`strategy: ddp` whose extra ranks run only the current trial (conf/trainer/ddp.yaml)."""

    def _configure_launcher(self) -> None:
        super()._configure_launcher()
        if type(self._launcher) is subprocess_script._SubprocessScriptLauncher:
            env = self.cluster_environment
            self._launcher = _TrialScriptLauncher(env, self.num_processes, self.num_nodes)


@contextmanager
def isolated_process_group() -> Iterator[None]:
    """Run one training job; afterwards no process group and no launcher variables are left behind."""
    import torch.distributed as dist

    before = {key: os.environ.get(key) for key in LAUNCHER_ENV}
    try:
        yield
    finally:
        if dist.is_available() and dist.is_initialized():
            dist.destroy_process_group()
        for key, value in before.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
