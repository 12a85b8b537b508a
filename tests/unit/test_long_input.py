"""Long inputs: every strategy keeps the budget and document order, training and inference build the same ids,
chunk_merge batches its windows, bad settings fail in one sentence, a run records its strategy."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from transformers import AutoTokenizer, GenerationConfig

from t5sum.config import RESOURCES, check_config
from t5sum.data.datasets import LocalFilesDataModule
from t5sum.data.long_input import STRATEGIES, LongInput, build_inputs
from t5sum.errors import ConfigError
from t5sum.evaluate import evaluate
from t5sum.inference import load_summarizer
from t5sum.inference.base import BatchedSummarizer, InferenceSettings
from t5sum.train import train
from tests.conftest import compose_evaluate, compose_train

TOKENIZER = AutoTokenizer.from_pretrained(RESOURCES / "tiny-tokenizer")
TEMPLATE = "summarize: {document}"
BUDGET = 40


def long_document(n: int = 30, topic: str = "plane") -> str:
    lines = [
        f"#Person{1 + i % 2}#: We take the {topic} at {i} pm to Madrid. It costs {10 + i} dollars."
        for i in range(n)
    ]
    return "\n".join(lines)


DOCUMENTS = [long_document(30), "#Person1#: Hello there.", long_document(12, "bus")]


def setting(strategy: str, **kwargs) -> LongInput:
    """The preset at this file's small budget (chunk_merge windows overlap by 8, extended doubles it)."""
    defaults = {"chunk_merge": {"chunk_overlap": 8}, "extended": {"max_source_length": 2 * BUDGET}}
    return LongInput(strategy=strategy, **{**defaults.get(strategy, {}), **kwargs})


def is_subsequence(part: list[int], whole: list[int]) -> bool:
    items = iter(whole)
    return all(any(x == y for y in items) for x in part)


def full_ids(document: str) -> list[int]:
    return TOKENIZER(TEMPLATE.replace("{document}", document))["input_ids"]


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_every_strategy_keeps_the_budget_and_document_order(strategy: str) -> None:
    long_input = setting(strategy)
    budget = long_input.source_length(BUDGET)
    inputs = build_inputs(TOKENIZER, TEMPLATE, DOCUMENTS, budget, long_input)
    for document, model_input in zip(DOCUMENTS, inputs, strict=True):
        whole = full_ids(document)
        assert model_input.source_tokens == len(whole)
        for window in model_input.windows:
            assert len(window) <= budget and window[-1] == TOKENIZER.eos_token_id
            assert is_subsequence(window[:-1], whole[:-1])  # nothing invented, nothing reordered
        if len(whole) <= budget:
            assert model_input.windows == [whole] and not model_input.changed
        else:
            assert model_input.changed
            if strategy != "select":  # select keeps whole sentences, so it may leave a few tokens unused
                assert all(len(w) == budget for w in model_input.windows[:-1])
                assert len(model_input.ids) == budget


def test_head_tail_with_the_whole_budget_at_the_head_equals_truncate() -> None:
    head = build_inputs(TOKENIZER, TEMPLATE, DOCUMENTS, BUDGET, LongInput("head_tail", head_share=1.0))
    truncate = build_inputs(TOKENIZER, TEMPLATE, DOCUMENTS, BUDGET, LongInput("truncate"))
    assert [m.windows for m in head] == [m.windows for m in truncate]
    tail = build_inputs(TOKENIZER, TEMPLATE, DOCUMENTS[:1], BUDGET, LongInput("head_tail", head_share=0.0))
    assert tail[0].ids == full_ids(DOCUMENTS[0])[-BUDGET:]  # the end of the document, EOS included


def test_truncate_equals_the_tokenizers_own_truncation() -> None:
    inputs = build_inputs(TOKENIZER, TEMPLATE, DOCUMENTS, BUDGET, LongInput())
    prompts = [TEMPLATE.replace("{document}", d) for d in DOCUMENTS]
    assert [m.ids for m in inputs] == TOKENIZER(prompts, truncation=True, max_length=BUDGET)["input_ids"]


def test_select_prefers_central_sentences_and_chunk_merge_covers_the_document() -> None:
    document = "\n".join(["#Person2#: Hey, are you busy with the surprise party?", long_document(20)])

    def kept_text(lead_bias: float) -> str:
        selected = build_inputs(
            TOKENIZER, TEMPLATE, [document], BUDGET, LongInput("select", lead_bias=lead_bias)
        )
        return TOKENIZER.decode(selected[0].ids)

    assert "busy" in kept_text(1.0)  # all lead: the first sentence
    assert "busy" not in kept_text(0.0)  # all centrality: the odd first sentence shares no words
    chunks = build_inputs(TOKENIZER, TEMPLATE, [document], BUDGET, setting("chunk_merge"))[0]
    assert len(chunks.windows) > 1 and chunks.kept_tokens == len(full_ids(document))


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_training_and_inference_build_the_same_input_ids(strategy: str, tmp_path: Path) -> None:
    rows = [{"id": str(i), "document": d, "summary": "They fly."} for i, d in enumerate(DOCUMENTS)]
    (tmp_path / "test.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    long_input = setting(strategy)
    datamodule = LocalFilesDataModule(
        TOKENIZER, TEMPLATE, name="t", data_dir=str(tmp_path), max_source_length=BUDGET, long_input=long_input
    )
    ds = datamodule.prepare_split("test")
    settings = InferenceSettings(TEMPLATE, BUDGET).with_long_input(long_input)
    inference = BatchedSummarizer(TOKENIZER, settings, GenerationConfig()).encode_inputs(DOCUMENTS)
    assert list(ds["input_ids"]) == [m.ids for m in inference]
    if strategy == "chunk_merge":
        assert list(ds["windows"]) == [m.windows for m in inference]
    stats = datamodule.stats["test"]
    assert stats["source_truncated_share"] == pytest.approx(2 / 3)
    assert 0 < stats["kept_token_share"] <= 1 and stats["mean_document_tokens"] > stats["mean_source_tokens"]


class CountingSummarizer(BatchedSummarizer):
    """Generates two fixed tokens per row and records each batch's size."""

    def __init__(self, long_input: LongInput, batch_size: int = 8) -> None:
        settings = InferenceSettings(TEMPLATE, BUDGET).with_long_input(long_input)
        super().__init__(TOKENIZER, settings, GenerationConfig(max_new_tokens=4), batch_size=batch_size)
        self.batches: list[int] = []

    def generate_ids(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, config) -> torch.Tensor:
        self.batches.append(len(input_ids))
        word = TOKENIZER("plane", add_special_tokens=False)["input_ids"][0]
        row = [TOKENIZER.pad_token_id, word, word, TOKENIZER.eos_token_id]
        return torch.tensor([row] * len(input_ids))


def test_chunk_merge_is_one_pass_on_short_inputs_and_batched_on_long_ones() -> None:
    summarizer = CountingSummarizer(LongInput("chunk_merge", chunk_overlap=8))
    assert summarizer.summarize(["#Person1#: Hello there."]) and summarizer.batches == [1]
    summarizer.batches.clear()
    texts = [long_document(30), long_document(25, "bus"), "#Person1#: Hi."]
    windows = sum(len(m.windows) for m in summarizer.encode_inputs(texts))
    summaries = summarizer.summarize(texts)
    assert len(summaries) == 3 and all(summaries)
    # every window of every text in batches of 8, then one merge call for the two long texts
    assert summarizer.batches == [8] * (windows // 8) + ([windows % 8] if windows % 8 else []) + [2]


@pytest.mark.parametrize(
    ("kwargs", "budget", "words"),
    [
        ({"strategy": "head_tail", "head_share": 1.5}, BUDGET, "head_share=1.5"),
        ({"strategy": "middle"}, BUDGET, "strategy='middle'"),
        ({"strategy": "chunk_merge", "chunk_overlap": BUDGET}, BUDGET, "chunk_overlap=40"),
        ({"strategy": "select", "lead_bias": -0.1}, BUDGET, "lead_bias=-0.1"),
    ],
)
def test_bad_settings_fail_in_one_sentence(kwargs: dict, budget: int, words: str) -> None:
    with pytest.raises(ConfigError) as err:
        LongInput(**kwargs).check_budget(budget)
    message = str(err.value)
    assert words in message and "\n" not in message and message.count(". ") == 0 and message.endswith(".")


def test_training_refuses_an_inference_only_strategy(make_cfg) -> None:
    with pytest.raises(ConfigError, match="inference-only"):
        check_config(make_cfg("long_input=chunk_merge"))
    with pytest.raises(ConfigError, match="head_share"):
        check_config(make_cfg("long_input=head_tail", "long_input.head_share=2"))


@pytest.fixture(scope="module")
def select_run(tmp_path_factory) -> tuple[Path, dict]:
    """A fast_dev_run smoke training, long_input=select at a 24-token budget (most dialogues are longer)."""
    tmp = tmp_path_factory.mktemp("select")
    overrides = ["experiment=smoke", "logger=none", "debug=fdr", "long_input=select"]
    overrides += ["dataset.max_source_length=24", "generation.max_new_tokens=4"]
    cfg = compose_train(overrides, tmp)
    _, objects = train(cfg)
    return Path(cfg.paths.output_dir), objects


def test_a_run_records_its_strategy_and_inference_applies_it(select_run) -> None:
    run_dir, objects = select_run
    data = json.loads((run_dir / "metrics.json").read_text())["data"]
    assert data["long_input"]["strategy"] == "select"
    assert 0 < data["stats"]["train"]["source_truncated_share"] <= 1
    summarizer = load_summarizer(run_dir)
    assert summarizer.settings.long_input.strategy == "select" and summarizer.settings.max_source_length == 24
    documents = objects["datamodule"].splits["validation"]["document"][:4]
    assert summarizer.encode(documents) == objects["datamodule"].splits["validation"]["input_ids"][:4]


def test_evaluation_can_switch_to_chunk_merge_and_reports_coverage(select_run, tmp_path: Path) -> None:
    run_dir, _ = select_run
    cfg = compose_evaluate(
        [f"run_dir={run_dir}", "long_input=chunk_merge", "long_input.chunk_overlap=4", "samples=6"], tmp_path
    )
    result, objects = evaluate(cfg)
    assert result["long_input"]["strategy"] == "chunk_merge" and result["long_input"]["budget"] == 24
    assert result["metrics"]["mean_windows"] > 1 and result["metrics"]["kept_token_share"] == 1.0
    strategies = [row["strategy"] for row in result["long_input_coverage"]]
    assert strategies == [*STRATEGIES, "whole document"]
    report = (objects["out_dir"] / "report.md").read_text()
    assert "Long inputs: what each strategy keeps" in report and "chunk_merge at 24 tokens" in report


def test_coverage_rows_score_the_kept_input_and_mark_settings_that_cannot_run() -> None:
    from t5sum.evaluation.coverage import WHOLE, coverage_markdown, coverage_rows

    reference = "We take the plane at 29 pm to Madrid."  # the last line of the first document
    strategies = {"truncate": LongInput(), "head_tail": LongInput("head_tail", head_share=0.0)}
    strategies["chunk_merge"] = LongInput("chunk_merge", chunk_overlap=BUDGET)
    rows = coverage_rows(TOKENIZER, TEMPLATE, DOCUMENTS[:1], [reference], BUDGET, strategies)
    by_name = {row["strategy"]: row for row in rows}
    assert by_name["head_tail"]["unigram_coverage"] > by_name["truncate"]["unigram_coverage"]
    assert by_name[WHOLE]["unigram_coverage"] == 1.0 and by_name[WHOLE]["source_truncated_share"] == 0.0
    assert "chunk_overlap=40" in by_name["chunk_merge"]["note"]
    assert "| chunk_merge | 40 | - |" in coverage_markdown(rows)
