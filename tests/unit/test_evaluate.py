"""The evaluator end to end on tiny runs: same numbers as training, baseline tables, report, comparison."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest
import torch
from transformers import AutoModelForSeq2SeqLM

from t5sum.errors import ConfigError, T5SumError
from t5sum.evaluate import evaluate
from t5sum.evaluation.evaluator import CI_METRICS
from t5sum.evaluation.report import fmt, fmt_p, pick_examples
from t5sum.evaluation.systems import initial_system, load_run
from t5sum.inference import load_summarizer
from t5sum.train import train
from tests.conftest import SHARED_DATA, SHARED_MODELS, compose_evaluate, compose_train, requires_shared

ROOT = Path(__file__).resolve().parents[2]


def tiny_run(tmp: Path, *overrides: str) -> Path:
    cfg = compose_train(["experiment=smoke", "trainer.max_epochs=1", "trainer.max_steps=30", *overrides], tmp)
    train(cfg)
    return Path(cfg.paths.output_dir)


@pytest.fixture(scope="module")
def full_run(tmp_path_factory) -> Path:
    return tiny_run(tmp_path_factory.mktemp("full"))


@pytest.fixture(scope="module")
def evaluated(full_run: Path, tmp_path_factory) -> tuple[dict, Path]:
    cfg = compose_evaluate([f"run_dir={full_run}", "baseline=initial"], tmp_path_factory.mktemp("eval"))
    result, objects = evaluate(cfg)
    return result, objects["out_dir"]


def test_evaluator_reproduces_the_training_test_metrics(full_run: Path, evaluated) -> None:
    """One implementation: scoring the saved model equals what training's test loop logged."""
    result, out_dir = evaluated
    trained = json.loads((full_run / "metrics.json").read_text())
    assert out_dir == full_run / "eval" / "sample-test"
    assert result["num_examples"] == trained["test/num_examples"] == 40
    for key in ("rouge1", "rouge2", "rougeL", "rougeLsum", "bleu", "gen_len", "compression_ratio"):
        assert result["metrics"][key] == pytest.approx(trained[f"test/{key}"], abs=1e-3), key
    rows = [json.loads(line) for line in (out_dir / "predictions.jsonl").open()]
    train_rows = {r["id"]: r for r in map(json.loads, (full_run / "predictions.jsonl").open())}
    assert len(rows) == 40 and all(r["prediction"] == train_rows[r["id"]]["prediction"] for r in rows)
    assert {"baseline_prediction", "baseline_scores", "scores", "source_truncated"} <= set(rows[0])


def test_result_records_metric_profile_intervals_and_comparison(evaluated) -> None:
    result, _ = evaluated
    assert (
        result["metric_profile"]["scorer"] == "rouge-score" and result["metric_profile"]["stemming"] is True
    )
    for key in CI_METRICS:
        low, high = result["ci"][key]
        assert low <= result["metrics"][key] <= high
        row = result["comparison"][key]
        assert row["improvement"] == pytest.approx(row["fine_tuned"] - row["baseline"], abs=1e-6)
        assert row["ci_low"] <= row["improvement"] <= row["ci_high"] and 0 < row["p_value"] <= 1
    for key in ("rouge1_precision", "rougeLsum_recall", "hit_max_new_tokens_share", "source_truncated_share"):
        assert key in result["metrics"]
    assert result["model"]["random_init"] and result["baseline"]["random_init"]


def table_rows(markdown: str, title: str) -> dict[str, list[str]]:
    section = markdown.split(f"## {title}\n", 1)[1].split("\n## ", 1)[0]
    lines = [line for line in section.splitlines() if line.startswith("| ") and "---" not in line]
    return {
        cells[0]: cells[1:] for cells in ([c.strip() for c in line.strip("|").split("|")] for line in lines)
    }


def test_report_tables_equal_metrics_json(evaluated) -> None:
    _, out_dir = evaluated
    saved = json.loads((out_dir / "metrics.json").read_text())
    markdown = (out_dir / "report.md").read_text()
    rows = table_rows(markdown, "Baseline vs fine-tuned")
    assert set(rows) - {"metric"} == set(CI_METRICS)
    for metric in CI_METRICS:
        c = saved["comparison"][metric]
        baseline, tuned, improvement, interval, p = rows[metric]
        assert baseline == fmt(metric, c["baseline"]) and tuned == fmt(metric, c["fine_tuned"])
        assert float(improvement) == pytest.approx(float(fmt(metric, c["improvement"])))
        assert interval == f"[{fmt(metric, c['ci_low'])}, {fmt(metric, c['ci_high'])}]"
        assert p == fmt_p(c["p_value"])
    assert "Random-init weights" in markdown
    details = table_rows(markdown, "Details")
    assert details["rougeLsum recall"][1] == fmt("rougeLsum", saved["metrics"]["rougeLsum_recall"])


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.urls += [value or "" for name, value in attrs if name in ("src", "href", "srcset", "data")]


def test_report_html_is_self_contained(evaluated) -> None:
    _, out_dir = evaluated
    page = (out_dir / "report.html").read_text()
    parser = _Links()
    parser.feed(page)
    assert len(parser.urls) >= 3  # loss, validation ROUGE, lengths, paired plots are embedded
    assert all(url.startswith("data:image/png;base64,") for url in parser.urls)
    assert "url(" not in page and "@import" not in page and not re.search(r"<(script|link)\b", page)
    assert {p.name for p in (out_dir / "plots").iterdir()} == {
        "loss.png",
        "val_rouge.png",
        "lengths.png",
        "paired.png",
    }
    assert "Examples: best and worst" in page


def test_examples_are_deterministic_and_include_best_and_worst() -> None:
    deltas = [0.3, -0.2, 0.9, 0.0, -0.7, 0.5, 0.1, 0.2, -0.1, 0.4, 0.6, 0.05]
    rows = [{"scores": {"rougeLsum_f": 0.5 + d}, "baseline_scores": {"rougeLsum_f": 0.5}} for d in deltas]
    picked = pick_examples(rows, 5)
    assert picked == pick_examples(rows, 5) and len(set(picked)) == 5
    assert picked[0] == deltas.index(max(deltas)) and picked[-1] == deltas.index(min(deltas))
    assert pick_examples(rows[:3], 5) == [2, 0, 1]


def test_initial_baseline_rebuilds_the_weights_the_run_started_from(tmp_path: Path) -> None:
    run_dir = tiny_run(tmp_path, "optimizer.lr=0.0", "trainer.max_steps=1", "test_after_fit=false")
    saved = AutoModelForSeq2SeqLM.from_pretrained(run_dir / "model").state_dict()
    rebuilt = initial_system(load_run(run_dir), load_summarizer(run_dir), 4).summarizer.model.state_dict()
    assert saved.keys() == rebuilt.keys()
    assert all(torch.equal(saved[k], rebuilt[k]) for k in saved)


def test_plain_model_directory_on_a_chosen_dataset(full_run: Path, tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    AutoModelForSeq2SeqLM.from_pretrained(full_run / "model").save_pretrained(plain)  # no t5sum.json
    cfg = compose_evaluate(
        [
            f"model.name_or_path={plain}",
            f"model.tokenizer={full_run / 'model'}",
            "dataset=sample",
            "split=validation",
            "samples=12",
            "generate.num_beams=1",
            f"out_dir={tmp_path / 'out'}",
        ],
        tmp_path,
    )
    result, _ = evaluate(cfg)
    assert result["num_examples"] == 12 and result["split"] == "validation"
    assert result["generation"]["num_beams"] == 1 and result.get("comparison") is None
    assert (tmp_path / "out" / "report.html").is_file()
    assert "Scores" in (tmp_path / "out" / "report.md").read_text()


@pytest.mark.parametrize(
    ("override", "error", "message"),
    [
        ("run_dir={missing}", T5SumError, "does not exist"),
        ("split=dev", ConfigError, "split='dev'"),
        ("+generate.temperature=2", ConfigError, "generate.temperature"),
        ("baseline=initial", ConfigError, "needs run_dir"),
        ("model.name_or_path=google-t5/t5-small", T5SumError, "Without network access"),  # hub, offline
    ],
)
def test_bad_requests_get_one_clear_error(tmp_path: Path, override: str, error: type, message: str) -> None:
    overrides = ["dataset=sample", f"out_dir={tmp_path}", override.format(missing=tmp_path / "nope")]
    with pytest.raises(error, match=re.escape(message)):
        evaluate(compose_evaluate(overrides, tmp_path))


def test_a_folder_that_is_not_a_run_dir_says_what_to_pass(tmp_path: Path) -> None:
    with pytest.raises(T5SumError, match="not a t5sum run dir"):
        evaluate(compose_evaluate([f"run_dir={tmp_path}"], tmp_path))


def test_multirun_compares_full_and_lora_runs(full_run: Path, tmp_path: Path) -> None:
    lora_run = tiny_run(tmp_path / "lora", "method=lora", "test_after_fit=false")
    sweep = tmp_path / "sweep"
    command = [
        sys.executable, "-m", "t5sum.evaluate", "-m", f"run_dir={full_run},{lora_run}", "split=validation",
        "samples=8", "progress=false", "bootstrap.samples=200", f"hydra.sweep.dir={sweep}",
        f"out_dir={tmp_path}/eval_$" + "{hydra:job.num}",
    ]  # fmt: skip
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, env=os.environ, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    rows = json.loads((sweep / "comparison.json").read_text())
    assert [r["method"] for r in rows] == ["full", "lora"]
    full, lora = rows
    assert lora["params_trainable"] < full["params_trainable"] and lora["adapter_mb"] < full["model_mb"]
    assert full["adapter_mb"] is None and full["peak_memory_mb"] > 0 and lora["train_tokens_per_second"] > 0
    table = (sweep / "comparison.md").read_text()
    assert str(lora_run) in table and "(best)" in table


def test_wandb_gets_metrics_table_and_plots_offline(full_run: Path, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_DIR", str(tmp_path))
    cfg = compose_evaluate(
        [f"run_dir={full_run}", "logger=wandb", "samples=6", f"out_dir={tmp_path / 'out'}"], tmp_path
    )
    evaluate(cfg)
    runs = list((tmp_path / "evaluate" / "wandb").glob("offline-run-*"))
    assert len(runs) == 1
    files = {p.name for p in runs[0].rglob("*")}
    assert any(name.endswith(".wandb") for name in files)
    assert any("predictions" in name and name.endswith(".table.json") for name in files)
    assert any(name.startswith("lengths") or "lengths" in name for name in files)


def test_onnx_export_of_the_run_scores_like_pytorch(full_run: Path, evaluated, tmp_path: Path) -> None:
    from t5sum.inference.onnx_export import export_onnx

    torch_result, _ = evaluated
    cfg = compose_evaluate([f"run_dir={full_run}", "backend=onnx", f"out_dir={tmp_path}"], tmp_path)
    with pytest.raises(T5SumError, match=re.escape("python -m t5sum.export")):
        evaluate(cfg)
    export_onnx(full_run)
    result, _ = evaluate(cfg)
    assert result["backend"] == "OnnxSummarizer" and result["model"]["source"] == str(full_run / "onnx")
    for key in CI_METRICS:
        assert result["metrics"][key] == pytest.approx(torch_result["metrics"][key], abs=1e-6), key


@requires_shared
def test_dialogsum_test_split_is_scored_against_all_three_references(tmp_path: Path) -> None:
    from t5sum.data.datasets import DialogSumDataModule
    from t5sum.evaluation.evaluator import load_eval_data, score_outputs
    from t5sum.model.build import load_tokenizer

    tokenizer = load_tokenizer(str(SHARED_MODELS / "t5-tokenizer"))
    datamodule = DialogSumDataModule(
        tokenizer, "summarize: {document}", name="dialogsum", data_dir=str(SHARED_DATA / "dialogsum"),
        test_samples=8, cache_dir=str(tmp_path),
    )  # fmt: skip
    data = load_eval_data(datamodule, "test")
    assert data.references_per_example == 3.0 and data.first_references[0] == data.references[0][0]
    predictions = [refs[1] for refs in data.references]  # the second annotator's summary, as a "system"
    best = score_outputs(data, predictions, [10] * len(data), 64, multi_ref="max")
    mean = score_outputs(data, predictions, [10] * len(data), 64, multi_ref="mean")
    assert best.metrics["rougeLsum"] == pytest.approx(100.0)  # it matches one of its references exactly
    assert mean.metrics["rougeLsum"] < best.metrics["rougeLsum"]


def test_training_and_evaluator_agree_on_multi_reference_test_rows(tmp_path: Path) -> None:
    sample = ROOT / "t5sum" / "resources" / "sample"
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    for split in ("train", "validation"):
        (data_dir / f"{split}.jsonl").write_text((sample / f"{split}.jsonl").read_text())
    rows = [json.loads(line) for line in (sample / "test.jsonl").open()][:12]
    with (data_dir / "test.jsonl").open("w") as handle:
        for i, row in enumerate(rows):
            extra = rows[(i + 1) % len(rows)]["summary"]  # a second, mostly wrong reference
            handle.write(json.dumps({**row, "references": [row["summary"], extra]}) + "\n")
    run = tiny_run(tmp_path, "dataset=local", f"dataset.data_dir={data_dir}", "module.multi_ref=mean")
    trained = json.loads((run / "metrics.json").read_text())
    result, _ = evaluate(
        compose_evaluate([f"run_dir={run}", "multi_ref=mean", f"out_dir={tmp_path / 'e'}"], tmp_path)
    )
    assert result["metric_profile"]["references_per_example"] == 2.0
    for key in ("rouge1", "rougeLsum", "bleu"):
        assert result["metrics"][key] == pytest.approx(trained[f"test/{key}"], abs=1e-3), key
    best, _ = evaluate(
        compose_evaluate([f"run_dir={run}", "multi_ref=max", f"out_dir={tmp_path / 'm'}"], tmp_path)
    )
    assert best["metrics"]["rougeLsum"] > result["metrics"]["rougeLsum"]
