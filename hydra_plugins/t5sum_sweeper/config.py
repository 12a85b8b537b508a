"""`hydra/sweeper=t5sum_optuna`: the config node of t5sum's resumable Optuna sweeper."""
# no `from __future__ import annotations`: Hydra executes plugin modules outside sys.modules, where
# dataclasses cannot resolve string annotations.

from dataclasses import dataclass, field
from typing import Any

from hydra.core.config_store import ConfigStore


@dataclass
class OptunaSweeperConf:
    _target_: str = "hydra_plugins.t5sum_sweeper.sweeper.OptunaSweeper"
    _recursive_: bool = False  # the sweeper builds the sampler itself (reseeded on resume)
    study_name: str = "t5sum"
    n_trials: int = 20  # the study's total; a rerun of the same command runs only the missing ones
    direction: str | None = None  # maximize | minimize; null: from the run config's monitor_mode
    storage: str | None = None  # null: sqlite:///<hydra.sweep.dir>/optuna.db
    n_jobs: int = 1  # trials launched together (a parallel Hydra launcher runs them at once)
    sampler: Any = field(default_factory=lambda: {"_target_": "optuna.samplers.TPESampler", "seed": 42})
    retry_crashed: bool = True  # a trial left RUNNING by a killed sweep is marked FAIL and its params rerun
    params: dict[str, Any] = field(default_factory=dict)


ConfigStore.instance().store(
    group="hydra/sweeper", name="t5sum_optuna", node=OptunaSweeperConf, provider="t5sum"
)
