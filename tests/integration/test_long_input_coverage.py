"""Real PubMed articles and the real T5 tokenizer: a small model-free coverage table. Every strategy keeps the
512-token budget; seeing more of the article never keeps less of the abstract."""

from __future__ import annotations

import json

import pytest
from transformers import AutoTokenizer

from t5sum.config import long_input_presets
from t5sum.evaluation.coverage import WHOLE, coverage_markdown, coverage_rows
from tests.conftest import SHARED_DATA, SHARED_MODELS, requires_shared

pytestmark = [requires_shared, pytest.mark.integration]


def test_pubmed_coverage_table() -> None:
    rows = [json.loads(line) for line in (SHARED_DATA / "pubmed" / "test.jsonl").open()][:4]
    tokenizer = AutoTokenizer.from_pretrained(SHARED_MODELS / "t5-tokenizer")
    table = coverage_rows(
        tokenizer,
        "summarize: {document}",
        [r["document"] for r in rows],
        [r["summary"] for r in rows],
        512,
        long_input_presets(),
    )
    by_name = {row["strategy"]: row for row in table}
    assert list(by_name) == ["truncate", "head_tail", "select", "extended", "chunk_merge", WHOLE]
    for name in ("truncate", "head_tail", "select", "chunk_merge"):
        assert by_name[name]["source_truncated_share"] == 1.0  # every article is over 512 tokens
        assert by_name[name]["mean_source_tokens"] <= 512
    assert by_name["extended"]["unigram_coverage"] >= by_name["truncate"]["unigram_coverage"]
    assert by_name["chunk_merge"]["unigram_coverage"] == pytest.approx(by_name[WHOLE]["unigram_coverage"])
    assert by_name["chunk_merge"]["kept_token_share"] == 1.0
    assert coverage_markdown(table).count("\n") == len(table) + 1
