"""Export a run's model to ONNX (encoder + decoders with past key values) and gate it on parity."""

from __future__ import annotations

import json
import logging
import shutil
from collections.abc import Sequence
from contextlib import contextmanager
from importlib.metadata import version
from pathlib import Path
from typing import Any

import numpy as np
import torch

from t5sum.errors import T5SumError
from t5sum.inference import resolve_model_dir
from t5sum.inference.base import SETTINGS_FILE
from t5sum.inference.onnx_backend import DRAFT_DECODER, GRAPHS, OnnxSummarizer
from t5sum.inference.onnx_decoder_step import POSITION_BIAS_NODE, build_decoder_step, replace_decoder_step
from t5sum.inference.torch_backend import TorchSummarizer

MANIFEST = "manifest.json"
LOGIT_TOLERANCE = 1e-3  # measured drift is ~1e-5 (t5-small) to ~2e-4 (flan-t5-small) in fp32
# several lengths, so parity covers short inputs, padding inside a batch, and truncation
PARITY_TEXT = (
    "#Person1#: Good morning. I would like to book a table for two people on Friday evening. "
    "#Person2#: Certainly. What time would you like to come? #Person1#: At seven, if possible. "
    "#Person2#: Seven is fine. May I have your name and phone number? #Person1#: It is Lee, and the "
    "number is five five five, one two three four. #Person2#: Thank you, Mr. Lee. We look forward to "
    "seeing you on Friday. #Person1#: Could we have a table near the window? #Person2#: I will note it."
)


class ParityError(T5SumError):
    """The exported model does not generate what PyTorch generates."""


def parity_texts(count: int = 8) -> list[str]:
    words = PARITY_TEXT.split()
    return [" ".join(words[: max(4, len(words) * (i + 1) // count)] * (1 + i // 4)) for i in range(count)]


def parity_overrides(new_tokens: int = 24) -> dict[str, Any]:
    """Greedy, exactly `new_tokens` tokens."""
    config = {"num_beams": 1, "max_new_tokens": new_tokens, "min_new_tokens": new_tokens}
    return dict(config, early_stopping=False, no_repeat_ngram_size=0)


def check_parity(
    torch_model: TorchSummarizer, onnx_model: OnnxSummarizer, texts: Sequence[str], new_tokens: int = 24
) -> dict[str, Any]:
    """Greedy, exactly `new_tokens` tokens (no early EOS hides drift), at batch 1 and padded batch 4."""
    overrides = parity_overrides(new_tokens)
    report: dict[str, Any] = {"examples": len(texts), "new_tokens": new_tokens}
    for batch_size in (1, 4):
        torch_model.batch_size = onnx_model.batch_size = batch_size
        expected = torch_model.summarize(texts, **overrides)
        got = onnx_model.summarize(texts, **overrides)
        mismatched = [i for i, (a, b) in enumerate(zip(expected, got, strict=True)) if a != b]
        report[f"batch_{batch_size}_identical"] = not mismatched
        if mismatched:
            raise ParityError(
                f"ONNX greedy output differs from PyTorch at batch size {batch_size} for examples "
                f"{mismatched} (e.g. {expected[mismatched[0]]!r} vs {got[mismatched[0]]!r}); "
                "the export is not usable."
            )
    # equal tokens can hide wrong logits on padded rows (a known exporter bug class): compare logits too
    delta = max_logit_delta(torch_model, onnx_model, texts[:4], overrides)
    report["max_logit_delta_padded_batch"] = delta
    if not delta <= LOGIT_TOLERANCE:
        raise ParityError(
            f"ONNX logits differ from PyTorch by up to {delta:.2e} on a padded batch (tolerance "
            f"{LOGIT_TOLERANCE:.0e}); the export is not usable."
        )
    return report


def max_logit_delta(
    torch_model: TorchSummarizer, onnx_model: OnnxSummarizer, texts: Sequence[str], overrides: dict[str, Any]
) -> float:
    input_ids, attention_mask = torch_model.pad_batch(torch_model.encode(texts))
    config = torch_model.resolve_config(overrides)
    expected = torch_model.model.generate(
        input_ids=input_ids,
        attention_mask=attention_mask,
        generation_config=config,
        output_logits=True,
        return_dict_in_generate=True,
    ).logits
    got = onnx_model.step_logits(input_ids, attention_mask, config)
    return float((torch.stack(expected) - got).abs().max())


def quantize_int8(onnx_dir: Path) -> None:
    """int8 weights, in place, in the form each graph runs fastest at batch 1 (t5-small, 2 cores):
    - the encoder multiplies 128-512 rows at once: `quantize_dynamic` (int8 GEMMs, activations quantized per
      op) runs it 2.5x faster than fp32, MatMulNBits only 1.3x;
    - the decoders multiply one row per input and beam, so the weight bytes are the cost: every MatMul with a
      constant weight, the tied LM head included, becomes MatMulNBits (8 bits, symmetric blocks of 32, int8
      dot products: accuracy level 4), then the embedding Gathers take int8 tables. `quantize_dynamic` on the
      decoders was slower than fp32 at batch 1 (1.63x vs 2.05x torch): it left the 63 MB fp32 LM head alone.
    """
    from onnxruntime.quantization import QuantType, quantize_dynamic

    large = [name for name in GRAPHS if (onnx_dir / f"{name}_data").exists()]  # optimum's layout over 2 GB
    if large:
        raise T5SumError(
            f"quantize=int8 handles graphs under 2 GB (t5-large and smaller); {', '.join(large)} in "
            f"{onnx_dir} keep their weights in external files. The fp32 export there is complete and usable."
        )
    for name in GRAPHS:
        path, staged = onnx_dir / name, onnx_dir / f"staged_{name}"
        if name == "encoder_model.onnx":
            with quiet_logging():  # a log line per node at INFO, and a pre-processing hint on the root logger
                quantize_dynamic(path, staged, weight_type=QuantType.QInt8)
        else:
            quantize_decoder(path, staged)
        staged.replace(path)


def quantize_decoder(source: Path, target: Path, bits: int = 8) -> None:
    """A decoder graph with int8 (or int4) weights (see `quantize_int8`)."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from onnxruntime.quantization.matmul_nbits_quantizer import MatMulNBitsQuantizer

    with quiet_logging():
        model = onnx.load(str(source))
        fold_transposed_weights(model)
        nbits = MatMulNBitsQuantizer(model, bits=bits, block_size=32, is_symmetric=True, accuracy_level=4)
        nbits.process()
        nbits.model.save_model_to_file(str(target), use_external_data_format=False)
        quantize_dynamic(
            target,
            target,
            weight_type=QuantType.QInt8,
            op_types_to_quantize=["Gather"],
            nodes_to_exclude=[POSITION_BIAS_NODE],  # a 32 x heads table: it stays exact
        )


DRAFTS = {"int4": 4, "int8": 8}  # speculative draft decoders: weight bits (symmetric blocks of 32)
# the share of guesses kept above which each draft beat plain steps (scripts/bench_speculation.py: int4 ran
# at 0.94x of plain with 39% kept and 1.29x with 67%; int8 at 0.94x with 59% and 1.27x with 90%)
DRAFT_PAYS_FROM = {"int4": 0.5, "int8": 0.7}
INT4_PREFERRED_FROM = 0.8  # "auto" takes int4 (1.5 vs 2.2 ms a step) without trying int8 from this share


def choose_draft(
    model, onnx_dir: Path, summarizer: OnnxSummarizer, requested: str, texts: Sequence[str]
) -> dict[str, Any]:
    """Write the draft decoder that pays on this model, judged by the share of its guesses that the fp32
    step keeps on the parity texts. "auto": int4 if it is kept often, else int8 if that pays, else int4 if
    that pays, else none (plain greedy). `summarizer` (the export's) ends with the chosen draft loaded."""
    step = onnx_dir / f"staged_{DRAFT_DECODER}"
    step.write_bytes(build_decoder_step(model, draft_head=False))  # each draft quantizes this graph
    tried: dict[str, Path] = {}
    kept: dict[str, float] = {}
    for draft in ["int4", "int8"] if requested == "auto" else [requested]:
        tried[draft] = onnx_dir / f"{draft}_{DRAFT_DECODER}"
        quantize_decoder(step, tried[draft], DRAFTS[draft])
        kept[draft] = guesses_kept(summarizer, tried[draft], texts)
        preferred = requested == "auto" and draft == "int4"
        if kept[draft] >= (INT4_PREFERRED_FROM if preferred else DRAFT_PAYS_FROM[draft]):
            chosen: str | None = draft
            break
    else:
        paying = [draft for draft, share in kept.items() if share >= DRAFT_PAYS_FROM[draft]]
        chosen = paying[0] if paying else None
    step.unlink()
    for draft, path in tried.items():
        if draft == chosen:
            path.replace(onnx_dir / DRAFT_DECODER)
        else:
            path.unlink()
    summarizer.model.load_speculator(onnx_dir / DRAFT_DECODER if chosen else None)
    label = f"{DRAFT_DECODER}: {chosen} weights" if chosen else None
    return {"draft": label, "parity_texts_guesses_kept": kept}


def guesses_kept(summarizer: OnnxSummarizer, draft: Path, texts: Sequence[str]) -> float:
    """The share of `draft`'s guesses that the fp32 step keeps, batch-1 greedy over `texts`."""
    summarizer.model.load_speculator(draft)
    summarizer.speculation.clear()
    summarizer.batch_size = 1
    summarizer.summarize(texts, **parity_overrides())
    stats = summarizer.speculation
    return stats.get("kept", 0) / max(stats.get("guesses", 0), 1)


@contextmanager
def quiet_logging():
    logging.disable(logging.WARNING)
    try:
        yield
    finally:
        logging.disable(logging.NOTSET)


def fold_transposed_weights(model) -> None:
    """Weights read transposed -> plain MatMuls on transposed initializers, which the quantizer rewrites:
    - Transpose(initializer) (the exporter's tied LM head reads the embedding through one);
    - FusedMatMul(x, W, transB=1, alpha) (t5sum's decoder step keeps torch's [out, in] layout) becomes
      MatMul(x, W^T), after Mul(x, alpha) where alpha is not 1 (the tied head's d_model**-0.5)."""
    from onnx import helper, numpy_helper

    weights = {w.name: w for w in model.graph.initializer}

    def transposed(name: str, perm: list[int] | None, as_name: str) -> None:
        array = numpy_helper.to_array(weights[name]).transpose(perm)
        model.graph.initializer.append(numpy_helper.from_array(array.copy(), as_name))

    for index, node in reversed(list(enumerate(model.graph.node))):
        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        if node.op_type == "Transpose" and node.input[0] in weights:
            transposed(node.input[0], attrs.get("perm"), node.output[0])
            model.graph.node.remove(node)
        elif node.op_type == "FusedMatMul" and node.input[1] in weights and attrs.get("transB") == 1:
            if any(attrs.get(name, 0) for name in ("transA", "transBatchA", "transBatchB")):
                continue
            x, weight = node.input[0], f"{node.input[1]}.transposed.{node.output[0]}"
            transposed(node.input[1], None, weight)
            replacement = [helper.make_node("MatMul", [x, weight], list(node.output), name=node.name)]
            alpha = attrs.get("alpha", 1.0)
            if alpha != 1.0:
                scale = f"{node.output[0]}.alpha"
                model.graph.initializer.append(numpy_helper.from_array(np.array(alpha, np.float32), scale))
                scaled = f"{x}.scaled.{node.output[0]}"
                replacement.insert(0, helper.make_node("Mul", [x, scale], [scaled], name=scaled))
                replacement[1].input[0] = scaled
            model.graph.node.remove(node)
            for offset, new_node in enumerate(replacement):
                model.graph.node.insert(index + offset, new_node)
    used = {name for node in model.graph.node for name in node.input} | {o.name for o in model.graph.output}
    for weight in [w for w in model.graph.initializer if w.name not in used]:
        model.graph.initializer.remove(weight)  # the [out, in] copies the MatMuls no longer read


def int8_report(fp32_summaries: Sequence[str], onnx_dir: Path, texts: Sequence[str]) -> dict[str, Any]:
    """How far int8 drifts from the fp32 export on the parity texts: ROUGE-L of int8 against fp32 output."""
    from t5sum.metrics import rouge_scores

    int8_summaries = OnnxSummarizer(onnx_dir).summarize(texts)
    scores = rouge_scores(list(int8_summaries), list(fp32_summaries))
    identical = [a == b for a, b in zip(int8_summaries, fp32_summaries, strict=True)]
    # rouge-score gives 0 for two empty strings; identical outputs agree fully
    agreement = [1.0 if same else score["rougeL_f"] for same, score in zip(identical, scores, strict=True)]
    return {
        "type": "int8 weights: encoder quantize_dynamic; decoders MatMulNBits (symmetric, block 32, "
        "accuracy level 4) and int8 embeddings",
        "identical_outputs_share": sum(identical) / len(texts),
        "rougeL_f_vs_fp32": 100 * sum(agreement) / len(agreement),
    }


def exported_graphs(onnx_dir: Path) -> list[str]:
    return [name for name in (*GRAPHS, DRAFT_DECODER) if (onnx_dir / name).is_file()]


def graph_megabytes(onnx_dir: Path) -> float:
    return sum((onnx_dir / name).stat().st_size for name in exported_graphs(onnx_dir)) / 2**20


def export_onnx(
    run_dir: str | Path,
    out_dir: str | Path | None = None,
    opset: int | None = None,
    quantize: str | None = None,
    speculative_draft: str | None = "auto",
) -> Path:
    """`speculative_draft`: the weights of the decoder that proposes tokens for batch-1 greedy search on
    fp32 exports (auto: the one that pays on the parity texts, see `choose_draft`; int4; int8; None: no
    draft). The fp32 decoder checks every token either way."""
    from optimum.exporters.onnx import main_export  # optional dependency: the onnx extra

    if quantize not in (None, "int8"):  # before anything is deleted or exported
        raise T5SumError(f"quantize={quantize!r}: use null (fp32) or int8.")
    if speculative_draft not in (None, "auto", *DRAFTS):
        raise T5SumError(f"speculative_draft={speculative_draft!r}: use auto, null, {' or '.join(DRAFTS)}.")
    model_dir = resolve_model_dir(run_dir)
    if not (model_dir / SETTINGS_FILE).is_file():
        raise T5SumError(f"{model_dir} has no {SETTINGS_FILE}: export takes a t5sum run dir or its model/.")
    out = Path(out_dir) if out_dir else model_dir.parent / "onnx"
    if out.exists():
        shutil.rmtree(out)
    main_export(
        model_name_or_path=str(model_dir),
        output=out,
        task="text2text-generation-with-past",
        opset=opset,
        do_validation=False,  # our own gate below compares generated tokens, the thing that matters
    )
    # optimum also writes a merged decoder (with and without past in one graph, behind an If): the backend
    # runs the two graphs, so the merged copy would only add its size (159 MB for t5-small) to every image
    for unused in out.glob("decoder_model_merged.onnx*"):
        unused.unlink()
    shutil.copy(model_dir / SETTINGS_FILE, out / SETTINGS_FILE)
    reference = TorchSummarizer.from_pretrained(model_dir)
    decoder_step = replace_decoder_step(reference.model, out)
    texts = parity_texts()
    fp32 = OnnxSummarizer(out)
    speculation = None
    if decoder_step.startswith("t5sum") and speculative_draft and quantize is None:
        speculation = choose_draft(reference.model, out, fp32, speculative_draft, texts)
    report = check_parity(reference, fp32, texts)
    sizes = {"fp32_mb": graph_megabytes(out)}
    quantization = None
    if quantize == "int8":
        fp32_summaries = fp32.summarize(texts)
        del fp32
        if decoder_step.startswith("t5sum"):  # int8 decodes through its int8 head: no draft of it
            decoder_step = replace_decoder_step(reference.model, out, draft_head=False)
        quantize_int8(out)
        quantization = int8_report(fp32_summaries, out, texts)
        sizes["int8_mb"] = graph_megabytes(out)
    manifest = {
        "source_run": str(Path(run_dir).resolve()),
        "graphs": exported_graphs(out),
        "decoder_step": decoder_step,
        "opset": opset or "optimum default",
        "quantization": quantization,
        "speculative_greedy": speculation,
        "sizes": sizes,
        "parity": report,
        "versions": {p: version(p) for p in ("torch", "transformers", "optimum-onnx", "onnx", "onnxruntime")},
    }
    (out / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    return out
