"""ONNX export: parity gate for full and LoRA runs, identical text from both backends, clear errors."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from transformers import T5Config, T5ForConditionalGeneration

from t5sum.errors import T5SumError
from t5sum.inference import load_summarizer
from t5sum.inference.onnx_backend import OnnxSummarizer
from t5sum.inference.onnx_decoder_step import decoder_position_buckets
from t5sum.inference.onnx_export import ParityError, check_parity, export_onnx, max_logit_delta
from t5sum.inference.torch_backend import TorchSummarizer
from t5sum.train import train
from tests.conftest import compose_train

ROOT = Path(__file__).resolve().parents[2]


def tiny_run(tmp: Path, *overrides: str) -> Path:
    cfg = compose_train(
        ["experiment=smoke", "logger=none", "trainer.max_epochs=1", "test_after_fit=false", *overrides], tmp
    )
    train(cfg)
    return Path(cfg.paths.output_dir)


@pytest.fixture(scope="module")
def full_run(tmp_path_factory) -> Path:
    return tiny_run(tmp_path_factory.mktemp("full"), "trainer.max_steps=25")


@pytest.fixture(scope="module")
def exported(full_run: Path) -> Path:
    return export_onnx(full_run)


def test_export_writes_graphs_settings_and_a_passing_manifest(full_run: Path, exported: Path) -> None:
    assert exported == full_run / "onnx"
    names = {p.name for p in exported.iterdir()}
    assert {"encoder_model.onnx", "decoder_model.onnx", "decoder_with_past_model.onnx"} <= names
    assert {"t5sum.json", "tokenizer.json", "generation_config.json", "manifest.json"} <= names
    assert "decoder_model_merged.onnx" not in names  # unused by the backend: not shipped
    assert manifest_of(exported)["decoder_step"].startswith("t5sum")
    manifest = json.loads((exported / "manifest.json").read_text())
    assert manifest["parity"]["batch_1_identical"] and manifest["parity"]["batch_4_identical"]
    assert 0 <= manifest["parity"]["max_logit_delta_padded_batch"] <= 1e-3
    assert manifest["versions"]["onnxruntime"] and manifest["source_run"] == str(full_run.resolve())


def manifest_of(onnx_dir: Path) -> dict:
    return json.loads((onnx_dir / "manifest.json").read_text())


def test_flan_layout_exports_through_t5sums_decoder_step(tmp_path: Path, full_run: Path) -> None:
    """flan-t5's layout: gated-gelu feed-forward, untied LM head, heads x d_kv (4 x 8) != d_model (64)."""
    model_dir = tmp_path / "model"
    shutil.copytree(full_run / "model", model_dir)
    base = {k: v for k, v in T5Config.from_pretrained(model_dir).to_dict().items() if k not in DERIVED}
    config = T5Config(**{**base, "feed_forward_proj": "gated-gelu", "tie_word_embeddings": False, "d_kv": 8})
    torch.manual_seed(0)
    T5ForConditionalGeneration(config).save_pretrained(model_dir)
    manifest = manifest_of(export_onnx(model_dir, tmp_path / "onnx"))
    assert manifest["decoder_step"].startswith("t5sum")
    assert manifest["parity"]["batch_1_identical"] and manifest["parity"]["batch_4_identical"]


DERIVED = ("dense_act_fn", "is_gated_act")  # T5Config derives them from feed_forward_proj


@pytest.mark.parametrize(("buckets", "distance"), [(32, 128), (16, 40)])
def test_position_buckets_match_transformers(buckets: int, distance: int) -> None:
    from transformers.models.t5.modeling_t5 import T5Attention

    for length in range(1, 300, 7):
        relative = torch.arange(length) - (length - 1)  # key position minus the query's (the last)
        expected = T5Attention._relative_position_bucket(relative, False, buckets, distance)
        assert decoder_position_buckets(length, buckets, distance).tolist() == expected.tolist()


def test_both_backends_return_identical_text_on_mixed_lengths(full_run: Path, exported: Path) -> None:
    rows = [json.loads(line) for line in (ROOT / "t5sum/resources/sample/validation.jsonl").open()][:10]
    texts = [r["document"] for r in rows] + [rows[0]["document"][:40]]  # very different lengths, padded
    torch_backend, onnx_backend = load_summarizer(full_run), load_summarizer(exported)
    assert isinstance(onnx_backend, OnnxSummarizer)
    assert onnx_backend.summarize(texts) == torch_backend.summarize(texts)
    beams = {"num_beams": 3, "no_repeat_ngram_size": 2, "length_penalty": 1.5, "early_stopping": True}
    assert onnx_backend.summarize(texts[:4], **beams) == torch_backend.summarize(texts[:4], **beams)


def test_lora_run_exports_merged_and_passes_parity(tmp_path: Path) -> None:
    run = tiny_run(tmp_path, "method=lora", "method.r=4", "trainer.max_steps=10")
    manifest = json.loads((export_onnx(run) / "manifest.json").read_text())
    assert manifest["parity"]["batch_4_identical"]


def test_parity_gate_fails_loudly_on_a_mismatched_export(tmp_path: Path, exported: Path) -> None:
    other = tiny_run(tmp_path, "trainer.max_steps=3", "seed=7")  # different weights
    texts = ["#Person1#: hi. #Person2#: hello.", "#Person1#: a longer line here, with more words in it."]
    greedy = {"num_beams": 1, "max_new_tokens": 5, "min_new_tokens": 5, "early_stopping": False}
    assert (
        max_logit_delta(
            TorchSummarizer.from_pretrained(other / "model"), OnnxSummarizer(exported), texts, greedy
        )
        > 1e-2
    )
    assert (
        max_logit_delta(
            TorchSummarizer.from_pretrained(exported.parent / "model"),
            OnnxSummarizer(exported),
            texts,
            greedy,
        )
        < 1e-3
    )
    with pytest.raises(ParityError, match="differs from PyTorch"):
        check_parity(
            TorchSummarizer.from_pretrained(other / "model"),
            OnnxSummarizer(exported),
            ["#Person1#: hi. #Person2#: hello."],
        )


def test_corrupted_or_incomplete_export_is_a_clear_error(tmp_path: Path, exported: Path) -> None:
    broken = tmp_path / "broken"
    shutil.copytree(exported, broken)
    (broken / "decoder_with_past_model.onnx").unlink()
    with pytest.raises(T5SumError, match=r"missing decoder_with_past_model\.onnx"):
        OnnxSummarizer(broken)
    shutil.copy(exported / "decoder_with_past_model.onnx", broken)
    (broken / "encoder_model.onnx").write_bytes(b"not an onnx graph")
    with pytest.raises(T5SumError, match="Could not load the ONNX export"):
        OnnxSummarizer(broken)
    shutil.copy(exported / "encoder_model.onnx", broken)
    config = json.loads((broken / "generation_config.json").read_text())
    (broken / "generation_config.json").write_text(json.dumps({**config, "do_sample": True, "top_k": 5}))
    with pytest.raises(T5SumError, match=r"also sets do_sample.*backend=torch"):  # not silently greedy
        OnnxSummarizer(broken)


def test_export_cli_rejects_a_directory_that_is_not_a_run(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "t5sum.export", f"run_dir={tmp_path}"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 2 and "t5sum.json" in result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr


def test_int8_export_is_smaller_and_reports_its_drift(tmp_path: Path, full_run: Path) -> None:
    out = export_onnx(full_run, tmp_path / "int8", quantize="int8")
    manifest = json.loads((out / "manifest.json").read_text())
    quantization = manifest["quantization"]
    assert quantization["type"].startswith("int8")
    assert 0 <= quantization["identical_outputs_share"] <= 1 and 0 <= quantization["rougeL_f_vs_fp32"] <= 100
    if quantization["identical_outputs_share"] == 1:
        assert quantization["rougeL_f_vs_fp32"] == 100
    assert manifest["sizes"]["int8_mb"] < 0.5 * manifest["sizes"]["fp32_mb"]
    assert load_summarizer(out).summarize(["#Person1#: hi. #Person2#: hello."])[0] is not None
    with pytest.raises(T5SumError, match="quantize"):
        export_onnx(full_run, out, quantize="int4")
    assert (out / "manifest.json").is_file()  # a bad option leaves the earlier export in place


def test_onnx_export_callback_exports_the_finished_run(tmp_path: Path) -> None:
    run = tiny_run(tmp_path, "callbacks=onnx_export", "trainer.max_steps=5")
    manifest = json.loads((run / "onnx" / "manifest.json").read_text())
    assert manifest["parity"]["batch_4_identical"] and manifest["source_run"] == str(run.resolve())
    with pytest.raises(T5SumError, match="save_model=true"):  # refused before any training
        tiny_run(tmp_path / "no-model", "callbacks=onnx_export", "trainer.max_steps=2", "save_model=false")
    assert not (tmp_path / "no-model" / "run").exists()
