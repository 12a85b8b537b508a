"""`python -m t5sum.export run_dir=<run>`: ONNX export with KV cache, gated on parity with PyTorch."""

from __future__ import annotations

import logging

import hydra
from omegaconf import DictConfig

from t5sum.errors import exit_on_errors

log = logging.getLogger("t5sum.export")


@hydra.main(version_base="1.3", config_path="conf", config_name="export")
def main(cfg: DictConfig) -> None:
    from t5sum.inference.onnx_export import export_onnx

    with exit_on_errors(log):
        out = export_onnx(cfg.run_dir, cfg.out_dir, cfg.opset, cfg.quantize, cfg.speculative_draft)
    log.info("ONNX export passed the parity gate: %s", out)


if __name__ == "__main__":
    main()
