"""Training cost of long inputs: t5-small architecture (random init), source lengths 512..4096, with and
without gradient checkpointing. Prints s/step, source tokens/s and peak RSS per case, and the first length
that does not fit under the memory cap.

    python scripts/bench_long_input.py                       # 512 1024 2048 4096, cap 10 GiB, batch 2
    python scripts/bench_long_input.py --lengths 512 1024 --cap-gib 6 --steps 1

Each (length, checkpointing) case runs in its own process under RLIMIT_AS = the cap, so a case that runs out
of memory fails alone (allocation error) and nothing else on a shared machine is touched.
Random weights: these are cost figures, not quality.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

SHARED_CONFIG = Path(__file__).resolve().parents[2] / "shared" / "models" / "configs" / "t5-small.json"
GIB = 2**30


def worker(args: argparse.Namespace) -> None:
    """One case, in this process only: the cap first, then torch."""
    cap = int(args.cap_gib * GIB)
    resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    try:
        import torch
        from transformers import T5Config, T5ForConditionalGeneration

        torch.manual_seed(0)
        torch.set_num_threads(args.threads)
        model = T5ForConditionalGeneration(T5Config.from_json_file(str(args.config)))
        if args.checkpointing:
            model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        model.train()
        optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
        vocab = model.config.vocab_size
        source = torch.randint(3, vocab, (args.batch_size, args.length))
        labels = torch.randint(3, vocab, (args.batch_size, args.target_length))
        times = []
        for _ in range(args.steps + 1):  # the first step (allocation, warm-up) is not timed
            started = time.perf_counter()
            model(input_ids=source, labels=labels).loss.backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            times.append(time.perf_counter() - started)
        step = sum(times[1:]) / args.steps
        result = {"ok": True, "s_per_step": step, "tokens_per_s": args.batch_size * args.length / step}
    except (MemoryError, RuntimeError) as err:  # torch: "DefaultCPUAllocator: can't allocate memory"
        result = {"ok": False, "error": str(err).splitlines()[0][:120]}
    result["peak_rss_gib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # Linux: KiB
    print(json.dumps(result))


def run_case(args: argparse.Namespace, length: int, checkpointing: bool) -> dict:
    command = [
        sys.executable,
        __file__,
        "--worker",
        f"--length={length}",
        f"--checkpointing={int(checkpointing)}",
        f"--cap-gib={args.cap_gib}",
        f"--batch-size={args.batch_size}",
        f"--target-length={args.target_length}",
        f"--steps={args.steps}",
        f"--threads={args.threads}",
        f"--config={args.config}",
    ]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if not lines:  # killed before it could report (e.g. a signal): count it as over the cap
        return {
            "ok": False,
            "error": f"exit {done.returncode}: {done.stderr.strip()[-120:]}",
            "peak_rss_gib": None,
        }
    return json.loads(lines[-1])


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--lengths", type=int, nargs="+", default=[512, 1024, 2048, 4096])
    parser.add_argument("--cap-gib", type=float, default=10.0, help="RLIMIT_AS per case (address space)")
    parser.add_argument("--batch-size", type=int, default=2)
    parser.add_argument("--target-length", type=int, default=128)
    parser.add_argument("--steps", type=int, default=2, help="timed steps after one untimed warm-up step")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--config", type=Path, default=SHARED_CONFIG)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--length", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--checkpointing", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args)
        return
    if not args.config.is_file():
        sys.exit(f"{args.config} is missing: pass --config <a t5-small config.json>.")
    print(
        f"t5-small architecture, random init, batch {args.batch_size}, target {args.target_length} tokens, "
        f"{args.threads} threads, AdamW, fp32, {args.steps} timed steps, cap {args.cap_gib:g} GiB per case\n"
    )
    print("| source tokens | checkpointing | s/step | source tokens/s | peak RSS |")
    print("|---:|---|---:|---:|---:|")
    first_over: dict[bool, int | None] = {False: None, True: None}
    for length in args.lengths:
        for checkpointing in (False, True):
            if first_over[checkpointing] is not None:  # a longer input only needs more memory
                print(f"| {length} | {'on' if checkpointing else 'off'} | skipped | | > cap |")
                continue
            r = run_case(args, length, checkpointing)
            peak = f"{r['peak_rss_gib']:.2f} GiB" if r.get("peak_rss_gib") is not None else "n/a"
            if r["ok"]:
                row = f"{r['s_per_step']:.2f} | {r['tokens_per_s']:.0f} | {peak}"
            else:
                first_over[checkpointing] = length
                row = f"out of memory | | {peak} (cap) - {r['error']}"
            print(f"| {length} | {'on' if checkpointing else 'off'} | {row} |", flush=True)
    for checkpointing, length in first_over.items():
        label = "with" if checkpointing else "without"
        where = f"{length} tokens" if length else f"none up to {max(args.lengths)} tokens"
        print(f"\nFirst length over the {args.cap_gib:g} GiB cap {label} gradient checkpointing: {where}.")


if __name__ == "__main__":
    main()
