"""Search spaces for hyperparameter sweeps, written in Hydra's override grammar.

One parser for every consumer: the Optuna sweeper (`hydra_plugins.t5sum_sweeper`) and Azure ML sweep jobs
(`t5sum.cloud`) read the same `hparams_search` preset, so a space means the same thing locally and on a
cluster. The grammar is the one hydra-optuna-sweeper users already write:

    optimizer.lr: tag(log, interval(1e-5, 1e-3))    # float, log scale
    module.warmup_ratio: interval(0.0, 0.1)          # float, uniform
    method.r: choice(4, 8, 16)                       # categorical
    dataset.batch_size: range(4, 17, 4)              # int 4, 8, 12, 16 (stop is exclusive, like Python)
    trainer.accumulate_grad_batches: tag(int, interval(1, 4))   # int 1..4 inclusive
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from t5sum.errors import ConfigError

Kind = Literal["choice", "float", "int"]


@dataclass(frozen=True)
class Param:
    """One searched override. `low`/`high` are inclusive; `step` is None for a continuous range."""

    name: str
    kind: Kind
    choices: tuple[Any, ...] = ()
    low: float | None = None
    high: float | None = None
    log: bool = False
    step: float | None = None

    @property
    def continuous(self) -> bool:
        return self.kind == "float" and self.step is None

    def example(self) -> Any:
        """One value inside the range (to compose and check a trial's config before any trial runs)."""
        return self.choices[0] if self.kind == "choice" else self.low

    def grid(self) -> list[Any]:
        """Every value of a discrete parameter (for grid search); a continuous range has none."""
        if self.kind == "choice":
            return list(self.choices)
        if self.continuous:
            raise ConfigError(
                f"{self.name} is a continuous range and has no grid; use choice(...) or range(...) for "
                "grid sampling."
            )
        assert self.low is not None and self.high is not None and self.step is not None
        count = round((self.high - self.low) / self.step) + 1
        values = [self.low + i * self.step for i in range(count)]
        return [int(v) for v in values] if self.kind == "int" else values


def parse_param(name: str, value: Any) -> Param:
    """One entry of a search space: a Hydra sweep expression (or a YAML list, read as a choice)."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.core.override_parser.types import ChoiceSweep, IntervalSweep, RangeSweep
    from hydra.errors import HydraException
    from omegaconf import ListConfig, OmegaConf

    if isinstance(value, ListConfig):
        value = OmegaConf.to_container(value)
    if isinstance(value, list | tuple):
        if not value:
            raise ConfigError(f"Search space entry {name}: an empty list has nothing to choose from.")
        return Param(name, "choice", choices=tuple(value))
    try:
        parsed = OverridesParser.create().parse_override(f"{name}={value}").value()
    except HydraException as err:
        raise ConfigError(f"Search space entry {name}: {value!r} does not parse ({err}).") from err
    if isinstance(parsed, ChoiceSweep):
        if not parsed.list:
            raise ConfigError(f"Search space entry {name}: choice() needs at least one value.")
        return Param(name, "choice", choices=tuple(parsed.list))
    if isinstance(parsed, RangeSweep):
        start, stop, step = parsed.start, parsed.stop, parsed.step
        if step is None or step <= 0 or stop <= start:
            raise ConfigError(
                f"Search space entry {name}: range({start}, {stop}, {step}) is empty; it needs start < stop "
                "and a positive step."
            )
        count = math.ceil((stop - start) / step)
        is_int = all(isinstance(v, int) for v in (start, stop, step))
        return Param(
            name, "int" if is_int else "float", low=start, high=start + (count - 1) * step, step=step
        )
    if isinstance(parsed, IntervalSweep):
        unknown = parsed.tags - {"log", "int"}
        if unknown:
            raise ConfigError(f"Search space entry {name}: unknown tag(s) {sorted(unknown)}; use log or int.")
        low, high, log = parsed.start, parsed.end, "log" in parsed.tags
        if not low < high:
            raise ConfigError(f"Search space entry {name}: interval({low}, {high}) needs low < high.")
        if log and low <= 0:
            raise ConfigError(f"Search space entry {name}: a log-scale interval needs low > 0, got {low}.")
        if "int" in parsed.tags:
            if low != int(low) or high != int(high):
                raise ConfigError(f"Search space entry {name}: tag(int, ...) needs whole-number bounds.")
            return Param(name, "int", low=int(low), high=int(high), log=log, step=None if log else 1)
        return Param(name, "float", low=float(low), high=float(high), log=log)
    raise ConfigError(
        f"Search space entry {name}: {value!r} is a fixed value, not a range; use choice(...), range(...) or "
        "interval(...), or set it as a plain override outside the search space."
    )


def parse_space(params: Mapping[str, Any] | None) -> list[Param]:
    """Every entry of `params`, with all problems reported together."""
    space, problems = [], []
    for name, value in (params or {}).items():
        try:
            space.append(parse_param(str(name), value))
        except ConfigError as err:
            problems.append(str(err))
    if problems:
        raise ConfigError(" ".join(problems))
    if not space:
        raise ConfigError("The search space is empty: set hydra.sweeper.params (see conf/hparams_search/).")
    return space


def override_value(value: Any) -> str:
    """A sampled value as Hydra override text (lists in brackets, None as null)."""
    if isinstance(value, list | tuple):
        return "[" + ",".join(override_value(v) for v in value) + "]"
    if value is None:
        return "null"
    return str(value)
