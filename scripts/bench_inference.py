#!/usr/bin/env python
"""Inference latency of the two Summarizer backends, PyTorch vs onnxruntime, in one process.

Builds the t5-small architecture (random init: latency only, never quality) with the real T5 tokenizer,
saves it as a t5sum model dir, exports it with `t5sum.inference.onnx_export` (parity gate included), then
times `summarize()` of both backends on the same inputs, interleaved, with exactly `--new-tokens` greedy
tokens per output (min = max, so both decode the same number of steps).

Usage: python scripts/bench_inference.py [--batch-sizes 1 4] [--source-words 100 400] [--repeats 5]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch
from transformers import AutoConfig, AutoModelForSeq2SeqLM, AutoTokenizer, GenerationConfig

from t5sum.inference import load_summarizer
from t5sum.inference.onnx_export import PARITY_TEXT, export_onnx

SHARED = Path(__file__).resolve().parents[2] / "shared" / "models"


def make_model_dir(root: Path, config: str, tokenizer: str, max_source_length: int) -> Path:
    torch.manual_seed(0)
    model_dir = root / "model"
    AutoModelForSeq2SeqLM.from_config(AutoConfig.from_pretrained(config)).save_pretrained(model_dir)
    AutoTokenizer.from_pretrained(tokenizer).save_pretrained(model_dir)
    GenerationConfig(
        decoder_start_token_id=0, pad_token_id=0, eos_token_id=1, max_new_tokens=64
    ).save_pretrained(model_dir)
    settings = {"prompt_template": "summarize: {document}", "max_source_length": max_source_length}
    (model_dir / "t5sum.json").write_text(json.dumps(settings))
    return model_dir


def median_seconds(fn, repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", default=str(SHARED / "configs" / "t5-small.json"))
    p.add_argument("--tokenizer", default=str(SHARED / "t5-tokenizer"))
    p.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 4])
    p.add_argument("--source-words", type=int, nargs="+", default=[100, 400])
    p.add_argument("--new-tokens", type=int, default=64)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--int8", action="store_true", help="also time the int8-quantized export")
    args = p.parse_args()
    torch.set_num_threads(args.threads)

    with tempfile.TemporaryDirectory() as tmp:
        model_dir = make_model_dir(Path(tmp), args.config, args.tokenizer, max_source_length=1024)
        onnx_dir = export_onnx(model_dir, Path(tmp) / "onnx")
        backends = {
            "torch": load_summarizer(model_dir, backend="torch"),
            "onnx": load_summarizer(onnx_dir, backend="onnx", threads=args.threads),
        }
        if args.int8:
            int8_dir = export_onnx(model_dir, Path(tmp) / "int8", quantize="int8")
            backends["int8"] = load_summarizer(int8_dir, backend="onnx", threads=args.threads)
        greedy = {"num_beams": 1, "max_new_tokens": args.new_tokens, "min_new_tokens": args.new_tokens}
        words = PARITY_TEXT.split()
        print(
            f"t5-small architecture, RANDOM init (latency only), greedy, {args.new_tokens} new tokens, "
            f"{args.threads} threads, median of {args.repeats}"
        )
        print(
            f"{'batch':>5} {'words':>6} "
            + " ".join(f"{name + ' s':>8}" for name in backends)
            + "  torch/onnx"
        )
        for words_per_text in args.source_words:
            text = " ".join((words * (words_per_text // len(words) + 1))[:words_per_text])
            for batch in args.batch_sizes:
                texts = [text[: len(text) * (i + 1) // batch] for i in range(batch)]  # mixed lengths
                seconds = {}
                for name, backend in backends.items():
                    backend.batch_size = batch
                    seconds[name] = median_seconds(
                        lambda b=backend, t=texts: b.summarize(t, **greedy), args.repeats
                    )
                ratio = seconds["torch"] / seconds["onnx"]
                cells = " ".join(f"{seconds[name]:>8.3f}" for name in backends)
                print(f"{batch:>5} {words_per_text:>6} {cells}  {ratio:>9.2f}x")


if __name__ == "__main__":
    main()
