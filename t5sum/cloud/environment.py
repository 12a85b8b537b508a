"""Job and deployment environments: a pinned base image plus the project's own pinned dependencies."""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from t5sum.errors import ConfigError


def project_requirements(code_dir: Path, extras: list[str]) -> list[str]:
    """The pins of pyproject.toml (core + `extras`), so the image runs what the snapshot was tested with."""
    pyproject = code_dir / "pyproject.toml"
    if not pyproject.is_file():
        raise ConfigError(f"{pyproject} not found: azure.code_dir must be a t5sum checkout.")
    project = tomllib.loads(pyproject.read_text())["project"]
    optional = project.get("optional-dependencies", {})
    unknown = [e for e in extras if e not in optional]
    if unknown:
        raise ConfigError(f"environment.extras {unknown}: not extras of t5sum (use {sorted(optional)}).")
    requirements = list(project["dependencies"])
    for extra in extras:
        requirements += [r for r in optional[extra] if not r.startswith("t5sum")]
    return requirements


def conda_spec(env: Mapping[str, Any], code_dir: Path) -> dict[str, Any]:
    pip = project_requirements(code_dir, list(env.get("extras") or [])) + list(env.get("pip") or [])
    return {
        "name": "t5sum",
        "channels": ["conda-forge"],
        "dependencies": [f"python={env['python']}", "pip", {"pip": pip}],
    }


def environment(env: Mapping[str, Any], code_dir: Path):
    """An inline (anonymous) environment: Azure versions it by the hash of image + conda spec."""
    from azure.ai.ml.entities import Environment

    return Environment(image=env["image"], conda_file=conda_spec(env, code_dir))
