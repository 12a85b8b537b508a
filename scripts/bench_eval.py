#!/usr/bin/env python
"""Evaluation generation throughput: length-sorted batches vs the dataset's own order, one process.

Builds the t5-small architecture (random init: throughput only, never quality) with the real T5 tokenizer,
tokenizes DialogSum test dialogues through the evaluator's data path (`load_eval_data`), and times
`BatchedSummarizer.generate` on the same examples with `sort_by_length=True` (what `t5sum.evaluate` does)
and `False` (batches in dataset order, as a plain DataLoader gives them). Every output has exactly
`--new-tokens` tokens (min = max), so both orders do the same decoding work and the difference is
padding alone. Orders are interleaved over `--repeats` rounds; each order counts at its fastest round.

Usage: python scripts/bench_eval.py [--examples 128] [--batch-size 16] [--new-tokens 32] [--num-beams 4]
       [--repeats 2]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

import torch
from transformers import AutoConfig, AutoModelForSeq2SeqLM, AutoTokenizer, GenerationConfig

from t5sum.data.datasets import DialogSumDataModule
from t5sum.evaluation.evaluator import load_eval_data
from t5sum.inference.base import InferenceSettings
from t5sum.inference.torch_backend import TorchSummarizer

SHARED = Path(__file__).resolve().parents[2] / "shared"


def padded_share(lengths: list[int], batch_size: int, sort: bool) -> float:
    order = sorted(lengths, reverse=True) if sort else lengths
    padded = sum(
        max(order[i : i + batch_size]) * len(order[i : i + batch_size])
        for i in range(0, len(order), batch_size)
    )
    return 1 - sum(lengths) / padded


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-dir", default=str(SHARED / "data" / "dialogsum"))
    p.add_argument("--config", default=str(SHARED / "models" / "configs" / "t5-small.json"))
    p.add_argument("--tokenizer", default=str(SHARED / "models" / "t5-tokenizer"))
    p.add_argument("--examples", type=int, default=128)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--max-source-length", type=int, default=512)
    p.add_argument("--new-tokens", type=int, default=32)
    p.add_argument("--num-beams", type=int, default=4, help="4: DialogSum's default (conf/generation)")
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    tokenizer = AutoTokenizer.from_pretrained(args.tokenizer)
    settings = InferenceSettings("summarize: {document}", args.max_source_length)
    with tempfile.TemporaryDirectory() as cache:
        datamodule = DialogSumDataModule(
            tokenizer,
            settings.prompt_template,
            name="dialogsum",
            data_dir=args.data_dir,
            max_source_length=args.max_source_length,
            test_samples=args.examples,
            cache_dir=cache,
        )
        data = load_eval_data(datamodule, "test")
    model = AutoModelForSeq2SeqLM.from_config(AutoConfig.from_pretrained(args.config))
    config = GenerationConfig(
        decoder_start_token_id=tokenizer.pad_token_id,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
        num_beams=args.num_beams,
        max_new_tokens=args.new_tokens,
        min_new_tokens=args.new_tokens,
    )
    summarizer = TorchSummarizer(model, tokenizer, settings, config, batch_size=args.batch_size)
    lengths = [len(ids) for ids in data.input_ids]
    print(
        f"t5-small architecture, RANDOM init (throughput only), {len(data)} DialogSum test dialogues, "
        f"source tokens mean {sum(lengths) / len(lengths):.0f} / max {max(lengths)}, "
        f"batch {args.batch_size}, {args.num_beams} beam(s), exactly {args.new_tokens} new tokens, "
        f"{args.threads} threads"
    )
    summarizer.generate(data.input_ids[: args.batch_size], config)  # warm-up
    best = {True: float("inf"), False: float("inf")}
    outputs = {}
    for round_index in range(args.repeats):
        for sort in (True, False) if round_index % 2 == 0 else (False, True):
            start = time.perf_counter()
            outputs[sort] = summarizer.generate(data.input_ids, config, sort_by_length=sort)
            best[sort] = min(best[sort], time.perf_counter() - start)
    same = outputs[True][1] == outputs[False][1]
    print(f"{'order':<16} {'padding':>8} {'seconds':>8} {'examples/s':>11}")
    for sort, name in ((False, "dataset order"), (True, "length-sorted")):
        share = padded_share(lengths, args.batch_size, sort)
        print(f"{name:<16} {share:>8.1%} {best[sort]:>8.2f} {len(data) / best[sort]:>11.2f}")
    print(f"sorted / unsorted throughput: {best[False] / best[True]:.2f}x (same generated lengths: {same})")


if __name__ == "__main__":
    main()
