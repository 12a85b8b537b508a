#!/usr/bin/env python
"""Training throughput of t5sum against Hugging Face ``Seq2SeqTrainer`` (the engine of run_summarization.py).

Both sides train the same t5-small architecture from the same random init (seeded, checked by a weight hash)
on the same DialogSum examples, tokenized the same way ("summarize: " + document, same truncation), with the
same batch size, lengths, optimizer (AdamW, linear schedule, clip 1.0) and step count, on this CPU.

* ``hf``: ``Seq2SeqTrainer`` + ``DataCollatorForSeq2Seq``. Its examples are handed over in the order t5sum's
  random sampler draws them and read sequentially, so both sides see identical batches (checked per step).
* ``t5sum-equal``: t5sum's DataModule, collator, sampler (``group_by_length=False``), LightningModule and
  Lightning Trainer (as ``conf/trainer`` sets it up, without logger, checkpoints and validation): padding
  equal to HF's.
* ``t5sum-grouped``: the same with ``group_by_length=True`` (t5sum's default), against the same HF baseline.

Each run is a fresh spawned process (so its peak RSS is its own); variants are interleaved ABC CBA ... over
``--repeats`` rounds. Only steps after ``--warmup-steps`` are timed (wall clock, end of one optimizer step to
the end of the next, so data loading and loop overhead count). A variant's batches are the same in every
round, so each timed step counts at its fastest round: on a shared machine, noise only ever adds time.
FLOPs per step are counted with ``torch.utils.flop_counter`` on a meta-device copy of the model at each timed
batch's padded shape (forward + backward) and compared with a 2048x2048 fp32 matmul timed in the same run.
Weights are random: the numbers say how fast training runs, not how well it learns.

Usage: ``python scripts/bench_train.py [--steps 30] [--batch-size 8] [--repeats 2] [--json out.json]``
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import itertools
import json
import logging
import multiprocessing as mp
import os
import resource
import statistics
import tempfile
import time
import warnings
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import datasets
import lightning as L
import psutil
import torch
from torch.utils.data import SequentialSampler
from torch.utils.flop_counter import FlopCounterMode
from transformers import (
    AutoConfig,
    AutoModelForSeq2SeqLM,
    DataCollatorForSeq2Seq,
    PrinterCallback,
    Seq2SeqTrainer,
    Seq2SeqTrainingArguments,
    TrainerCallback,
)

from t5sum.callbacks import NonFiniteLossGuard
from t5sum.data.batching import LABEL_PAD
from t5sum.data.datasets import DialogSumDataModule
from t5sum.model.build import build_model, load_tokenizer
from t5sum.model.module import SummarizationModule

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
PROMPT = "summarize: {document}"
VARIANTS = ("hf", "t5sum-equal", "t5sum-grouped")
Shape = tuple[int, int, int, int, int]  # rows, source width, target width, source tokens, target tokens


class ShapeLog:
    """Wraps a collator and records each batch's padded shape and non-pad token counts, in call order."""

    def __init__(self, collate: Any) -> None:
        self.collate = collate
        self.shapes: list[Shape] = []

    def __call__(self, rows: list[dict[str, Any]]) -> Any:
        batch = self.collate(rows)
        ids, labels = batch["input_ids"], batch["labels"]
        src, tgt = int(batch["attention_mask"].sum()), int((labels != LABEL_PAD).sum())
        self.shapes.append((ids.shape[0], ids.shape[1], labels.shape[1], src, tgt))
        return batch


class StepClock:
    """Wall time at the start of training and at the end of every optimizer step; RSS at the start."""

    def __init__(self) -> None:
        self.marks: list[float] = []
        self.rss_at_start = 0
        self.losses: list[float] = []

    def start(self, *args: Any, **kwargs: Any) -> None:
        self.rss_at_start = psutil.Process().memory_info().rss
        self.tick()

    def tick(self, *args: Any, **kwargs: Any) -> None:
        self.marks.append(time.perf_counter())


class LightningClock(StepClock, L.Callback):
    on_train_start = StepClock.start

    def on_train_batch_end(self, trainer: L.Trainer, module: Any, outputs: Any, batch: Any, i: int) -> None:
        self.tick()
        self.losses.append(float(outputs["loss"]))


class HFClock(StepClock, TrainerCallback):
    on_train_begin = StepClock.start
    on_step_end = StepClock.tick


class FixedOrderTrainer(Seq2SeqTrainer):
    """Reads the (pre-shuffled) train set in order, so its batches are exactly t5sum's."""

    def _get_train_sampler(self, train_dataset: Any = None) -> SequentialSampler:
        return SequentialSampler(train_dataset or self.train_dataset)


def weight_hash(model: torch.nn.Module) -> str:
    digest = hashlib.blake2b(digest_size=8)
    for name, param in model.state_dict().items():
        digest.update(name.encode())
        digest.update(param.detach().contiguous().numpy().tobytes())
    return digest.hexdigest()


def hf_tokenize(tokenizer: Any, rows: dict[str, list], a: argparse.Namespace) -> datasets.Dataset:
    """run_summarization.py's preprocess_function (prefix + truncation, text_target for labels)."""
    sources = [PROMPT.replace("{document}", doc) for doc in rows["document"]]
    enc = tokenizer(sources, max_length=a.max_source_length, truncation=True)
    labels = tokenizer(text_target=rows["summary"], max_length=a.max_target_length, truncation=True)
    return datasets.Dataset.from_dict({**enc, "labels": labels["input_ids"]})


def train_hf(model: Any, tokenizer: Any, dm: DialogSumDataModule, a: argparse.Namespace, tmp: str) -> Any:
    order = [i for batch in dm.train_dataloader().batch_sampler for i in batch]
    rows = dm.splits["train"].select(order).to_dict()
    hf_set = hf_tokenize(tokenizer, rows, a)
    if hf_set[:]["input_ids"] != rows["input_ids"] or hf_set[:]["labels"] != rows["labels"]:
        raise SystemExit("HF-side tokenization differs from t5sum's: the comparison would be unfair")
    hf_args = Seq2SeqTrainingArguments(
        output_dir=tmp,
        per_device_train_batch_size=a.batch_size,
        max_steps=a.warmup_steps + a.steps,
        use_cpu=True,
        report_to=[],
        save_strategy="no",
        logging_strategy="no",
        eval_strategy="no",
        dataloader_num_workers=0,
        dataloader_pin_memory=False,
        group_by_length=False,
        learning_rate=a.lr,
        lr_scheduler_type="linear",
        weight_decay=0.0,
        max_grad_norm=1.0,
        optim="adamw_torch",
        seed=a.seed,
        disable_tqdm=True,
    )
    collator = ShapeLog(DataCollatorForSeq2Seq(tokenizer, model=model, label_pad_token_id=LABEL_PAD))
    clock = HFClock()
    trainer = FixedOrderTrainer(
        model=model, args=hf_args, train_dataset=hf_set, data_collator=collator, callbacks=[clock]
    )
    trainer.remove_callback(PrinterCallback)
    clock.losses = [trainer.train().training_loss]
    return clock, collator


def train_t5sum(model: Any, tokenizer: Any, dm: DialogSumDataModule, a: argparse.Namespace, tmp: str) -> Any:
    collator = dm.collator = ShapeLog(dm.collator)
    module = SummarizationModule(
        model,
        tokenizer,
        optimizer=functools.partial(torch.optim.AdamW, lr=a.lr, betas=(0.9, 0.999), eps=1e-8),
        generation={"max_new_tokens": 64},
    )
    clock = LightningClock()
    trainer = L.Trainer(
        accelerator="cpu",
        devices=1,
        max_steps=a.warmup_steps + a.steps,
        precision="32-true",
        gradient_clip_val=1.0,
        log_every_n_steps=10,
        use_distributed_sampler=False,
        logger=False,
        enable_checkpointing=False,
        limit_val_batches=0,
        num_sanity_val_steps=0,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=tmp,
        callbacks=[clock, NonFiniteLossGuard(tmp)],
    )
    trainer.fit(module, datamodule=dm)
    return clock, collator


def run_variant(variant: str, a: argparse.Namespace) -> dict[str, Any]:
    """One training run in this (fresh) process: step times, batch shapes, memory."""
    torch.set_num_threads(a.threads)
    logging.disable(logging.WARNING)
    warnings.filterwarnings("ignore")
    datasets.disable_progress_bars()
    tokenizer = load_tokenizer(a.tokenizer)
    dm = DialogSumDataModule(
        tokenizer,
        PROMPT,
        name="dialogsum",
        data_dir=a.data_dir,
        max_source_length=a.max_source_length,
        max_target_length=a.max_target_length,
        train_samples=a.samples,
        val_samples=8,
        batch_size=a.batch_size,
        group_by_length=variant == "t5sum-grouped",
        seed=a.seed,
    )
    dm.prepare_split("train")
    torch.manual_seed(a.seed)
    model = build_model("t5-small", a.config)
    init_weights = weight_hash(model)
    with tempfile.TemporaryDirectory() as tmp:
        clock, collator = (train_hf if variant == "hf" else train_t5sum)(model, tokenizer, dm, a, tmp)
    marks, total = clock.marks, a.warmup_steps + a.steps
    if len(marks) != total + 1:
        raise SystemExit(f"{variant} ran {len(marks) - 1} steps, not {total}")
    return {
        "variant": variant,
        "step_s": [end - begin for begin, end in itertools.pairwise(marks)],
        "shapes": collator.shapes[:total],
        "mean_loss": sum(clock.losses) / len(clock.losses),
        "init_weights": init_weights,
        "rss_peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "rss_train_start_mb": clock.rss_at_start / 2**20,
    }


def matmul_flops_per_s(threads: int, n: int = 2048, seconds: float = 1.0) -> float:
    torch.set_num_threads(threads)
    x, y = torch.randn(n, n), torch.randn(n, n)
    x @ y
    runs, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        x @ y
        runs += 1
    return 2 * n**3 * runs / (time.perf_counter() - start)


class FlopCounter:
    """Training FLOPs (forward + backward) of one padded batch shape, counted on a meta-device model."""

    def __init__(self, config: str) -> None:
        with torch.device("meta"):
            self.model = AutoModelForSeq2SeqLM.from_config(AutoConfig.from_pretrained(config)).train()
        self.known: dict[tuple[int, int, int], int] = {}

    def __call__(self, rows: int, source: int, target: int) -> int:
        if (rows, source, target) not in self.known:
            ids = torch.ones(rows, source, dtype=torch.long, device="meta")
            labels = torch.ones(rows, target, dtype=torch.long, device="meta")
            with FlopCounterMode(display=False) as counter:
                self.model(input_ids=ids, attention_mask=torch.ones_like(ids), labels=labels).loss.backward()
            self.known[rows, source, target] = counter.get_total_flops()
        return self.known[rows, source, target]


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data-dir", default=str(SHARED / "data" / "dialogsum"))
    p.add_argument("--config", default=str(SHARED / "models" / "configs" / "t5-small.json"))
    p.add_argument("--tokenizer", default=str(SHARED / "models" / "t5-tokenizer"))
    p.add_argument("--steps", type=int, default=30, help="timed optimizer steps per run")
    p.add_argument("--warmup-steps", type=int, default=3, help="untimed steps before them")
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--max-source-length", type=int, default=512)
    p.add_argument("--max-target-length", type=int, default=128)
    p.add_argument(
        "--samples", type=int, help="training examples drawn (seeded); default: one epoch = all steps"
    )
    p.add_argument("--lr", type=float, default=3e-4)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--threads", type=int, default=2, help="torch.set_num_threads in every run")
    p.add_argument("--repeats", type=int, default=2, help="interleaved rounds of the three variants")
    p.add_argument("--json", type=Path, help="also write every run's numbers here")
    a = p.parse_args()
    a.samples = a.samples or a.batch_size * (a.warmup_steps + a.steps)
    if a.warmup_steps < 1 or a.steps < 1 or a.samples < a.batch_size * (a.warmup_steps + a.steps):
        p.error("need --warmup-steps >= 1, --steps >= 1 and --samples >= batch size x (warmup + steps)")
    return a


def aggregate(runs: list[dict[str, Any]], warmup: int, flops: FlopCounter) -> dict[str, Any]:
    """One variant over its rounds. Each timed step counts at its fastest round (the batches of a variant
    are the same in every round): noise on a shared machine only ever adds time."""
    shapes = runs[0]["shapes"][warmup:]
    if any(r["shapes"][warmup:] != shapes for r in runs):
        raise SystemExit(f"{runs[0]['variant']}: batches differ between rounds")
    step_s = [min(times) for times in zip(*(r["step_s"][warmup:] for r in runs), strict=True)]
    samples, tokens = sum(s[0] for s in shapes), sum(s[3] + s[4] for s in shapes)
    padded, seconds = sum(s[0] * (s[1] + s[2]) for s in shapes), sum(step_s)
    return {
        "step_s": step_s,
        "seconds": seconds,
        "samples_per_s": samples / seconds,
        "tokens_per_s": tokens / seconds,
        "round_samples_per_s": [samples / sum(r["step_s"][warmup:]) for r in runs],
        "padded_tokens": padded,
        "pad_share": 1 - tokens / padded,
        "flops_per_s": sum(flops(*s[:3]) for s in shapes) / seconds,
        "rss_peak_mb": max(r["rss_peak_mb"] for r in runs),
        "rss_train_mb": max(r["rss_peak_mb"] - r["rss_train_start_mb"] for r in runs),
        "mean_loss": runs[0]["mean_loss"],
    }


def report(
    a: argparse.Namespace, runs: list[dict[str, Any]], agg: dict[str, dict[str, Any]], peak: float
) -> None:
    hf, equal, grouped = (agg[v] for v in VARIANTS)
    inits = sorted({r["init_weights"] for r in runs})
    same = all(r["shapes"] == runs[0]["shapes"] for r in runs if r["variant"] != "t5sum-grouped")
    print(f"\nt5-small architecture, RANDOM init: throughput only, not quality. torch {torch.__version__},")
    print(
        f"{a.threads} threads, batch {a.batch_size}, lengths {a.max_source_length}/{a.max_target_length}, ",
        end="",
    )
    print(f"{a.samples} DialogSum train examples (seed {a.seed}),")
    print(f"{a.warmup_steps} untimed + {a.steps} timed steps, {a.repeats} interleaved round(s); ", end="")
    print("each timed step counts at its fastest round")
    print(f"initial weights (blake2b of state dict): {', '.join(inits)}; same in all runs: {len(inits) == 1}")
    print(f"hf and t5sum-equal batches identical (rows, widths, tokens at every step): {same}\n")
    print(
        f"{'variant':<14}{'samples/s':>10}{'tokens/s':>9}{'s/step':>8}{'padded tok':>11}{'pad %':>6}"
        f"{'GFLOP/s':>8}{'% peak':>7}{'RSS MB':>7}{'+train':>7}{'loss':>6}  samples/s per round"
    )
    for variant, v in agg.items():
        print(
            f"{variant:<14}{v['samples_per_s']:>10.3f}{v['tokens_per_s']:>9.0f}{v['seconds'] / a.steps:>8.2f}"
            f"{v['padded_tokens']:>11}{100 * v['pad_share']:>6.1f}{v['flops_per_s'] / 1e9:>8.1f}"
            f"{100 * v['flops_per_s'] / peak:>7.1f}{v['rss_peak_mb']:>7.0f}{v['rss_train_mb']:>7.0f}"
            f"{v['mean_loss']:>6.2f}  {', '.join(f'{x:.3f}' for x in v['round_samples_per_s'])}"
        )
    print("pad %: padding share of source+target positions; RSS MB: peak RSS of the run's process;")
    print("+train: that peak minus RSS when training began; loss: mean training loss of the first round\n")
    paired = statistics.median(h / e for h, e in zip(hf["step_s"], equal["step_s"], strict=True))
    for label, ours, extra in (
        ("equal padding", equal, f"; median per-step ratio on identical batches: {paired:.2f}x"),
        ("length-grouped", grouped, ""),
    ):
        rounds = zip(ours["round_samples_per_s"], hf["round_samples_per_s"], strict=True)
        print(
            f"ratio t5sum/HF ({label}): {ours['samples_per_s'] / hf['samples_per_s']:.2f}x "
            f"(samples/s; {ours['tokens_per_s'] / hf['tokens_per_s']:.2f}x tokens/s; "
            f"per round: {', '.join(f'{o / h:.2f}' for o, h in rounds)}{extra})"
        )
    achieved = {
        v: f"{agg[v]['flops_per_s'] / 1e9:.1f} GFLOP/s ({100 * agg[v]['flops_per_s'] / peak:.0f}%)"
        for v in agg
    }
    print(
        f"matmul peak: {peak / 1e9:.1f} GFLOP/s (2048x2048 fp32, {a.threads} threads); t5sum achieved: "
        f"{achieved['t5sum-equal']} at equal padding, {achieved['t5sum-grouped']} grouped; "
        f"HF: {achieved['hf']}"
    )
    print("FLOPs: torch.utils.flop_counter, forward + backward at each timed batch's padded shape")


def main() -> None:
    a = parse_args()
    spawn = mp.get_context("spawn")
    peaks, runs = [matmul_flops_per_s(a.threads)], []
    for round_ in range(a.repeats):
        for variant in VARIANTS if round_ % 2 == 0 else VARIANTS[::-1]:
            with ProcessPoolExecutor(1, mp_context=spawn, max_tasks_per_child=1) as pool:
                runs.append({"round": round_, **pool.submit(run_variant, variant, a).result()})
            print(
                f"round {round_} {variant}: {sum(runs[-1]['step_s'][a.warmup_steps :]):.1f} s timed",
                flush=True,
            )
        peaks.append(matmul_flops_per_s(a.threads))
    flops = FlopCounter(a.config)
    agg = {v: aggregate([r for r in runs if r["variant"] == v], a.warmup_steps, flops) for v in VARIANTS}
    report(a, runs, agg, max(peaks))
    if a.json:
        args = {k: str(v) if isinstance(v, Path) else v for k, v in vars(a).items()}
        out = {"args": args, "matmul_flops_per_s": peaks, "variants": agg, "runs": runs}
        a.json.write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
