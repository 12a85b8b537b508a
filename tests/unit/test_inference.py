"""The Summarizer: same generation as training, order kept, batch-size independent, clear input errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from t5sum.errors import T5SumError
from t5sum.inference import InputError, load_summarizer
from t5sum.train import train
from tests.conftest import compose_train


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> tuple[Path, dict]:
    tmp = tmp_path_factory.mktemp("inference")
    cfg = compose_train(
        [
            "experiment=smoke",
            "logger=none",
            "trainer.max_epochs=1",
            "trainer.max_steps=25",
            "test_after_fit=false",
        ],
        tmp,
    )
    _, objects = train(cfg)
    return Path(cfg.paths.output_dir), objects


def validation_texts(objects: dict, n: int) -> list[str]:
    return objects["datamodule"].splits["validation"]["document"][:n]


def test_summaries_match_the_trained_modules_generation(run) -> None:
    run_dir, objects = run
    summarizer = load_summarizer(run_dir)
    datamodule, module = objects["datamodule"], objects["module"]
    rows = [datamodule.splits["validation"][i] for i in range(6)]
    expected, _ = module.eval().generate(datamodule.collator(rows))
    assert summarizer.summarize([r["document"] for r in rows]) == expected
    assert any(expected)


def test_order_and_batch_size_do_not_change_outputs(run) -> None:
    run_dir, objects = run
    texts = validation_texts(objects, 9)
    one_by_one = load_summarizer(run_dir, batch_size=1).summarize(texts)
    batched = load_summarizer(run_dir, batch_size=4).summarize(texts)  # padded, length-sorted batches
    assert batched == one_by_one
    assert load_summarizer(run_dir, batch_size=4).summarize(texts[::-1]) == one_by_one[::-1]


def test_overlong_input_is_truncated_like_training(run) -> None:
    run_dir, objects = run
    summarizer = load_summarizer(run_dir)
    text = validation_texts(objects, 1)[0]
    limit = summarizer.settings.max_source_length
    long_text = " ".join([text] * 20)
    prompt_ids = summarizer.encode([long_text])[0]
    assert len(prompt_ids) == limit and prompt_ids[-1] == summarizer.tokenizer.eos_token_id
    assert summarizer.summarize([long_text]) == summarizer.summarize([long_text + " extra words at the end"])


def test_empty_texts_and_bad_overrides_are_clear_errors(run) -> None:
    summarizer = load_summarizer(run[0])
    with pytest.raises(InputError, match=r"positions \[1, 2\]"):
        summarizer.summarize(["fine", "", "   "])
    with pytest.raises(InputError, match="temperature"):
        summarizer.summarize(["fine"], temperature=0.7)
    with pytest.raises(InputError, match="Invalid generation overrides"):
        summarizer.summarize(["fine"], num_beams=1, early_stopping=True)


def test_overrides_apply_per_call_only(run) -> None:
    summarizer = load_summarizer(run[0])
    text = validation_texts(run[1], 1)[0]
    short = summarizer.summarize([text], max_new_tokens=2)[0]
    assert len(summarizer.tokenizer(short, add_special_tokens=False)["input_ids"]) <= 2
    assert summarizer.summarize([text]) != [short]
    assert summarizer.generation_config.max_new_tokens == 40


def test_a_plain_model_dir_without_settings_is_rejected(tmp_path: Path, run) -> None:
    from transformers import AutoModelForSeq2SeqLM

    AutoModelForSeq2SeqLM.from_pretrained(run[0] / "model").save_pretrained(tmp_path)
    with pytest.raises(T5SumError, match=r"t5sum\.json"):
        load_summarizer(tmp_path)


@pytest.mark.parametrize(
    ("backend", "unwanted"),
    [
        ("t5sum.inference.torch_backend", ("lightning", "peft", "pytorch_lightning")),
        # an export is served by onnxruntime alone: optimum only exports
        ("t5sum.inference.onnx_backend, onnxruntime", ("lightning", "peft", "pytorch_lightning", "optimum")),
    ],
)
def test_backends_import_only_what_inference_needs(backend: str, unwanted: tuple[str, ...]) -> None:
    code = (
        f"import sys, t5sum.inference, {backend};"
        f"bad = [m for m in {unwanted!r} if m in sys.modules];"
        "sys.exit(str(bad) if bad else 0)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr + result.stdout
