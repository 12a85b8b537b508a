"""nox -s lint | tests | smoke: the same checks as CI, each in the project's pinned environment."""

from __future__ import annotations

import nox

nox.options.sessions = ["lint", "tests"]
nox.options.default_venv_backend = "venv"
TORCH = "torch==2.13.0"  # the CPU wheel; never let pip pick a CUDA build


def install(session: nox.Session) -> None:
    session.install(TORCH)
    session.install("-c", "constraints-torch.txt", "-e", ".[dev]")


@nox.session
def lint(session: nox.Session) -> None:
    session.install("ruff==0.17.6")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session
def tests(session: nox.Session) -> None:
    install(session)
    session.run("python", "-m", "pytest", *session.posargs)


@nox.session
def smoke(session: nox.Session) -> None:
    install(session)
    session.run("python", "-m", "t5sum.train", "experiment=smoke")
