"""Model layer: parameter counts, save/load, LoRA merge, precision policy, golden first loss."""

from __future__ import annotations

from pathlib import Path

import lightning as L
import pytest
import torch
from transformers import AutoModelForSeq2SeqLM

from t5sum.config import RESOURCES
from t5sum.data.datasets import LocalFilesDataModule
from t5sum.errors import ConfigError, ModelSourceError
from t5sum.model import precision
from t5sum.model.build import build_model, load_tokenizer
from t5sum.model.lora import apply_lora, parameter_report
from t5sum.model.module import generation_config_from
from tests.conftest import SHARED_MODELS, requires_shared

TINY = str(RESOURCES / "tiny-t5")


@requires_shared
def test_lora_r32_on_flan_t5_base_trains_the_published_parameter_count() -> None:
    model = build_model("unused", str(SHARED_MODELS / "configs" / "flan-t5-base.json"))
    assert parameter_report(model)["params_total"] == 247_577_856  # untied lm_head (transformers 4.57)
    report = parameter_report(apply_lora(model, r=32, alpha=32, dropout=0.05, target_modules=["q", "v"]))
    assert report["params_trainable"] == 3_538_944
    assert report["trainable_share"] == pytest.approx(3_538_944 / 251_116_800)
    assert report["trainable_mb"] == pytest.approx(3_538_944 * 4 / 2**20)


@requires_shared
def test_flan_save_load_round_trips_every_tensor_with_untied_lm_head(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = build_model("unused", str(SHARED_MODELS / "configs" / "flan-t5-small.json"))
    assert model.lm_head.weight.data_ptr() != model.shared.weight.data_ptr()
    assert parameter_report(model)["params_total"] == 76_961_152
    model.save_pretrained(tmp_path)
    reloaded = AutoModelForSeq2SeqLM.from_pretrained(tmp_path)
    assert reloaded.lm_head.weight.data_ptr() != reloaded.shared.weight.data_ptr()
    original, loaded = model.state_dict(), reloaded.state_dict()
    assert original.keys() == loaded.keys() and len(original) > 100
    assert all(torch.equal(original[k], loaded[k]) for k in original)


def test_merged_lora_equals_base_plus_nonzero_adapter(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = apply_lora(build_model("unused", TINY), r=4, alpha=8, target_modules=["q", "v", "wo"])
    for name, param in model.named_parameters():
        if "lora_B" in name:
            torch.nn.init.normal_(param, std=0.5)  # an identity adapter would prove nothing
    ids = torch.randint(3, 700, (3, 12))
    labels = torch.randint(3, 700, (3, 5))
    with torch.no_grad():
        peft_logits = model(input_ids=ids, labels=labels).logits
        merged_logits = model.merge_and_unload()(input_ids=ids, labels=labels).logits
    torch.testing.assert_close(merged_logits, peft_logits, atol=1e-5, rtol=1e-5)
    fresh = build_model("unused", TINY)
    with torch.no_grad():
        assert (fresh(input_ids=ids, labels=labels).logits - peft_logits).abs().max() > 1e-2


def test_golden_first_loss_of_the_tiny_model_on_cpu() -> None:
    """Pins init + data + prompt + tokenization + collation: any silent change moves this number."""
    L.seed_everything(0)
    tokenizer = load_tokenizer(str(RESOURCES / "tiny-tokenizer"))
    model = build_model("unused", TINY)
    dm = LocalFilesDataModule(
        tokenizer, "summarize: {document}", name="golden", data_dir=str(RESOURCES / "sample"), batch_size=8
    )
    dm.setup("fit")
    batch = next(iter(dm.val_dataloader()))
    with torch.no_grad():
        loss = model(
            input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], labels=batch["labels"]
        )
    assert loss.loss.item() == pytest.approx(7.209961414337158, abs=1e-4)


def test_unreachable_hub_model_names_the_model_and_the_local_keys() -> None:
    with pytest.raises(ModelSourceError) as err:
        build_model("google-t5/t5-small")
    assert "google-t5/t5-small" in str(err.value) and "model.from_config" in str(err.value)
    with pytest.raises(ModelSourceError, match=r"model\.name_or_path"):
        load_tokenizer("google-t5/t5-small")
    with pytest.raises(ModelSourceError, match="does not exist"):
        build_model("x", "/nonexistent/config.json")


def test_invalid_generation_config_fails_up_front() -> None:
    tokenizer = load_tokenizer(str(RESOURCES / "tiny-tokenizer"))
    with pytest.raises(ConfigError, match="generation"):
        generation_config_from({"num_beams": 1, "early_stopping": True, "max_new_tokens": 8}, tokenizer)


def test_precision_auto_is_fp32_on_cpu_and_bf16_only_on_native_gpus(monkeypatch) -> None:
    assert precision.resolve_precision("auto", "cpu") == "32-true"
    monkeypatch.setattr(precision.torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(precision, "gpu_has_bf16_units", lambda: True)
    assert precision.resolve_precision("auto", "gpu") == "bf16-mixed"
    monkeypatch.setattr(precision, "gpu_has_bf16_units", lambda: False)  # e.g. a T4
    assert precision.resolve_precision("auto", "gpu") == "32-true"
    with pytest.raises(ConfigError, match="no native bf16"):
        precision.resolve_precision("bf16-mixed", "gpu")


def test_explicit_bf16_on_a_cpu_without_bf16_units_is_refused(monkeypatch) -> None:
    monkeypatch.setattr(precision, "cpu_bf16_speed_ratio", lambda: 1 / 500)
    with pytest.raises(ConfigError, match="500x slower"):
        precision.resolve_precision("bf16-mixed", "cpu")
    monkeypatch.setattr(precision, "cpu_bf16_speed_ratio", lambda: 1.8)
    assert precision.resolve_precision("bf16-mixed", "cpu") == "bf16-mixed"


def test_fp16_is_honoured_with_a_warning_and_unknown_values_rejected(caplog) -> None:
    assert precision.resolve_precision("16-mixed", "cpu") == "16-mixed"
    assert "overflow" in caplog.text
    with pytest.raises(ConfigError, match=r"Unknown trainer\.precision"):
        precision.resolve_precision("fp8", "cpu")


def test_under_fp16_autocast_the_feed_forward_output_runs_in_fp32_and_weights_keep_their_names() -> None:
    model = build_model("unused", TINY).eval()
    names = list(model.state_dict())
    outputs: list[torch.dtype] = []

    def record(module, args, output):
        outputs.append(output.dtype)

    projections = [m.wo for m in model.modules() if type(m).__name__ in precision.T5_FEED_FORWARD]
    for wo in projections:
        wo.register_forward_hook(record)
    ids = torch.tensor([[5, 6, 7, 1]])
    with torch.autocast("cpu", dtype=torch.float16):
        model(input_ids=ids, labels=ids)
    assert outputs and set(outputs) == {torch.float16}  # plain autocast: fp16, where T5 overflows
    outputs.clear()
    assert precision.keep_feed_forward_fp32(model) == len(projections) > 0
    with torch.autocast("cpu", dtype=torch.float16):
        loss = model(input_ids=ids, labels=ids).loss
    assert set(outputs) == {torch.float32} and torch.isfinite(loss)
    assert list(model.state_dict()) == names  # checkpoints and saved models are unchanged


def first_step_gradients(**module_kwargs) -> tuple[float, dict[str, torch.Tensor]]:
    from functools import partial

    from t5sum.model.module import SummarizationModule

    torch.manual_seed(0)
    tokenizer = load_tokenizer(str(RESOURCES / "tiny-tokenizer"))
    module = SummarizationModule(
        build_model("unused", TINY),
        tokenizer,
        optimizer=partial(torch.optim.AdamW, lr=1e-3),
        generation={"max_new_tokens": 8, "num_beams": 1},
        **module_kwargs,
    )
    module.train()
    batch = {
        "input_ids": torch.randint(3, 700, (2, 10)),
        "attention_mask": torch.ones(2, 10, dtype=torch.long),
        "labels": torch.tensor([[5, 6, 7, 1], [8, 9, 1, -100]]),
    }
    loss = module.loss(batch)
    loss.backward()
    return loss.item(), {n: p.grad.clone() for n, p in module.model.named_parameters() if p.grad is not None}


def test_gradient_checkpointing_changes_memory_not_gradients() -> None:
    plain_loss, plain = first_step_gradients()
    ckpt_loss, ckpt = first_step_gradients(gradient_checkpointing=True)
    assert ckpt_loss == pytest.approx(plain_loss, abs=1e-6) and plain.keys() == ckpt.keys()
    for name in plain:
        torch.testing.assert_close(ckpt[name], plain[name], atol=1e-6, rtol=1e-5)


def test_label_smoothing_changes_the_loss_only_when_on() -> None:
    plain_loss, _ = first_step_gradients()
    smoothed_loss, _ = first_step_gradients(label_smoothing=0.1)
    assert smoothed_loss != pytest.approx(plain_loss, abs=1e-3)
