"""What each long-input strategy keeps, model-free: for every conf/long_input option on a dataset split, the
share of documents it changes, the tokens it keeps, and how much of the reference the model input still
holds (distinct reference unigrams/bigrams, ROUGE-1/2 recall; rouge-score's tokenizer and stemmer).

    python scripts/long_input_report.py dataset=pubmed dataset.data_dir=../shared/data/pubmed \
        model.tokenizer=../shared/models/t5-tokenizer --split test

Arguments without dashes are train.yaml overrides (dataset, model.tokenizer, model.prompt_template,
dataset.max_source_length = the budget, dataset.test_samples, ...). Prints a markdown table.
"""

from __future__ import annotations

import argparse
import time

from hydra import compose, initialize_config_dir
from hydra.utils import instantiate

from t5sum.config import CONFIG_DIR, long_input_presets
from t5sum.evaluation.coverage import coverage_markdown, coverage_rows, over_budget_share
from t5sum.model.build import load_tokenizer


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("overrides", nargs="*", help="train.yaml overrides, e.g. dataset=pubmed")
    parser.add_argument("--split", default="test", choices=("train", "validation", "test"))
    args = parser.parse_args()
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        cfg = compose("train", overrides=args.overrides)
    tokenizer = load_tokenizer(cfg.model.tokenizer)
    datamodule = instantiate(cfg.dataset, tokenizer=tokenizer, prompt_template=cfg.model.prompt_template)
    rows = datamodule.load_normalized(args.split)
    budget = int(cfg.dataset.max_source_length)
    started = time.perf_counter()
    table = coverage_rows(
        tokenizer,
        cfg.model.prompt_template,
        rows["document"],
        rows["summary"],
        budget,
        long_input_presets(),
    )
    whole = table[-1]["mean_source_tokens"]
    prompt_tokens = [len(ids) for ids in tokenizer(
        [cfg.model.prompt_template.replace("{document}", d) for d in rows["document"]], verbose=False
    )["input_ids"]]  # fmt: skip
    print(
        f"{cfg.dataset.name} / {args.split}: {len(rows)} documents, {whole:.0f} prompt tokens on average, "
        f"{100 * over_budget_share(prompt_tokens, budget):.1f}% over the {budget}-token budget "
        f"(tokenizer {cfg.model.tokenizer}; {time.perf_counter() - started:.0f} s)\n"
    )
    print(coverage_markdown(table))


if __name__ == "__main__":
    main()
