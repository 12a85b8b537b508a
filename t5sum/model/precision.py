"""Precision policy: bf16 only where the hardware really computes in bf16, else fp32.

A dtype being *available* is not enough: on a CPU without bf16 units a bf16 matmul runs ~500x slower
than fp32, and CPU flags inside VMs are not proof of speed. So:
- auto on GPU: bf16-mixed when the GPU has native bf16 (Ampere and newer), else 32-true (T4: fp32);
- auto on CPU: 32-true (CPU autocast covers few ops and changes numerics for little gain);
- an explicit bf16 request on CPU is honoured only if a measured bf16 matmul is not far slower than fp32;
- fp16 only on explicit request, with a warning, because T5 overflows in fp16; under 16-mixed T5's
  feed-forward output projection runs in fp32 (keep_feed_forward_fp32).
"""

from __future__ import annotations

import functools
import logging
import time

import torch

from t5sum.errors import ConfigError

log = logging.getLogger(__name__)

BF16 = ("bf16-mixed", "bf16-true", "bf16")
FP16 = ("16-mixed", "16-true", "16")
FP32 = ("32-true", "32")
SLOWEST_ACCEPTABLE_BF16 = 0.5  # bf16 throughput as a share of fp32's


def _matmul_seconds(dtype: torch.dtype, size: int = 256, budget: float = 0.05) -> float:
    a = torch.randn(size, size, dtype=dtype)
    b = torch.randn(size, size, dtype=dtype)
    a @ b
    start, runs = time.perf_counter(), 0
    while time.perf_counter() - start < budget:
        a @ b
        runs += 1
    return (time.perf_counter() - start) / runs


@functools.cache
def cpu_bf16_speed_ratio() -> float:
    """fp32 time / bf16 time for the same matmul on this CPU (>1: bf16 is faster)."""
    return _matmul_seconds(torch.float32) / _matmul_seconds(torch.bfloat16)


def gpu_has_bf16_units() -> bool:
    return torch.cuda.is_available() and torch.cuda.is_bf16_supported(including_emulation=False)


def uses_gpu(accelerator: str) -> bool:
    return accelerator in ("gpu", "cuda") or (accelerator == "auto" and torch.cuda.is_available())


def resolve_precision(requested: str | int, accelerator: str = "auto") -> str:
    requested = str(requested)
    on_gpu = uses_gpu(accelerator)
    if requested == "auto":
        return "bf16-mixed" if on_gpu and gpu_has_bf16_units() else "32-true"
    if requested in BF16:
        if on_gpu and not gpu_has_bf16_units():
            raise ConfigError(
                f"trainer.precision={requested} but this GPU has no native bf16 (e.g. T4, V100). "
                "Use trainer.precision=auto (fp32) or 16-mixed."
            )
        if not on_gpu and (ratio := cpu_bf16_speed_ratio()) < SLOWEST_ACCEPTABLE_BF16:
            raise ConfigError(
                f"trainer.precision={requested} but a bf16 matmul on this CPU runs {1 / ratio:.0f}x slower "
                "than fp32 (no bf16 units). Use trainer.precision=auto or 32-true."
            )
        return requested
    if requested in FP16:
        log.warning(
            "trainer.precision=%s: T5 activations overflow in fp16 (NaN losses are common); "
            "prefer bf16-mixed on Ampere+ GPUs or 32-true.",
            requested,
        )
        return requested
    if requested in FP32:
        return requested
    raise ConfigError(
        f"Unknown trainer.precision={requested!r}: use auto, 32-true, bf16-mixed, bf16-true or 16-mixed."
    )


T5_FEED_FORWARD = ("T5DenseActDense", "T5DenseGatedActDense")


def keep_feed_forward_fp32(model: torch.nn.Module) -> int:
    """Under fp16 autocast, run T5's feed-forward output projection (`wo`) in fp32.

    That projection is where T5 activations overflow fp16 (why transformers keeps `wo` in fp32 when loading
    fp16 weights, `_keep_in_fp32_modules`); autocast would cast it back to fp16. Patching the instance's
    forward leaves parameter names, checkpoints and saved models unchanged. Returns how many were patched.
    """
    patched = 0
    for module in model.modules():
        if type(module).__name__ not in T5_FEED_FORWARD:
            continue
        projection = module.wo
        original = projection.forward

        def forward(hidden: torch.Tensor, _original=original) -> torch.Tensor:
            with torch.autocast(device_type=hidden.device.type, enabled=False):
                return _original(hidden.float())

        projection.forward = forward
        patched += 1
    return patched
