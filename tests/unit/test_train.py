"""End-to-end training on the tiny model: the exact run dir, exact resume, NaN guard."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import torch
from transformers import AutoModelForSeq2SeqLM, AutoTokenizer, GenerationConfig

from t5sum.errors import NonFiniteLossError
from t5sum.train import train

FAST = ("experiment=smoke", "logger=none", "trainer.max_epochs=1", "trainer.max_steps=6")


def test_smoke_run_writes_a_self_describing_run_dir(make_cfg) -> None:
    cfg = make_cfg("experiment=smoke")
    _, objects = train(cfg)
    run = Path(cfg.paths.output_dir)

    assert {p.name for p in run.iterdir()} >= {"config.yaml", "checkpoints", "model", "metrics.json", "csv"}
    assert (run / "predictions.jsonl").is_file()
    checkpoints = sorted(p.name for p in (run / "checkpoints").iterdir())
    assert checkpoints[-1] == "last.ckpt" and checkpoints[0].startswith("best-step=")
    assert {p.name for p in (run / "model").iterdir()} == {
        "config.json",
        "model.safetensors",
        "generation_config.json",
        "tokenizer.json",
        "tokenizer_config.json",
        "special_tokens_map.json",
        "t5sum.json",
    }
    saved = json.loads((run / "metrics.json").read_text())
    assert saved["global_step"] == objects["trainer"].global_step > 0
    assert 0 < saved["test/rougeLsum"] <= 100 and saved["test/num_examples"] == 40
    rows = [json.loads(line) for line in (run / "predictions.jsonl").read_text().splitlines()]
    assert len(rows) == 40 and {"id", "reference", "prediction", "rougeLsum_f"} <= rows[0].keys()
    assert len({r["id"] for r in rows}) == 40

    # the saved model is the best checkpoint's weights, bit for bit, and reloads without t5sum
    best = torch.load(saved["best_checkpoint"], map_location="cpu", weights_only=False)["state_dict"]
    reloaded = AutoModelForSeq2SeqLM.from_pretrained(run / "model")
    for name, tensor in reloaded.state_dict().items():
        assert torch.equal(tensor, best[f"model.{name}"]), name
    assert AutoTokenizer.from_pretrained(run / "model").pad_token_id == 0
    assert GenerationConfig.from_pretrained(run / "model").max_new_tokens == cfg.generation.max_new_tokens
    inference = json.loads((run / "model" / "t5sum.json").read_text())
    assert inference["prompt_template"] == cfg.model.prompt_template

    # learning happened: validation loss fell between the first and the last validation
    with (run / "csv" / "metrics.csv").open() as handle:
        val_losses = [float(row["val/loss"]) for row in csv.DictReader(handle) if row["val/loss"]]
    assert len(val_losses) >= 2 and val_losses[-1] < val_losses[0]


def test_resumed_run_equals_uninterrupted_run(make_cfg, tmp_path: Path) -> None:
    resume_overrides = (*FAST, "trainer.val_check_interval=3", "test_after_fit=false", "save_model=false")
    full_cfg = make_cfg(*resume_overrides)
    full_cfg.paths.output_dir = str(tmp_path / "full")
    _, full = train(full_cfg)

    crash_cfg = make_cfg(
        *resume_overrides, "+callbacks.crash._target_=tests.helpers.CrashAtStep", "+callbacks.crash.step=3"
    )
    crash_cfg.paths.output_dir = str(tmp_path / "crashed")
    with pytest.raises(RuntimeError, match="simulated crash"):
        train(crash_cfg)
    last = tmp_path / "crashed" / "checkpoints" / "last.ckpt"
    assert torch.load(last, map_location="cpu", weights_only=False)["global_step"] == 3

    resume_cfg = make_cfg(*resume_overrides, f"ckpt_path={last}")
    resume_cfg.paths.output_dir = str(tmp_path / "crashed")
    _, resumed = train(resume_cfg)

    assert resumed["trainer"].global_step == full["trainer"].global_step == 6
    # compare the final weights (last.ckpt), not the best ones the run dir keeps
    a = torch.load(tmp_path / "full" / "checkpoints" / "last.ckpt", weights_only=False)["state_dict"]
    b = torch.load(last, weights_only=False)["state_dict"]
    differing = [k for k in a if not torch.equal(a[k], b[k])]
    assert not differing, f"{len(differing)} tensors differ, e.g. {differing[:3]}"


def test_nonfinite_loss_stops_cleanly_with_a_checkpoint(make_cfg) -> None:
    cfg = make_cfg(
        *FAST, "+callbacks.poison._target_=tests.helpers.PoisonWeightsAtStep", "+callbacks.poison.step=2"
    )
    with pytest.raises(NonFiniteLossError, match="step 2") as err:
        train(cfg)
    checkpoint = Path(cfg.paths.output_dir) / "checkpoints" / "nonfinite-step=2.ckpt"
    assert checkpoint.is_file() and str(checkpoint) in str(err.value)
    # training stopped at once: the checkpoint is from the step that failed, not from the end of the epoch
    assert torch.load(checkpoint, map_location="cpu", weights_only=False)["global_step"] <= 3


def test_lora_run_saves_adapter_and_merged_model(make_cfg) -> None:
    cfg = make_cfg(*FAST, "method=lora", "method.r=4", "test_after_fit=false")
    metrics, objects = train(cfg)
    run = Path(cfg.paths.output_dir)
    assert (run / "adapter" / "adapter_config.json").is_file()
    assert (run / "adapter" / "adapter_model.safetensors").is_file()
    assert 0 < metrics["trainable_share"] < 0.2
    merged = AutoModelForSeq2SeqLM.from_pretrained(run / "model")
    assert not any("lora" in name for name in merged.state_dict())
    batch = objects["datamodule"].collator([objects["datamodule"].splits["validation"][i] for i in range(4)])
    peft_model = objects["module"].model.eval()
    with torch.no_grad():
        expected = peft_model(**{k: batch[k] for k in ("input_ids", "attention_mask", "labels")}).logits
        got = merged.eval()(**{k: batch[k] for k in ("input_ids", "attention_mask", "labels")}).logits
    torch.testing.assert_close(got, expected, atol=1e-4, rtol=1e-4)


def test_validate_before_fit_records_the_untrained_baseline(make_cfg) -> None:
    cfg = make_cfg(*FAST, "validate_before_fit=true", "trainer.max_steps=2", "trainer.val_check_interval=2")
    metrics, _ = train(cfg)
    assert metrics["val_before/num_examples"] == metrics["val/num_examples"] == 40
    assert metrics["val_before/loss"] != metrics["val/loss"]
