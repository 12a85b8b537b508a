"""A hand-built T5 decoder-step graph (the `decoder_with_past_model.onnx` of an export), about 14 nodes per
layer instead of the exporter's ~65.

At batch 1 a decoder step is a chain of matrix-vector products, and the exported graph spends a third of
each step on ~400 small nodes around them (shape arithmetic, reshapes, transposes, cache concatenation).
This graph writes the step with onnxruntime's CPU contrib ops:
- `MultiHeadAttention`: the self-attention cache is its past/present; the cross-attention cache is read
  in place;
- `SkipSimplifiedLayerNormalization`: each residual add and the norm after it in one node;
- `FusedMatMul` with transB: the weights keep torch's [out, in] layout (onnxruntime's batch-1 kernels read
  it slightly faster), and the tied LM head reads the embedding table itself, its d_model**-0.5 as alpha.
- an int8 draft of the LM head beside the fp32 one (fp32 exports of models whose d_model is a multiple of
  32): `full_logits` picks one per call (an `If`), and `hidden` returns the final hidden state, from which
  greedy search gets the exact argmax through the draft's bounds (`t5sum.inference.draft_head`).
The relative position bias takes its bucket indices as an input (`position_buckets`, [new tokens, keys]),
computed outside the graph by `decoder_position_buckets`; the bias table itself stays in the graph, with one
more row that masks a key after its query. So a step can also take several new tokens at once (each sees the
cache and the new tokens before it): the speculative greedy search verifies its drafts that way.

Inputs and outputs keep the exporter's names, so the sessions and the cache handling stay the same; the
export's parity gate checks the result against PyTorch like any other graph.
"""

from __future__ import annotations

import json
import math
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

from t5sum.inference.draft_head import (
    FULL_LOGITS,
    HIDDEN,
    METADATA_KEY,
    draft_matmul,
    quantize_rows,
    supports_draft,
)

STEP_GRAPH = "decoder_with_past_model.onnx"
MAX_GRAPH_BYTES = 1.8e9  # one protobuf holds under 2 GB; larger models keep the exporter's graph
# feed-forward activations: t5 (relu), t5-v1.1 and flan-t5 (gated gelu_new, whose tanh form is FastGelu)
SUPPORTED_ACTIVATIONS = {"relu": "Relu", "gelu_new": "FastGelu"}
POSITION_BIAS_NODE = "bias_rows"  # the Gather from the relative-position table (int8 export leaves it fp32)


def replace_decoder_step(model, onnx_dir: Path, draft_head: bool = True) -> str:
    """Write t5sum's decoder step over the exporter's for T5 models; returns which graph the export uses.
    `draft_head` adds the int8 draft of the LM head that exact greedy decoding reads (fp32 exports)."""
    step_bytes = 4 * sum(p.numel() for p in [*model.decoder.parameters(), *model.lm_head.parameters()])
    config = model.config
    if (
        config.model_type != "t5"
        or config.dense_act_fn not in SUPPORTED_ACTIVATIONS
        or step_bytes > MAX_GRAPH_BYTES
    ):
        return "optimum"
    (onnx_dir / STEP_GRAPH).write_bytes(build_decoder_step(model, draft_head))
    if draft_head and supports_draft(config.d_model):
        return "t5sum (MultiHeadAttention, int8 draft LM head for exact greedy)"
    return "t5sum (MultiHeadAttention)"


@lru_cache(maxsize=4096)
def decoder_position_buckets(
    length: int, num_buckets: int, max_distance: int, queries: int = 1
) -> np.ndarray:
    """[queries, length]: T5's unidirectional relative-position bucket of every key position for each of the
    last `queries` positions (transformers' `T5Attention._relative_position_bucket` with bidirectional=False,
    in float32 like it); a key after its query gets bucket `num_buckets`, whose bias row masks it."""
    query_positions = torch.arange(length - queries, length)[:, None]
    distance = query_positions - torch.arange(length)[None, :]  # query position minus key position
    max_exact = num_buckets // 2
    log_ratio = torch.log(distance.clamp(min=1).float() / max_exact) / math.log(max_distance / max_exact)
    large = max_exact + (log_ratio * (num_buckets - max_exact)).to(torch.long)
    large = torch.min(large, torch.full_like(large, num_buckets - 1))
    buckets = torch.where(distance < max_exact, distance, large)
    buckets = torch.where(distance < 0, num_buckets, buckets).numpy()
    buckets.flags.writeable = False  # cached: shared by every call
    return buckets


MASKED_BIAS = -1.0e9  # the bias of a key after its query (bucket `num_buckets`)


def build_decoder_step(model, draft_head: bool = True) -> bytes:
    """The decoder-with-past graph of a `T5ForConditionalGeneration` (LoRA merged), serialized."""
    from onnx import TensorProto, helper, numpy_helper

    config = model.config
    heads, d_kv, d_model = config.num_heads, config.d_kv, config.d_model
    inner = heads * d_kv
    nodes, weights = [], []

    def constant(name: str, array: np.ndarray) -> str:
        weights.append(numpy_helper.from_array(array, name))
        return name

    def weight(name: str, tensor: torch.Tensor) -> str:
        return constant(name, tensor.detach().float().numpy().copy())

    def node(op: str, inputs: list[str], output: str | list[str], **attrs) -> str:
        outputs = [output] if isinstance(output, str) else output
        contrib = ("MultiHeadAttention", "FastGelu", "FusedMatMul", "SkipSimplifiedLayerNormalization")
        domain = "com.microsoft" if op in contrib else ""
        nodes.append(helper.make_node(op, inputs, outputs, name=outputs[0], domain=domain, **attrs))
        return outputs[0]

    def norm(x: str, module, name: str) -> str:
        scale = weight(f"{name}.weight", module.weight)
        epsilon = module.variance_epsilon
        return node("SimplifiedLayerNormalization", [x, scale], name, axis=-1, epsilon=epsilon)

    def add_norm(hidden: str, out: str, module, name: str) -> tuple[str, str]:
        """(norm(hidden + out), hidden + out) in one node."""
        scale = weight(f"{name}.weight", module.weight)
        outputs = [name, "", "", f"{name}.residual"]
        op = "SkipSimplifiedLayerNormalization"
        node(op, [hidden, out, scale], outputs, epsilon=module.variance_epsilon)
        return name, f"{name}.residual"

    def linear(x: str, module, name: str) -> str:
        return node("FusedMatMul", [x, weight(f"{name}.weight", module.weight)], name, transB=1)

    decoder = model.decoder
    act = SUPPORTED_ACTIVATIONS[config.dense_act_fn]
    node("Cast", ["encoder_attention_mask"], "mask_int32", to=TensorProto.INT32)
    hidden = node("Gather", [weight("embed_tokens", decoder.embed_tokens.weight), "input_ids"], "embedded")
    table = decoder.block[0].layer[0].SelfAttention.relative_attention_bias.weight  # [buckets, heads]
    masked_row = torch.full((1, heads), MASKED_BIAS)
    table = weight("relative_attention_bias", torch.cat([table.detach().float(), masked_row]))
    bias = node("Gather", [table, "position_buckets"], POSITION_BIAS_NODE)  # [queries, keys, heads]
    bias = node("Transpose", [bias], "bias_heads", perm=[2, 0, 1])  # [heads, queries, keys]
    bias = node("Unsqueeze", [bias, constant("bias_axes", np.array([0]))], "position_bias")
    out = None  # the previous layer's feed-forward output, added to the residual by the next norm
    for i, block in enumerate(decoder.block):
        own, cross, ff = block.layer
        prefix = f"layer{i}"
        if out is None:
            x = norm(hidden, own.layer_norm, f"{prefix}.self_norm")
        else:
            x, hidden = add_norm(hidden, out, own.layer_norm, f"{prefix}.self_norm")
        attention = own.SelfAttention
        qkv_weight = torch.cat([attention.q.weight, attention.k.weight, attention.v.weight])
        qkv = node("FusedMatMul", [x, weight(f"{prefix}.qkv.weight", qkv_weight)], f"{prefix}.qkv", transB=1)
        split = constant(f"{prefix}.qkv.split", np.array([inner] * 3))
        q, k, v = (f"{prefix}.{part}" for part in "qkv")
        node("Split", [qkv, split], [q, k, v], axis=-1)
        past = [f"past_key_values.{i}.decoder.key", f"past_key_values.{i}.decoder.value"]
        present = [f"present.{i}.decoder.key", f"present.{i}.decoder.value"]
        attended = node(
            "MultiHeadAttention",
            [q, k, v, "", "", "position_bias", *past],  # no bias, no padding mask: the bias masks
            [f"{prefix}.self_attention", *present],
            num_heads=heads,
            scale=1.0,
        )
        out = linear(attended, attention.o, f"{prefix}.self_out")
        x, hidden = add_norm(hidden, out, cross.layer_norm, f"{prefix}.cross_norm")
        q = linear(x, cross.EncDecAttention.q, f"{prefix}.cross_q")
        attended = node(
            "MultiHeadAttention",
            [q, f"past_key_values.{i}.encoder.key", f"past_key_values.{i}.encoder.value", "", "mask_int32"],
            f"{prefix}.cross_attention",
            num_heads=heads,
            scale=1.0,
        )
        out = linear(attended, cross.EncDecAttention.o, f"{prefix}.cross_out")
        x, hidden = add_norm(hidden, out, ff.layer_norm, f"{prefix}.ff_norm")
        dense = ff.DenseReluDense
        if config.is_gated_act:  # t5-v1.1 / flan-t5: act(x wi_0) * (x wi_1)
            gate = node(act, [linear(x, dense.wi_0, f"{prefix}.wi_0")], f"{prefix}.act")
            up = node("Mul", [gate, linear(x, dense.wi_1, f"{prefix}.wi_1")], f"{prefix}.gated")
        else:
            up = node(act, [linear(x, dense.wi, f"{prefix}.wi")], f"{prefix}.act")
        out = linear(up, dense.wo, f"{prefix}.wo")
    hidden, _ = add_norm(hidden, out, decoder.final_layer_norm, "final_norm")
    if config.tie_word_embeddings:
        head, scale = "embed_tokens", d_model**-0.5
    else:
        head, scale = weight("lm_head.weight", model.lm_head.weight), 1.0
    draft = draft_head and supports_draft(d_model)
    exact_logits = "exact_logits" if draft else "logits"
    exact_head = helper.make_node(
        "FusedMatMul", [hidden, head], [exact_logits], name=exact_logits, domain="com.microsoft", transB=1,
        alpha=scale,
    )  # fmt: skip
    if not draft:
        nodes.append(exact_head)
    else:  # `full_logits` picks the fp32 head or its int8 draft (t5sum.inference.draft_head)
        exact = next(w for w in weights if w.name == head)
        codes, scales = quantize_rows(numpy_helper.to_array(exact) * np.float32(scale))
        codes_name, scales_name = constant("draft_head.codes", codes), constant("draft_head.scales", scales)
        draft_head_node = draft_matmul(
            hidden, codes_name, scales_name, "draft_logits", d_model, config.vocab_size
        )
        then_output, else_output = (
            helper.make_tensor_value_info(name, TensorProto.FLOAT, None)
            for name in (exact_logits, "draft_logits")
        )
        nodes.append(
            helper.make_node(
                "If",
                [FULL_LOGITS],
                ["logits"],
                name="head",
                then_branch=helper.make_graph([exact_head], "exact_head", [], [then_output]),
                else_branch=helper.make_graph([draft_head_node], "draft_head", [], [else_output]),
            )
        )
        node("Identity", [hidden], HIDDEN)

    def value(name: str, shape: list, dtype=TensorProto.FLOAT):
        return helper.make_tensor_value_info(name, dtype, shape)

    past_shape = ["batch_size", heads, "past_decoder_sequence_length", d_kv]
    cached_shape = ["batch_size", heads, "encoder_sequence_length", d_kv]
    total = "past_decoder_sequence_length + decoder_sequence_length"
    present_shape = ["batch_size", heads, total, d_kv]
    inputs = [
        value("input_ids", ["batch_size", "decoder_sequence_length"], TensorProto.INT64),
        value("encoder_attention_mask", ["batch_size", "encoder_sequence_length"], TensorProto.INT64),
        value("position_buckets", ["decoder_sequence_length", total], TensorProto.INT64),
    ]
    outputs = [value("logits", ["batch_size", "decoder_sequence_length", config.vocab_size])]
    if draft:
        inputs.append(value(FULL_LOGITS, [], TensorProto.BOOL))
        outputs.append(value(HIDDEN, ["batch_size", "decoder_sequence_length", d_model]))
    for i in range(len(decoder.block)):
        inputs += [value(f"past_key_values.{i}.decoder.{kv}", past_shape) for kv in ("key", "value")]
        inputs += [value(f"past_key_values.{i}.encoder.{kv}", cached_shape) for kv in ("key", "value")]
        outputs += [value(f"present.{i}.decoder.{kv}", present_shape) for kv in ("key", "value")]
    graph = helper.make_graph(nodes, "t5sum_decoder_step", inputs, outputs, weights)
    opsets = [helper.make_opsetid("", 17), helper.make_opsetid("com.microsoft", 1)]
    model_proto = helper.make_model(graph, opset_imports=opsets)
    if draft:
        spec = {"initializers": [head, "draft_head.codes", "draft_head.scales"], "scale": scale}
        helper.set_model_props(model_proto, {METADATA_KEY: json.dumps(spec)})
    return model_proto.SerializeToString()
