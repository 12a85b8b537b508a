"""Exact greedy decoding through an int8 draft of the LM head (t5sum's fp32 decoder step).

At batch 1 a decoder step streams every decoder weight from memory, and the fp32 LM head (vocabulary x
d_model: 66 MB of t5-small's 154 MB per step) is the largest single read. Greedy search only needs the
argmax, so the step offers a second head: the same matrix in int8 (symmetric blocks of 32, MatMulNBits with
int8 dot products), a quarter of the bytes. Its logits are within a bound of the exact ones, token by
token, and the bound is cheap to compute:

    exact_r - draft_r = (H_r - Q_r) . h + Q_r . (h - q(h))
    |exact_r - draft_r| <= |H_r - Q_r| |h| + |Q_r| |h - q(h)|
                        <= max_r |H_r - Q_r| |h| + max_r |Q_r| |h - q(h)|

with H the fp32 head, Q its int8 dequantized copy (both fixed: their row norms are computed once), h the
final hidden state, and q(h) the int8 activation the kernel multiplies (blocks of 32 at amax / 127, so each
element is off by at most half a step; the bound allows a whole step, and a relative 1e-4 for float
rounding), one bound per hidden state. A token can only be the argmax if its upper bound reaches the best
lower bound; those few
candidates (one per step on random t5-small weights) are computed exactly from the fp32 rows, and their
argmax is the exact argmax. Beam search and the parity gate's logit comparison use the fp32 head.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

BLOCK = 32  # MatMulNBits block along d_model; the activation is quantized in the same blocks
METADATA_KEY = "t5sum.draft_head"  # step-graph metadata: which initializer is the exact head, its scale
FULL_LOGITS = "full_logits"  # step-graph input: True computes the fp32 head, False the int8 draft
HIDDEN = "hidden"  # step-graph output: the final (normed) hidden state the heads multiply
ACTIVATION_STEPS = 1.0  # |h - q(h)| per element, in quantization steps (round to nearest: 0.5)
FLOAT_SLACK = 1e-4  # relative to |Q_r| |h|: float rounding of both products


def quantize_rows(head: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """MatMulNBits' 8-bit symmetric layout of `head` [vocab, d_model]: codes [vocab, blocks, BLOCK] uint8
    (zero point 128) and one float32 scale per block [vocab * blocks]."""
    vocab, width = head.shape
    blocks = head.reshape(vocab, width // BLOCK, BLOCK)
    scales = np.abs(blocks).max(axis=-1) / 127
    safe = np.where(scales > 0, scales, 1.0)[..., None]
    codes = np.clip(np.rint(blocks / safe), -127, 127).astype(np.int16) + 128
    return codes.astype(np.uint8), scales.astype(np.float32).reshape(-1)


def dequantize_rows(codes: np.ndarray, scales: np.ndarray) -> np.ndarray:
    vocab, blocks, _ = codes.shape
    values = (codes.astype(np.float32) - 128) * scales.reshape(vocab, blocks, 1)
    return values.reshape(vocab, blocks * BLOCK)


def draft_matmul(hidden: str, codes: str, scales: str, output: str, d_model: int, vocab: int):
    """The ONNX node of the draft head: int8 weights, int8 dot products (accuracy level 4: the activation
    is quantized too, and its error is part of the bound)."""
    from onnx import helper

    return helper.make_node(
        "MatMulNBits", [hidden, codes, scales], [output], name=output, domain="com.microsoft",
        K=d_model, N=vocab, bits=8, block_size=BLOCK, accuracy_level=4,
    )  # fmt: skip


def supports_draft(d_model: int) -> bool:
    return d_model % BLOCK == 0


@dataclass
class DraftLogits:
    """Draft logits [rows, vocab], each within `bound[row]` of the exact one (|exact - draft| <= bound);
    `token_bound(row, ids)`, tighter bounds for a few tokens of one row; `exact(row, ids)`, their exact
    logits."""

    draft: np.ndarray
    bound: np.ndarray  # [rows]
    token_bound: Callable[[int, np.ndarray], np.ndarray]
    exact: Callable[[int, np.ndarray], np.ndarray]

    def row(self, index: int) -> DraftLogits:
        def token_bound(_: int, ids: np.ndarray) -> np.ndarray:
            return self.token_bound(index, ids)

        def exact(_: int, ids: np.ndarray) -> np.ndarray:
            return self.exact(index, ids)

        return DraftLogits(self.draft[index : index + 1], self.bound[index : index + 1], token_bound, exact)

    @property
    def low(self) -> np.ndarray:
        return self.draft - self.bound[:, None]

    @property
    def high(self) -> np.ndarray:
        return self.draft + self.bound[:, None]


class DraftHead:
    """The step graph's fp32 head and the row norms that bound its int8 draft."""

    def __init__(self, weight: np.ndarray, codes: np.ndarray, scales: np.ndarray) -> None:
        self.weight = weight  # the exact head [vocab, d_model], its scale included
        draft = dequantize_rows(codes, scales)
        self.error_norm = np.linalg.norm(weight - draft, axis=1)  # |H_r - Q_r| per token
        self.draft_norm = np.linalg.norm(draft, axis=1)  # |Q_r|
        # first one bound per hidden state, from the largest row norms (bounds for all 32k tokens took 0.3 ms
        # a step in numpy, with the caches cold after the step), then per-token bounds for the few left
        self.largest = float(self.error_norm.max()), float(self.draft_norm.max())

    @classmethod
    def from_step_graph(cls, path: Path) -> DraftHead | None:
        """The draft head of a t5sum step graph; None for graphs without one (int8 exports, other models)."""
        import onnx
        from onnx import numpy_helper

        model = onnx.load(str(path))
        meta = {p.key: p.value for p in model.metadata_props}
        if METADATA_KEY not in meta:
            return None
        spec = json.loads(meta[METADATA_KEY])
        weights = {t.name: t for t in model.graph.initializer if t.name in spec["initializers"]}
        exact, codes, scales = (numpy_helper.to_array(weights[name]) for name in spec["initializers"])
        return cls(exact * np.float32(spec["scale"]), codes, scales)

    def logits(self, draft: np.ndarray, hidden: np.ndarray) -> DraftLogits:
        """Bounds of the draft logits [rows, vocab] from the hidden states [rows, d_model] behind them."""
        hidden = np.ascontiguousarray(hidden, dtype=np.float32)
        blocks = hidden.reshape(len(hidden), -1, BLOCK)
        step = np.abs(blocks).max(axis=-1) / 127  # the kernel's activation scale per block
        activation_error = ACTIVATION_STEPS * np.sqrt(BLOCK * (step**2).sum(axis=-1))  # >= |h - q(h)|
        size = np.linalg.norm(hidden, axis=-1)
        other = activation_error + FLOAT_SLACK * size
        error, norm = self.largest
        return DraftLogits(
            draft,
            error * size + norm * other,
            lambda row, ids: self.error_norm[ids] * size[row] + self.draft_norm[ids] * other[row],
            lambda row, ids: self.weight[ids] @ hidden[row],
        )
