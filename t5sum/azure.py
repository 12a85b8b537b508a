"""`python -m t5sum.azure <submit|sweep|register|deploy> [azure=<profile>] [key=value ...]`: Azure ML.

    python -m t5sum.azure submit experiment=dialogsum_flant5base_lora azure=t4_cluster [dry_run=true]
    python -m t5sum.azure sweep hparams_search=dialogsum_lora_optuna azure=t4_cluster
    python -m t5sum.azure register run_dir=<run>
    python -m t5sum.azure deploy model=<name>:<version>

For submit and sweep, every override but azure=, azure.* and dry_run= is a training override: the job runs
`python -m t5sum.train` with it. dry_run=true prints the validated YAML specs and sends nothing.
Settings: conf/azure.yaml and conf/azure/ (every key documented there).
"""

from __future__ import annotations

import logging
import sys
from typing import Any

from t5sum.errors import ConfigError, exit_on_errors

log = logging.getLogger("t5sum.azure")
COMMANDS = ("submit", "sweep", "register", "deploy")
AZURE_KEYS = ("azure", "dry_run")
ARGUMENT = {"register": "run_dir", "deploy": "model"}  # their one argument besides the azure overrides


def split_overrides(overrides: list[str]) -> tuple[list[str], list[str]]:
    """(azure overrides, the rest): for submit/sweep the rest are training overrides."""
    azure, train = [], []
    for override in overrides:
        key = override.lstrip("+~").split("=", 1)[0]
        (azure if key.split(".", 1)[0] in AZURE_KEYS else train).append(override)
    return azure, train


def run(command: str, overrides: list[str], client: Any = None) -> str:
    """One command; returns the YAML it printed. `client` (an MLClient) replaces the configured workspace
    connection; with dry_run=true nothing connects."""
    from t5sum.cloud.settings import compose

    if command not in COMMANDS:
        raise ConfigError(f"Unknown command {command!r}: use one of {', '.join(COMMANDS)}.")
    azure_overrides, rest = split_overrides(overrides)
    argument = None
    if command in ARGUMENT:
        name = ARGUMENT[command]
        unknown = [o for o in rest if o.split("=", 1)[0] != name]
        if unknown:
            raise ConfigError(f"{command} takes {name}=... and azure overrides, not {' '.join(unknown)}.")
        argument = rest[-1].split("=", 1)[1] if rest else None
    cfg = compose("azure", azure_overrides)
    if cfg.dry_run:
        client = None
    elif client is None:
        from t5sum.cloud.workspace import connect

        client = connect(cfg.azure.workspace)
    if command == "submit":
        from t5sum.cloud.jobs import submit

        return submit(cfg.azure, rest, client)
    if command == "sweep":
        from t5sum.cloud.sweeps import sweep

        return sweep(cfg.azure, rest, client)
    if command == "register":
        from t5sum.cloud.registry import register

        return register(cfg.azure, argument, client)
    from t5sum.cloud.endpoints import deploy

    return deploy(cfg.azure, argument, client)


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__)
        sys.exit(0 if argv else 2)
    logging.basicConfig(level=logging.INFO, format="[%(asctime)s][%(name)s][%(levelname)s] - %(message)s")
    # the SDK logs every HTTP request and each credential it tries; t5sum reports failures in one sentence
    logging.getLogger("azure").setLevel(logging.ERROR)
    with exit_on_errors(log):
        run(argv[0], argv[1:])


if __name__ == "__main__":
    main()
