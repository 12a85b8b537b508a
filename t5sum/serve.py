"""`python -m t5sum.serve run_dir=<run>`: the authenticated, micro-batched summarization API (uvicorn)."""

from __future__ import annotations

import importlib.metadata
import logging

import hydra
from omegaconf import DictConfig, OmegaConf

from t5sum.errors import ConfigError, exit_on_errors

log = logging.getLogger("t5sum.serve")


def versions() -> dict[str, str]:
    out = {}
    for name in ("t5sum", "torch", "transformers", "onnxruntime", "fastapi"):
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return out


def build_app(cfg: DictConfig):
    """Load the Summarizer and keys from the config; refuse to start without keys unless auth=none."""
    from t5sum.data.long_input import LongInput
    from t5sum.inference import load_summarizer
    from t5sum.serving.app import Batching, create_app
    from t5sum.serving.auth import ENV_VAR, load_keys
    from t5sum.serving.contract import Limits

    if cfg.serve.auth not in ("key", "none"):
        raise ConfigError(f"serve.auth={cfg.serve.auth!r}: use key or none.")
    keys = None
    if cfg.serve.auth == "key":
        keys = load_keys(cfg.serve.api_keys_file)
        if not len(keys):
            raise ConfigError(
                f"No API key configured: set {ENV_VAR}=<key>[,<key2>] or serve.api_keys_file=<file>, "
                "or serve.auth=none to serve without authentication."
            )
    else:
        log.warning("serve.auth=none: EVERY ROUTE IS OPEN, anyone who can reach this port can use it.")
    summarizer = load_summarizer(cfg.run_dir, backend=cfg.backend, threads=int(cfg.threads))
    if cfg.get("long_input"):  # else the run's recorded strategy, the one it was trained with
        summarizer.settings = summarizer.settings.with_long_input(LongInput.from_config(cfg.long_input))
    limits = OmegaConf.to_container(cfg.limits)
    info = {
        "model": str(cfg.run_dir),
        "backend": type(summarizer).__name__,
        "source_run": getattr(summarizer.settings, "source_run", None),
        "long_input": summarizer.settings.long_input.strategy,
        "versions": versions(),
        "t5sum_version": versions().get("t5sum", "0"),
        "auth": cfg.serve.auth,
        "keys": len(keys) if keys else 0,
    }
    return create_app(
        summarizer,
        keys,
        limits=Limits(**limits),
        batching=Batching(**OmegaConf.to_container(cfg.batching)),
        info=info,
        log_text=bool(cfg.serve.log_text),
    )


@hydra.main(version_base="1.3", config_path="conf", config_name="serve")
def main(cfg: DictConfig) -> None:
    import uvicorn

    with exit_on_errors(log):
        app = build_app(cfg)
    uvicorn.run(
        app,
        host=cfg.serve.host,
        port=int(cfg.serve.port),
        timeout_graceful_shutdown=int(cfg.serve.graceful_shutdown_s),
        log_level="info",
    )


if __name__ == "__main__":
    main()
