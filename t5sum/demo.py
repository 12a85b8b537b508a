"""`python -m t5sum.demo run_dir=<run>`: a local Gradio page over the run's Summarizer."""

from __future__ import annotations

import logging
import os
import sys

import hydra
from omegaconf import DictConfig

from t5sum.errors import exit_on_errors

log = logging.getLogger("t5sum.demo")


def build(cfg: DictConfig):
    """Load the Summarizer from the config and put the page around it."""
    from t5sum.inference import load_summarizer
    from t5sum.serving.demo import build_demo, example_texts

    summarizer = load_summarizer(cfg.run_dir, backend=cfg.backend, threads=int(cfg.threads))
    description = f"`{cfg.run_dir}` ({type(summarizer).__name__})"
    return build_demo(summarizer, example_texts(cfg.run_dir, int(cfg.examples)), description=description)


@hydra.main(version_base="1.3", config_path="conf", config_name="demo")
def main(cfg: DictConfig) -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # before anything imports huggingface_hub
    from t5sum.serving.demo import launch

    with exit_on_errors(log):
        demo = build(cfg)
    if cfg.share:
        log.warning("share=true: a public gradio.live link will let anyone use this model.")
    try:
        launch(demo, host=cfg.host, port=int(cfg.port), share=bool(cfg.share))
    except OSError as err:
        log.error("Could not serve the demo on %s:%s (%s): choose another port=.", cfg.host, cfg.port, err)
        sys.exit(2)


if __name__ == "__main__":
    main()
