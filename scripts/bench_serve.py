#!/usr/bin/env python
"""Load test of `python -m t5sum.serve`: micro-batching on vs batch size 1, same model, texts and clients.

Builds the t5-small architecture (random init: throughput only) as a t5sum model dir, starts the real server
(uvicorn, 127.0.0.1) twice, once per batching mode, and drives it with aiohttp clients: for each number of
concurrent clients, every client sends DialogSum test dialogues back to back for `--seconds` (bounded), each
asking for exactly `--new-tokens` greedy tokens so random weights still do equal work. A separate prober
hits /health every 50 ms meanwhile. Prints requests/s, p50/p95/p99 latency, error share and health p99.

`--backend onnx` (or `int8`) serves the model's ONNX export instead (exported first, parity gate included).

Usage: python scripts/bench_serve.py [--clients 1 4 16 64] [--seconds 20] [--new-tokens 32]
       [--backend torch|onnx|int8]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
from bench_inference import make_model_dir  # scripts/ is on sys.path when run as a script

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
KEY = "bench-key-0123456789abcdef"


def dialogues(limit: int) -> list[str]:
    path = SHARED / "data" / "dialogsum" / "test.jsonl"
    if not path.is_file():
        path = ROOT / "t5sum" / "resources" / "sample" / "test.jsonl"
    rows = [json.loads(line) for line in path.open()]
    return [row.get("dialogue") or row["document"] for row in rows][:limit]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(model_dir: Path, port: int, batch_size: int, wait_ms: int, threads: int) -> subprocess.Popen:
    command = [
        sys.executable, "-m", "t5sum.serve", f"run_dir={model_dir}", f"serve.port={port}",
        f"threads={threads}", f"batching.max_batch_size={batch_size}", f"batching.max_wait_ms={wait_ms}",
        "batching.max_queue=1024", "limits.timeout_s=120",
    ]  # fmt: skip
    env = {**os.environ, "T5SUM_API_KEYS": KEY, "HF_HUB_OFFLINE": "1"}
    return subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


async def wait_ready(url: str, server: subprocess.Popen) -> None:
    async with aiohttp.ClientSession() as http:
        for _ in range(600):
            if server.poll() is not None:
                raise RuntimeError("the server exited during start-up")
            try:
                async with http.get(f"{url}/ready", headers={"Authorization": f"Bearer {KEY}"}) as r:
                    if r.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.2)
    raise RuntimeError("the server never became ready")


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


async def load(url: str, texts: list[str], clients: int, seconds: float, new_tokens: int) -> dict[str, float]:
    latencies: list[float] = []
    errors = 0
    health: list[float] = []
    stop_at = time.perf_counter() + seconds
    headers = {"Authorization": f"Bearer {KEY}"}
    parameters = {"max_new_tokens": new_tokens, "min_new_tokens": new_tokens, "num_beams": 1}

    async def client(index: int, http: aiohttp.ClientSession) -> None:
        nonlocal errors
        i = index
        while time.perf_counter() < stop_at:
            body = {"text": texts[i % len(texts)], "parameters": parameters}
            i += clients
            started = time.perf_counter()
            try:
                async with http.post(f"{url}/score", json=body, headers=headers) as r:
                    await r.read()
                    ok = r.status == 200
            except aiohttp.ClientError:
                ok = False
            if ok:
                latencies.append(time.perf_counter() - started)
            else:
                errors += 1

    async def prober(http: aiohttp.ClientSession) -> None:
        while time.perf_counter() < stop_at:
            started = time.perf_counter()
            async with http.get(f"{url}/health") as r:
                await r.read()
            health.append(time.perf_counter() - started)
            await asyncio.sleep(0.05)

    connector = aiohttp.TCPConnector(limit=clients + 4)
    timeout = aiohttp.ClientTimeout(total=180)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as http:
        began = time.perf_counter()
        await asyncio.gather(prober(http), *(client(i, http) for i in range(clients)))
        elapsed = time.perf_counter() - began
    done = len(latencies)
    return {
        "rps": done / elapsed,
        "p50": pct(latencies, 50),
        "p95": pct(latencies, 95),
        "p99": pct(latencies, 99),
        "errors": errors / max(1, done + errors),
        "health_p99_ms": 1000 * pct(health, 99),
        "requests": done,
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", type=Path, default=SHARED / "models" / "configs" / "t5-small.json")
    p.add_argument("--tokenizer", type=Path, default=SHARED / "models" / "t5-tokenizer")
    p.add_argument("--clients", type=int, nargs="+", default=[1, 4, 16, 64])
    p.add_argument("--seconds", type=float, default=20.0)
    p.add_argument("--new-tokens", type=int, default=32)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--wait-ms", type=int, default=10)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--backend", choices=["torch", "onnx", "int8"], default="torch")
    args = p.parse_args()
    texts = dialogues(256)
    modes = {"batching": (args.batch_size, args.wait_ms), "batch size 1": (1, 0)}
    results: dict[tuple[str, int], dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        model_dir = make_model_dir(Path(tmp), args.config, args.tokenizer, max_source_length=512)
        if args.backend != "torch":
            from t5sum.inference.onnx_export import export_onnx

            quantize = "int8" if args.backend == "int8" else None
            model_dir = export_onnx(model_dir, Path(tmp) / "onnx", quantize=quantize)
        print(
            f"{args.backend} backend, "
            f"t5-small architecture, RANDOM init (throughput only), {len(texts)} dialogues, exactly "
            f"{args.new_tokens} greedy tokens per request, server threads {args.threads}, "
            f"{args.seconds:.0f} s per cell"
        )
        for mode, (batch_size, wait_ms) in modes.items():
            port = free_port()
            server = start_server(model_dir, port, batch_size, wait_ms, args.threads)
            url = f"http://127.0.0.1:{port}"
            try:
                asyncio.run(wait_ready(url, server))
                for clients in args.clients:
                    results[mode, clients] = asyncio.run(
                        load(url, texts, clients, args.seconds, args.new_tokens)
                    )
                    r = results[mode, clients]
                    print(
                        f"{mode:>13} {clients:>3} clients: {r['rps']:6.2f} req/s  p50 {r['p50']:6.2f} s  "
                        f"p95 {r['p95']:6.2f} s  p99 {r['p99']:6.2f} s  errors {r['errors']:.1%}  "
                        f"health p99 {r['health_p99_ms']:.1f} ms  ({r['requests']:.0f} requests)",
                        flush=True,
                    )
            finally:
                server.send_signal(signal.SIGTERM)
                server.wait(timeout=60)
    print("\nthroughput, batching / batch size 1:")
    for clients in args.clients:
        ratio = results["batching", clients]["rps"] / results["batch size 1", clients]["rps"]
        print(f"  {clients:>3} clients: {ratio:.2f}x")


if __name__ == "__main__":
    main()
