#!/usr/bin/env python
"""Speculative greedy search against the share of guesses the fp32 step confirms, one process.

With random weights (all this machine has) the int4 draft decoder agrees with fp32 on nearly every guess;
a pretrained model's draft will agree less often. This times batch-1 greedy on the t5-small architecture
with the draft's guesses spoiled at random (each wrong with probability 1 - agreement), next to PyTorch and
the same export without speculation, so the figures say what speculation is worth at each agreement. The
tokens never change: the fp32 step checks every one.

Usage: python scripts/bench_speculation.py [--agreement 1 0.9 0.75 0.5 0] [--draft auto|int4|int8]
       [--tokens 128] [--repeats 7]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from bench_inference import SHARED, make_model_dir
from transformers import AutoTokenizer, GenerationConfig

from t5sum.inference import load_summarizer
from t5sum.inference.onnx_backend import DecoderCall, OnnxSummarizer
from t5sum.inference.onnx_export import PARITY_TEXT, export_onnx


def spoiled(agreement: float, vocab: int, seed: int = 0):
    """DecoderCall.propose with each guess replaced by another token with probability 1 - agreement."""
    rng, propose = np.random.default_rng(seed), DecoderCall.propose

    def propose_spoiled(call: DecoderCall, token: int, count: int) -> list[int]:
        guesses = propose(call, token, count)
        return [g if rng.random() < agreement else (g + 1) % vocab for g in guesses]

    return propose_spoiled


def manifest_draft(onnx_dir: Path) -> str:
    return str(json.loads((onnx_dir / "manifest.json").read_text())["speculative_greedy"]["draft"])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", default=str(SHARED / "configs" / "t5-small.json"))
    p.add_argument("--tokenizer", default=str(SHARED / "t5-tokenizer"))
    p.add_argument("--agreement", type=float, nargs="+", default=[1.0, 0.9, 0.75, 0.5, 0.0])
    p.add_argument("--tokens", type=int, default=128)
    p.add_argument("--new-tokens", type=int, default=32)
    p.add_argument("--repeats", type=int, default=7)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--draft", default="auto", choices=["auto", "int4", "int8"], help="the export's draft")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        model_dir = make_model_dir(Path(tmp), args.config, args.tokenizer)
        onnx_dir = export_onnx(model_dir, Path(tmp) / "onnx", speculative_draft=args.draft)
        pytorch = load_summarizer(model_dir, backend="torch")
        plain = OnnxSummarizer(onnx_dir, threads=args.threads, lookahead=0)
        speculative = OnnxSummarizer(onnx_dir, threads=args.threads)
        ids = AutoTokenizer.from_pretrained(args.tokenizer)((PARITY_TEXT + " ") * 200)["input_ids"]
        encoded = [[*ids[: args.tokens - 1], 1]]
        config = GenerationConfig(
            decoder_start_token_id=0, pad_token_id=0, eos_token_id=1,
            max_new_tokens=args.new_tokens, min_new_tokens=args.new_tokens,
        )  # fmt: skip
        vocab = speculative.model.draft.weight.shape[0] if speculative.model.draft else 32128
        print(
            f"t5-small architecture, RANDOM init, batch 1, {args.tokens} tokens in, exactly "
            f"{args.new_tokens} new, greedy, {args.threads} threads, p50 of {args.repeats}, draft: "
            f"{manifest_draft(onnx_dir)}"
        )
        header = ("agreement", "kept", "torch s", "no spec s", "spec s", "x torch", "x no spec")
        print(" ".join(f"{h:>9}" for h in header))
        for agreement in args.agreement:
            DecoderCall.propose = spoiled(agreement, vocab)
            speculative.speculation.clear()
            for summarizer in (pytorch, plain, speculative):
                summarizer.generate(encoded, config)  # warm-up
            times: dict[str, list[float]] = {"torch": [], "plain": [], "spec": []}
            for _ in range(args.repeats):
                for name, summarizer in (("torch", pytorch), ("plain", plain), ("spec", speculative)):
                    start = time.perf_counter()
                    summarizer.generate(encoded, config)
                    times[name].append(time.perf_counter() - start)
            p50 = {name: statistics.median(t) for name, t in times.items()}
            stats = speculative.speculation
            kept = stats["kept"] / max(stats["guesses"], 1)
            seconds = [f"{p50[name]:.3f}" for name in ("torch", "plain", "spec")]
            cells = [f"{agreement:.2f}", f"{kept:.0%}", *seconds]
            cells += [f"{p50['torch'] / p50['spec']:.2f}x", f"{p50['plain'] / p50['spec']:.2f}x"]
            print(" ".join(f"{c:>9}" for c in cells), flush=True)


if __name__ == "__main__":
    main()
