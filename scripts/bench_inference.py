#!/usr/bin/env python
"""Inference latency matrix, one process: PyTorch vs onnxruntime fp32 vs onnxruntime int8 (+ optimum peer).

Builds the t5-small architecture (random init: latency only, never quality) with the real T5 tokenizer,
saves it as a t5sum model dir and exports it with `t5sum.inference.onnx_export` (parity gate included).
Then, for batch x input tokens x beams, times each backend's `generate()` on identical token ids (every
row exactly `tokens` long) with exactly `--new-tokens` new tokens (min = max, so random weights still do
equal work). Backends:
  torch   TorchSummarizer (HF generate on the PyTorch model)
  onnx    OnnxSummarizer on the fp32 export (t5sum's sessions and its own greedy/beam loops; greedy reads
          the int8 draft of the LM head and computes the tokens that can win exactly; batch-1 greedy
          speculates with the export's int4 draft decoder, every token checked by the fp32 step)
  nospec  the same fp32 export without speculation (lookahead=0)
  fullhead  the same fp32 export without speculation or the LM head's int8 draft (the plain fp32 step)
All three onnx variants return the same tokens. With random weights the int4 draft agrees with fp32 on
nearly every guess, which pretrained weights will not: scripts/bench_speculation.py times speculation at
lower agreement.
  int8    OnnxSummarizer on the int8 export (MatMulNBits int8 weights, int8 embeddings)
  optimum optimum's own fp32 export (its exporter's graphs) and ORTModelForSeq2SeqLM.generate, default
          session options (the peer)
Cells are interleaved per repeat; p50 latency, generated tokens/s and the ratio against torch are printed.

Usage: python scripts/bench_inference.py [--batch-sizes 1 8] [--tokens 128 512] [--beams 1 4]
       [--new-tokens 32] [--repeats 3] [--backends torch onnx nospec fullhead int8 optimum]
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
from t5sum.inference.onnx_backend import OnnxSummarizer
from t5sum.inference.onnx_export import PARITY_TEXT, export_onnx

SHARED = Path(__file__).resolve().parents[2] / "shared" / "models"


def make_model_dir(
    root: Path, config: str | Path, tokenizer: str | Path, max_source_length: int = 1024
) -> Path:
    """The t5-small architecture with seeded random weights, saved as a t5sum model dir (latency only)."""
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


class OptimumPeer:
    """optimum end to end: its exporter's graphs, ORTModelForSeq2SeqLM.generate, default session options."""

    def __init__(self, model_dir: Path, out: Path, like) -> None:
        from optimum.exporters.onnx import main_export
        from optimum.onnxruntime import ORTModelForSeq2SeqLM

        main_export(str(model_dir), output=out, task="text2text-generation-with-past", do_validation=False)
        self.model = ORTModelForSeq2SeqLM.from_pretrained(out, use_merged=False)
        self.pad_batch = like.pad_batch

    def generate(self, encoded, config, sort_by_length=True):
        input_ids, attention_mask = self.pad_batch(encoded)
        return self.model.generate(
            input_ids=input_ids, attention_mask=attention_mask, generation_config=config
        )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", default=str(SHARED / "configs" / "t5-small.json"))
    p.add_argument("--tokenizer", default=str(SHARED / "t5-tokenizer"))
    p.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 8])
    p.add_argument("--tokens", type=int, nargs="+", default=[128, 512])
    p.add_argument("--beams", type=int, nargs="+", default=[1, 4])
    p.add_argument("--new-tokens", type=int, default=32)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--backends", nargs="+", default=["torch", "onnx", "int8", "optimum"])
    args = p.parse_args()
    torch.set_num_threads(args.threads)

    with tempfile.TemporaryDirectory() as tmp:
        model_dir = make_model_dir(Path(tmp), args.config, args.tokenizer)
        onnx_dir = export_onnx(model_dir, Path(tmp) / "onnx")
        backends = {"torch": load_summarizer(model_dir, backend="torch")}
        if "onnx" in args.backends:
            backends["onnx"] = load_summarizer(onnx_dir, backend="onnx", threads=args.threads)
        if "nospec" in args.backends:
            backends["nospec"] = OnnxSummarizer(onnx_dir, threads=args.threads, lookahead=0)
        if "fullhead" in args.backends:
            backends["fullhead"] = OnnxSummarizer(
                onnx_dir, threads=args.threads, draft_head=False, lookahead=0
            )
        if "int8" in args.backends:
            int8_dir = export_onnx(model_dir, Path(tmp) / "int8", quantize="int8")
            backends["int8"] = load_summarizer(int8_dir, backend="onnx", threads=args.threads)
        if "optimum" in args.backends:
            backends["optimum"] = OptimumPeer(model_dir, Path(tmp) / "optimum", backends["torch"])
        backends = {name: b for name, b in backends.items() if name in args.backends}
        words = (PARITY_TEXT + " ") * 200
        ids = AutoTokenizer.from_pretrained(args.tokenizer)(words)["input_ids"]
        print(
            f"t5-small architecture, RANDOM init (latency only), exactly {args.new_tokens} new tokens, "
            f"{args.threads} threads, p50 of {args.repeats}"
        )
        print(
            f"{'batch':>5} {'tokens':>6} {'beams':>5} "
            + " ".join(f"{name + ' s':>10}" for name in backends)
            + " "
            + " ".join(f"{name + ' tok/s':>13}" for name in backends if name != "torch")
            + " "
            + " ".join(f"{'x ' + name:>9}" for name in backends if name != "torch")
        )
        for tokens in args.tokens:
            row_ids = [*ids[: tokens - 1], 1]  # exactly `tokens` ids, ending in EOS like a real input
            for batch in args.batch_sizes:
                encoded = [row_ids] * batch
                for beams in args.beams:
                    config = GenerationConfig(
                        decoder_start_token_id=0,
                        pad_token_id=0,
                        eos_token_id=1,
                        num_beams=beams,
                        max_new_tokens=args.new_tokens,
                        min_new_tokens=args.new_tokens,
                        early_stopping=beams > 1,
                    )
                    times: dict[str, list[float]] = {name: [] for name in backends}
                    for backend in backends.values():
                        if hasattr(backend, "batch_size"):
                            backend.batch_size = batch
                        backend.generate(encoded, config)  # warm-up at this shape
                    # t5sum's backends interleaved per repeat; the peer after them, on its own: with it
                    # interleaved, the PyTorch cells ran 10-17% slower (0.76 vs 0.65 s at batch 1, 128
                    # tokens, greedy), which flattered every ratio. The order rotates per repeat, so no
                    # backend always runs right after PyTorch
                    for names in filter(
                        None,
                        ([n for n in backends if n != "optimum"], [n for n in backends if n == "optimum"]),
                    ):
                        for repeat in range(args.repeats):
                            turn = repeat % len(names)
                            for name in names[turn:] + names[:turn]:
                                start = time.perf_counter()
                                backends[name].generate(encoded, config)
                                times[name].append(time.perf_counter() - start)
                    p50 = {name: statistics.median(t) for name, t in times.items()}
                    others = [name for name in backends if name != "torch"]
                    cells = " ".join(f"{p50[name]:>10.3f}" for name in backends)
                    rates = " ".join(f"{batch * args.new_tokens / p50[n]:>13.1f}" for n in others)
                    ratios = (
                        " ".join(f"{p50['torch'] / p50[n]:>8.2f}x" for n in others) if "torch" in p50 else ""
                    )
                    print(f"{batch:>5} {tokens:>6} {beams:>5} {cells} {rates} {ratios}", flush=True)
        if "onnx" in backends and backends["onnx"].speculation:
            stats = backends["onnx"].speculation
            share = stats["kept"] / stats["guesses"]
            print(f"onnx speculation: {share:.0%} of {stats['guesses']} guesses kept")


if __name__ == "__main__":
    main()
