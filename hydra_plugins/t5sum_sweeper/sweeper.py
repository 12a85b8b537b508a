"""A resumable Optuna sweeper for Hydra, on current optuna.

hydra-optuna-sweeper 1.3.0 pins optuna<3 and cannot resume: re-attaching to its study runs n_trials *more*
trials, leaves the killed trial RUNNING forever, repeats the seeded sampler's parameters and restarts job
folders at 0. This sweeper keeps the study in sqlite under the sweep dir, and rerunning the same command
- runs only the trials still missing from `n_trials` (completed, pruned and failed trials count as done);
- marks trials left RUNNING by a killed sweep as failed and runs their parameters again;
- reseeds the sampler by the number of trials already in the study, so it does not repeat itself;
- names each job folder by its trial number, which is unique within the study: nothing is overwritten.
A trial that fails (an exception, or no finite objective) is recorded FAIL and the sweep goes on.
"""
# no `from __future__ import annotations`: Hydra executes plugin modules outside sys.modules.

import fcntl
import logging
import math
from pathlib import Path
from typing import Any

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.plugins import Plugins
from hydra.plugins.sweeper import Sweeper
from hydra.types import HydraContext, TaskFunction
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from t5sum.errors import ConfigError
from t5sum.sweep.space import Param, override_value, parse_space

log = logging.getLogger(__name__)
CRASHED = "crashed"  # user attr on a trial that was RUNNING when its sweep process died
RETRY_OF = "retry_of"


def distribution(param: Param) -> Any:
    import optuna.distributions as dist

    if param.kind == "choice":
        return dist.CategoricalDistribution(list(param.choices))
    if param.kind == "int":
        return dist.IntDistribution(int(param.low), int(param.high), log=param.log, step=int(param.step or 1))
    return dist.FloatDistribution(param.low, param.high, log=param.log, step=param.step)


def optuna_direction(direction: str | None, monitor_mode: str | None) -> str:
    chosen = direction or {"max": "maximize", "min": "minimize"}.get(str(monitor_mode), "")
    if chosen not in ("maximize", "minimize"):
        raise ConfigError(
            f"hydra.sweeper.direction must be maximize or minimize (or null with monitor_mode max|min), "
            f"got {direction!r} and monitor_mode {monitor_mode!r}."
        )
    return chosen


class OptunaSweeper(Sweeper):
    def __init__(
        self,
        study_name: str,
        n_trials: int,
        direction: str | None,
        storage: str | None,
        n_jobs: int,
        sampler: Any,
        retry_crashed: bool,
        params: dict[str, Any],
    ) -> None:
        if n_trials < 1 or n_jobs < 1:
            raise ConfigError(f"hydra.sweeper.n_trials and n_jobs must be >= 1, got {n_trials} and {n_jobs}.")
        self.study_name = study_name
        self.n_trials = n_trials
        self.direction = direction
        self.storage = storage
        self.n_jobs = n_jobs
        self.sampler = sampler
        self.retry_crashed = retry_crashed
        self.params = dict(params or {})
        self.config: DictConfig | None = None
        self.launcher: Any = None
        self.hydra_context: HydraContext | None = None

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig) -> None:
        self.hydra_context = hydra_context
        self.config = config
        self.launcher = Plugins.instance().instantiate_launcher(
            hydra_context=hydra_context, task_function=task_function, config=config
        )

    def split_arguments(self, arguments: list[str]) -> tuple[list[str], dict[str, Any]]:
        """Command-line sweeps (`x=1,2`, `x=interval(...)`) join the search space; the rest is fixed."""
        fixed, space = [], dict(self.params)
        for override in OverridesParser.create().parse_overrides(arguments):
            if override.is_sweep_override():  # the expression as typed: interval(...) has no str() form
                space[override.get_key_element()] = override.input_line.split("=", 1)[1]
            else:
                fixed.append(override.input_line)
        return fixed, space

    def create_study(self, sweep_dir: Path) -> Any:
        import optuna

        assert self.config is not None
        storage = self.storage or f"sqlite:///{(sweep_dir / 'optuna.db').resolve()}"
        direction = optuna_direction(self.direction, self.config.get("monitor_mode"))
        study = optuna.create_study(
            study_name=self.study_name, storage=storage, direction=direction, load_if_exists=True
        )
        sampler_cfg = OmegaConf.create(self.sampler)  # already resolved by Hydra's instantiate
        if study.trials and sampler_cfg.get("seed") is not None:
            sampler_cfg.seed = int(sampler_cfg.seed) + len(study.trials)  # a resumed sweep must not repeat
        study.sampler = instantiate(sampler_cfg)
        return study

    def recover_crashed(self, study: Any) -> None:
        from optuna.trial import TrialState

        for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
            study._storage.set_trial_user_attr(trial._trial_id, CRASHED, True)
            study._storage.set_trial_state_values(trial._trial_id, state=TrialState.FAIL)
            log.warning("Trial %d was left running by an interrupted sweep: marked failed.", trial.number)
            if self.retry_crashed:
                study.enqueue_trial(trial.params, user_attrs={RETRY_OF: trial.number}, skip_if_exists=False)

    @staticmethod
    def trials_done(study: Any) -> int:
        from optuna.trial import TrialState

        finished = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)
        return sum(t.state in finished and not t.user_attrs.get(CRASHED) for t in study.trials)

    def sweep(self, arguments: list[str]) -> list[Any]:
        assert self.config is not None and self.launcher is not None
        fixed, space_cfg = self.split_arguments(arguments)
        space = parse_space(space_cfg)
        distributions = {p.name: distribution(p) for p in space}
        sweep_dir = Path(self.config.hydra.sweep.dir)
        sweep_dir.mkdir(parents=True, exist_ok=True)
        OmegaConf.save(self.config, sweep_dir / "multirun.yaml")

        with open(sweep_dir / ".sweep.lock", "w") as lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError as err:
                raise ConfigError(
                    f"Another sweep is running in {sweep_dir}; wait for it, or set hydra.sweep.dir to a new "
                    "folder to start a separate study."
                ) from err
            # a misspelt key in the space fails here, before the study records a trial it cannot run
            self.validate_batch_is_legal([fixed + [f"{p.name}={override_value(p.example())}" for p in space]])
            study = self.create_study(sweep_dir)
            self.recover_crashed(study)
            done = self.trials_done(study)
            log.info(
                "Study %s in %s: %d of %d trials done, %d to run.",
                self.study_name,
                sweep_dir,
                done,
                self.n_trials,
                max(0, self.n_trials - done),
            )
            returns = []
            while (remaining := self.n_trials - self.trials_done(study)) > 0:
                trials = [study.ask(distributions) for _ in range(min(self.n_jobs, remaining))]
                returns.append(self.run_trials(study, trials, fixed, sweep_dir))
            self.write_best(study, sweep_dir)
        return returns

    def run_trials(self, study: Any, trials: list[Any], fixed: list[str], sweep_dir: Path) -> list[Any]:
        numbers = [t.number for t in trials]
        assert numbers == list(range(numbers[0], numbers[0] + len(numbers))), numbers
        for number in numbers:
            if (sweep_dir / str(number)).exists():
                raise ConfigError(
                    f"{sweep_dir / str(number)} exists but trial {number} is new in study {self.study_name}: "
                    "the study database and the folders disagree. Use a new hydra.sweep.dir."
                )
        batch = [fixed + [f"{k}={override_value(v)}" for k, v in t.params.items()] for t in trials]
        self.validate_batch_is_legal(batch)
        results = self.launcher.launch(batch, initial_job_idx=numbers[0])
        for trial, result in zip(trials, results, strict=True):
            self.tell(study, trial, result)
        return results

    def tell(self, study: Any, trial: Any, result: Any) -> None:
        from optuna.trial import TrialState

        try:
            value = result.return_value
        except Exception as err:  # a failed trial is recorded, not fatal to the sweep
            log.error("Trial %d failed: %s", trial.number, err)
            study.tell(trial, state=TrialState.FAIL)
            return
        if value is None or not math.isfinite(float(value)):
            log.error("Trial %d returned no finite objective (%r): recorded as failed.", trial.number, value)
            study.tell(trial, state=TrialState.FAIL)
            return
        study.tell(trial, float(value))

    def write_best(self, study: Any, sweep_dir: Path) -> None:
        from optuna.trial import TrialState

        if not study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
            log.warning("No trial of study %s completed.", self.study_name)
            return
        best = study.best_trial
        OmegaConf.save(
            OmegaConf.create(
                {
                    "name": "optuna",
                    "best_trial": best.number,
                    "best_value": best.value,
                    "best_params": best.params,
                }
            ),
            sweep_dir / "optimization_results.yaml",
        )
        log.info("Best trial %d: %s = %s with %s", best.number, study.direction.name, best.value, best.params)
