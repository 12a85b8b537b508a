#!/usr/bin/env python
"""How fast can an fp32 decoder step be on this machine? A batch-1 step reads every weight once, so the
bound is weight bytes / matrix-vector bandwidth. This prints onnxruntime's matrix-vector bandwidth (a chain
of t5-small-shaped MatMuls, 96 MB, far over the cache), numpy's plain read bandwidth for comparison, and,
with --onnx-dir, the weight bytes of that export's decoder step and the step time they imply.

Usage: python scripts/bench_gemv.py [--onnx-dir <run>/onnx] [--threads 1 2]
"""

from __future__ import annotations

import argparse
import statistics
import threading
import time
from pathlib import Path

import numpy as np

D_MODEL, D_FF, LAYERS = 512, 2048, 24


def matmul_chain() -> tuple[bytes, float]:
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    nodes, weights, x = [], [], "x"
    for i in range(LAYERS):
        shape = (D_MODEL, D_FF) if i % 2 == 0 else (D_FF, D_MODEL)
        weight = (rng.standard_normal(shape) * 0.01).astype(np.float32)
        weights.append(numpy_helper.from_array(weight, f"w{i}"))
        nodes.append(helper.make_node("MatMul", [x, f"w{i}"], [f"y{i}"]))
        x = f"y{i}"
    graph = helper.make_graph(
        nodes,
        "chain",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", D_MODEL])],
        [helper.make_tensor_value_info(x, TensorProto.FLOAT, ["batch", D_MODEL])],
        weights,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    return model.SerializeToString(), LAYERS * D_MODEL * D_FF * 4 / 1e9


def median_seconds(fn, repeats: int = 30) -> float:
    for _ in range(5):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def ort_bandwidth(threads: int) -> float:
    import onnxruntime as ort

    from t5sum.inference.onnx_backend import session_options

    graph, gigabytes = matmul_chain()
    session = ort.InferenceSession(graph, session_options(threads), providers=["CPUExecutionProvider"])
    x = np.ones((1, D_MODEL), np.float32)
    return gigabytes / median_seconds(lambda: session.run(None, {"x": x}))


def numpy_read_bandwidth(threads: int) -> float:
    data = np.ones(threads * 32 * 2**20, np.float32)  # 128 MB per thread
    parts = np.array_split(data, threads)

    def read() -> None:
        workers = [threading.Thread(target=part.sum) for part in parts]
        for w in workers:
            w.start()
        for w in workers:
            w.join()

    return data.nbytes / 1e9 / median_seconds(read, repeats=5)


def step_weight_gigabytes(onnx_dir: Path) -> float:
    """Weight bytes a greedy step reads: every initializer a node multiplies (embedding rows aside; with a
    draft head, the int8 draft of the LM head, which greedy search reads, instead of the fp32 head)."""
    import onnx

    model = onnx.load(str(onnx_dir / "decoder_with_past_model.onnx"))
    nodes = list(model.graph.node)
    for node in nodes[:]:
        if node.op_type == "If":  # the LM heads: greedy reads the else branch (the draft)
            nodes += next(a.g.node for a in node.attribute if a.name == "else_branch")
    read = {i for n in nodes if n.op_type != "Gather" for i in n.input}
    sizes = [onnx.numpy_helper.to_array(w).nbytes for w in model.graph.initializer if w.name in read]
    return sum(sizes) / 1e9


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--onnx-dir", type=Path)
    p.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    args = p.parse_args()
    rates = {}
    for threads in args.threads:
        rates[threads] = ort_bandwidth(threads)
        print(
            f"{threads} thread(s): onnxruntime MatMul chain at batch 1 {rates[threads]:.1f} GB/s, "
            f"numpy read {numpy_read_bandwidth(threads):.1f} GB/s",
            flush=True,
        )
    if args.onnx_dir:
        gigabytes = step_weight_gigabytes(args.onnx_dir)
        best = max(rates.values())
        print(
            f"{args.onnx_dir}: a greedy decoder step reads {gigabytes * 1000:.0f} MB of weights "
            f"(embedding rows aside) -> at least {gigabytes / best * 1000:.1f} ms per step at {best:.1f} GB/s"
        )


if __name__ == "__main__":
    main()
