"""Checks on every Azure spec before anything is sent.

azure-ai-ml's YAML loaders reject unknown fields and bad enums, so each spec is dumped and loaded back through
them. They do not see a misspelt keyword argument (the SDK's builders take **kwargs), an undefined
`${{inputs.x}}`, bayesian sampling with an early-termination policy, grid sampling over a continuous range,
min > max or negative counts: t5sum checks those itself. Every problem ends in one ConfigError.
"""

from __future__ import annotations

import inspect
import io
import json
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from t5sum.errors import ConfigError

REFERENCE = re.compile(r"\$\{\{\s*(inputs|search_space)\.([A-Za-z0-9_]+)\s*\}\}")
# every count or duration in a job, sweep or deployment spec; none may be negative
COUNTS = {
    "instance_count",
    "process_count_per_instance",
    "max_total_trials",
    "max_concurrent_trials",
    "timeout",
    "trial_timeout",
    "evaluation_interval",
    "delay_evaluation",
    "slack_factor",
    "slack_amount",
    "truncation_percentage",
    "request_timeout_ms",
    "max_concurrent_requests_per_instance",
    "max_queue_wait_ms",
}


def unknown_kwargs(target: Callable[..., Any], kwargs: Iterable[str], where: str) -> list[str]:
    """Keys that are not named parameters of `target` (its **kwargs would swallow them silently)."""
    params = inspect.signature(target).parameters
    named = {n for n, p in params.items() if p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)}
    return [
        f"{where}.{key}: not an argument of {getattr(target, '__name__', target)} "
        f"(use one of {', '.join(sorted(named))})."
        for key in kwargs
        if key not in named
    ]


def _walk(node: Any, path: str = "") -> Iterable[tuple[str, str, Any]]:
    if isinstance(node, Mapping):
        for key, value in node.items():
            yield path, str(key), value
            yield from _walk(value, f"{path}.{key}" if path else str(key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _walk(value, f"{path}[{i}]")


def reference_problems(spec: Mapping[str, Any]) -> list[str]:
    """Each `${{inputs.x}}` / `${{search_space.x}}` in a command names a defined input or search entry."""
    trial = spec.get("trial") or {}
    defined = {
        "inputs": set(spec.get("inputs") or {}) | set(trial.get("inputs") or {}),
        "search_space": set(spec.get("search_space") or {}),
    }
    problems = []
    for command in (spec.get("command"), trial.get("command")):
        for kind, name in REFERENCE.findall(command or ""):
            if name not in defined[kind]:
                problems.append(f"command: ${{{{{kind}.{name}}}}} is not defined under {kind}.")
    return problems


def search_problems(spec: Mapping[str, Any]) -> list[str]:
    """Sampling and early termination that Azure rejects only after the sweep has been queued."""
    problems = []
    sampling = spec.get("sampling_algorithm")
    sampling = sampling.get("type") if isinstance(sampling, Mapping) else sampling
    policy = spec.get("early_termination")
    if sampling == "bayesian" and policy:
        problems.append(
            f"bayesian sampling takes no early termination (got {policy.get('type')}): set "
            "azure.sweep.early_termination=null or azure.sweep.sampling_algorithm=random."
        )
    for name, entry in (spec.get("search_space") or {}).items():
        if sampling == "grid" and entry.get("type") != "choice":
            problems.append(
                f"search_space.{name}: grid sampling needs choice(...) or range(...), not a range."
            )
        low, high = entry.get("min_value"), entry.get("max_value")
        if low is not None and high is not None and low > high:
            problems.append(f"search_space.{name}: min_value {low} > max_value {high}.")
    return problems


def count_problems(spec: Mapping[str, Any]) -> list[str]:
    return [
        f"{path + '.' if path else ''}{key}={value}: must not be negative."
        for path, key, value in _walk(spec)
        if key in COUNTS and isinstance(value, int | float) and not isinstance(value, bool) and value < 0
    ]


def spec_problems(spec: Mapping[str, Any]) -> list[str]:
    return reference_problems(spec) + search_problems(spec) + count_problems(spec)


def raise_if(problems: list[str], what: str) -> None:
    if problems:
        raise ConfigError(f"Invalid {what}:\n  - " + "\n  - ".join(problems))


def to_yaml(spec: Mapping[str, Any]) -> str:
    import yaml

    return yaml.safe_dump(dict(spec), sort_keys=False, default_flow_style=False)


def entity_dict(entity: Any) -> dict[str, Any]:
    """The YAML form of an SDK entity; `command()` and `.sweep()` build nodes, whose job form is dumped."""
    if hasattr(entity, "_to_job"):
        entity = entity._to_job()
    return json.loads(json.dumps(entity._to_dict()))  # plain dicts (the SDK returns OrderedDicts)


def round_trip(spec: Mapping[str, Any], loader: Callable[..., Any], what: str) -> None:
    """Load the spec back through azure-ai-ml's own schema (unknown fields and bad enums fail there)."""
    from marshmallow.exceptions import ValidationError as SchemaError

    try:
        loader(source=io.StringIO(to_yaml(spec)))
    except (SchemaError, ValueError, TypeError) as err:  # azure-ai-ml's ValidationException is a ValueError
        raise ConfigError(f"Invalid {what}: azure-ai-ml rejects it: {err}") from err
    except Exception as err:  # the SDK's other validation errors (MlException and friends)
        if type(err).__module__.startswith("azure.ai.ml"):
            raise ConfigError(f"Invalid {what}: azure-ai-ml rejects it: {err}") from err
        raise


def validated_yaml(entity: Any, loader: Callable[..., Any], what: str) -> str:
    """t5sum's own checks, then the SDK's schema; returns the YAML that was validated."""
    spec = entity_dict(entity)
    raise_if(spec_problems(spec), what)
    round_trip(spec, loader, what)
    return to_yaml(spec)
