"""LoRA wiring through peft and the parameter report shared by every method."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from transformers import PreTrainedModel


def apply_lora(
    model: PreTrainedModel,
    *,
    r: int,
    alpha: int,
    dropout: float = 0.0,
    target_modules: Sequence[str] = ("q", "v"),
    bias: str = "none",
) -> torch.nn.Module:
    from peft import LoraConfig, TaskType, get_peft_model  # optional heavy dependency, only for method=lora

    config = LoraConfig(
        task_type=TaskType.SEQ_2_SEQ_LM,
        r=r,
        lora_alpha=alpha,
        lora_dropout=dropout,
        target_modules=list(target_modules),
        bias=bias,
    )
    return get_peft_model(model, config)


def is_peft_model(model: torch.nn.Module) -> bool:
    return hasattr(model, "peft_config")


def parameter_report(model: torch.nn.Module) -> dict[str, float]:
    """Counts unique tensors (tied embeddings once). `trainable_mb` is what an adapter file holds in fp32."""
    seen: set[int] = set()
    total = trainable = trainable_bytes = 0
    for param in model.parameters():
        if id(param) in seen:
            continue
        seen.add(id(param))
        total += param.numel()
        if param.requires_grad:
            trainable += param.numel()
            trainable_bytes += param.numel() * param.element_size()
    return {
        "params_total": total,
        "params_trainable": trainable,
        "trainable_share": trainable / total if total else 0.0,
        "trainable_mb": trainable_bytes / 2**20,
    }
