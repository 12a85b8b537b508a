"""The int8 draft of the LM head: its bound holds for any hidden state, outliers included."""

from __future__ import annotations

import numpy as np
import pytest

from t5sum.inference.draft_head import DraftHead, draft_matmul, quantize_rows

pytest.importorskip("onnxruntime", reason="needs the onnx extra: pip install -e '.[onnx]'")


def draft_session(codes: np.ndarray, scales: np.ndarray, vocab: int, width: int):
    import onnxruntime as ort
    from onnx import TensorProto, helper, numpy_helper

    graph = helper.make_graph(
        [draft_matmul("h", "codes", "scales", "draft", width, vocab)],
        "draft_head",
        [helper.make_tensor_value_info("h", TensorProto.FLOAT, ["rows", width])],
        [helper.make_tensor_value_info("draft", TensorProto.FLOAT, ["rows", vocab])],
        [numpy_helper.from_array(codes, "codes"), numpy_helper.from_array(scales, "scales")],
    )
    opsets = [helper.make_opsetid("", 17), helper.make_opsetid("com.microsoft", 1)]
    model = helper.make_model(graph, opset_imports=opsets)
    return ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])


@pytest.mark.parametrize("hidden_kind", ["gaussian", "outliers", "tiny", "one block"])
def test_exact_logits_lie_within_the_draft_bound(hidden_kind: str) -> None:
    """onnxruntime's MatMulNBits (int8 weights and int8 activations) against the exact product, in float64:
    the bound must cover both quantizations (the weights' and the activation's, per block of 32)."""
    rng = np.random.default_rng(0)
    vocab, width = 3000, 256
    weight = (rng.standard_normal((vocab, width)) * rng.uniform(0.1, 3, (vocab, 1))).astype(np.float32)
    codes, scales = quantize_rows(weight)
    head = DraftHead(weight, codes, scales)
    hidden = rng.standard_normal((6, width)).astype(np.float32)
    if hidden_kind == "outliers":  # one huge value per row: its block's activation step is coarse
        hidden[np.arange(6), rng.integers(0, width, 6)] *= 300
    elif hidden_kind == "tiny":
        hidden *= 1e-4
    elif hidden_kind == "one block":
        hidden[:, 32:] = 0
    draft = draft_session(codes, scales, vocab, width).run(None, {"h": hidden})[0]
    logits = head.logits(draft, hidden)
    exact = hidden.astype(np.float64) @ weight.astype(np.float64).T
    every = np.arange(vocab)
    token_bound = np.stack([logits.token_bound(row, every) for row in range(len(hidden))])
    assert (np.abs(exact - draft) < token_bound).all()
    assert (token_bound <= logits.bound[:, None]).all()  # the row's bound covers each token's
    if hidden_kind != "outliers":  # bounds that still prune (outliers make the activation step coarse)
        assert token_bound.mean() < 0.5 * exact.std()
    ids = np.array([3, 70, 2999])
    np.testing.assert_allclose(logits.exact(1, ids), exact[1, ids], rtol=1e-4, atol=1e-6)


def test_activation_error_is_part_of_the_bound() -> None:
    """Weights on the int8 grid (no weight error at all): whatever separates the draft from the exact logits
    is the activation's quantization, and the bound still covers it."""
    rng = np.random.default_rng(1)
    vocab, width = 2000, 128
    grid = rng.integers(-127, 128, (vocab, width))
    grid[:, ::32] = 127  # each block's largest weight sets its scale: exactly 2**-7
    weight = (grid * 2.0**-7).astype(np.float32)
    codes, scales = quantize_rows(weight)
    head = DraftHead(weight, codes, scales)
    assert not head.error_norm.any()
    hidden = rng.standard_normal((4, width)).astype(np.float32)
    draft = draft_session(codes, scales, vocab, width).run(None, {"h": hidden})[0]
    exact = hidden.astype(np.float64) @ weight.astype(np.float64).T
    assert np.abs(exact - draft).max() > 1e-3 * np.abs(exact).max()  # the activation was quantized
    logits = head.logits(draft, hidden)
    token_bound = np.stack([logits.token_bound(row, np.arange(vocab)) for row in range(len(hidden))])
    assert (np.abs(exact - draft) < token_bound).all()
