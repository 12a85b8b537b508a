"""ONNX export: parity gate for full and LoRA runs, identical text from both backends, clear errors."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from transformers import T5Config, T5ForConditionalGeneration

from t5sum.errors import T5SumError
from t5sum.inference import load_summarizer
from t5sum.inference.onnx_backend import OnnxSummarizer, session_options
from t5sum.inference.onnx_decoder_step import build_decoder_step, decoder_position_buckets
from t5sum.inference.onnx_export import (
    ParityError,
    check_parity,
    export_onnx,
    fold_transposed_weights,
    max_logit_delta,
)
from t5sum.inference.torch_backend import TorchSummarizer
from t5sum.train import train
from tests.conftest import compose_train

ROOT = Path(__file__).resolve().parents[2]


ROWS = [json.loads(line) for line in (ROOT / "t5sum/resources/sample/validation.jsonl").open()][:10]
MIXED_TEXTS = [r["document"] for r in ROWS] + [ROWS[0]["document"][:40]]  # very different lengths, padded


def tiny_run(tmp: Path, *overrides: str) -> Path:
    cfg = compose_train(
        ["experiment=smoke", "logger=none", "trainer.max_epochs=1", "test_after_fit=false", *overrides], tmp
    )
    train(cfg)
    return Path(cfg.paths.output_dir)


@pytest.fixture(scope="module")
def full_run(tmp_path_factory) -> Path:
    return tiny_run(tmp_path_factory.mktemp("full"), "trainer.max_steps=25")


@pytest.fixture(scope="module")
def exported(full_run: Path) -> Path:
    return export_onnx(full_run)


def test_export_writes_graphs_settings_and_a_passing_manifest(full_run: Path, exported: Path) -> None:
    assert exported == full_run / "onnx"
    names = {p.name for p in exported.iterdir()}
    assert {"encoder_model.onnx", "decoder_model.onnx", "decoder_with_past_model.onnx"} <= names
    assert {"t5sum.json", "tokenizer.json", "generation_config.json", "manifest.json"} <= names
    assert "decoder_model_merged.onnx" not in names  # unused by the backend: not shipped
    assert manifest_of(exported)["decoder_step"].startswith("t5sum")
    assert "draft" in manifest_of(exported)["decoder_step"]  # fp32 greedy reads the int8 draft head
    manifest = json.loads((exported / "manifest.json").read_text())
    assert manifest["parity"]["batch_1_identical"] and manifest["parity"]["batch_4_identical"]
    assert 0 <= manifest["parity"]["max_logit_delta_padded_batch"] <= 1e-3
    assert manifest["versions"]["onnxruntime"] and manifest["source_run"] == str(full_run.resolve())
    speculation = manifest["speculative_greedy"]  # auto: the draft that pays, judged on the parity texts
    kept = speculation["parity_texts_guesses_kept"]
    assert next(iter(kept)) == "int4" and all(0 <= share <= 1 for share in kept.values())
    assert speculation["draft"] == f"decoder_draft_model.onnx: {expected_draft(kept)} weights"
    assert "decoder_draft_model.onnx" in manifest["graphs"]
    assert (exported / "decoder_draft_model.onnx").is_file()


def expected_draft(kept: dict[str, float]) -> str | None:
    """auto's choice from the measured shares: int4 from 80%, else int8 from 70%, else int4 from 50%."""
    if kept["int4"] >= 0.8:
        assert list(kept) == ["int4"]  # int8 is not tried then
        return "int4"
    return "int8" if kept["int8"] >= 0.7 else "int4" if kept["int4"] >= 0.5 else None


def manifest_of(onnx_dir: Path) -> dict:
    return json.loads((onnx_dir / "manifest.json").read_text())


def test_flan_layout_exports_through_t5sums_decoder_step(tmp_path: Path, full_run: Path) -> None:
    """flan-t5's layout: gated-gelu feed-forward, untied LM head, heads x d_kv (4 x 8) != d_model (64)."""
    model_dir = tmp_path / "model"
    shutil.copytree(full_run / "model", model_dir)
    base = {k: v for k, v in T5Config.from_pretrained(model_dir).to_dict().items() if k not in DERIVED}
    config = T5Config(**{**base, "feed_forward_proj": "gated-gelu", "tie_word_embeddings": False, "d_kv": 8})
    torch.manual_seed(0)
    T5ForConditionalGeneration(config).save_pretrained(model_dir)
    manifest = manifest_of(export_onnx(model_dir, tmp_path / "onnx"))
    assert manifest["decoder_step"].startswith("t5sum") and "draft" in manifest["decoder_step"]
    assert manifest["parity"]["batch_1_identical"] and manifest["parity"]["batch_4_identical"]


DERIVED = ("dense_act_fn", "is_gated_act")  # T5Config derives them from feed_forward_proj


@pytest.mark.parametrize(("buckets", "distance"), [(32, 128), (16, 40)])
def test_position_buckets_match_transformers(buckets: int, distance: int) -> None:
    from transformers.models.t5.modeling_t5 import T5Attention

    for length in range(1, 300, 7):
        relative = torch.arange(length) - (length - 1)  # key position minus the query's (the last)
        expected = T5Attention._relative_position_bucket(relative, False, buckets, distance)
        assert decoder_position_buckets(length, buckets, distance).tolist() == [expected.tolist()]
    several = decoder_position_buckets(40, buckets, distance, queries=5)  # the last 5 positions at once
    for row, query in enumerate(range(35, 40)):
        relative = torch.arange(40) - query
        expected = T5Attention._relative_position_bucket(relative, False, buckets, distance)
        assert several[row, : query + 1].tolist() == expected[: query + 1].tolist()
        assert (several[row, query + 1 :] == buckets).all()  # later keys: the masking bucket


@pytest.mark.parametrize("layout", ["t5 (tied head)", "flan-t5 (gated gelu, untied head)"])
def test_weights_folded_for_the_quantizer_keep_the_step_logits(layout: str) -> None:
    """int8 export first turns the step's FusedMatMul(x, W, transB, alpha) into plain MatMuls (the form the
    quantizer rewrites): same logits and caches, the tied head's alpha included."""
    import onnx
    import onnxruntime as ort

    flan = layout.startswith("flan")
    config = T5Config(
        vocab_size=96, d_model=32, d_kv=8, d_ff=48, num_layers=2, num_heads=4, decoder_start_token_id=0,
        feed_forward_proj="gated-gelu" if flan else "relu", tie_word_embeddings=not flan,
    )  # fmt: skip
    torch.manual_seed(0)
    model = T5ForConditionalGeneration(config).eval()
    graph = onnx.load_from_string(build_decoder_step(model, draft_head=False))
    fused = [n for n in graph.graph.node if n.op_type == "FusedMatMul"]
    assert len(fused) == 2 * (6 + flan) + 1  # qkv, self out, cross q, cross out, wi(_0, _1), wo; the head
    folded = onnx.ModelProto()
    folded.CopyFrom(graph)
    fold_transposed_weights(folded)
    assert not [n for n in folded.graph.node if n.op_type == "FusedMatMul"]
    assert sum(n.op_type == "MatMul" for n in folded.graph.node) == len(fused)
    rng = np.random.default_rng(0)
    feeds = {
        "input_ids": np.array([[5], [7]]),
        "encoder_attention_mask": np.array([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]]),
        "position_buckets": decoder_position_buckets(4, 32, 128),
    }
    for i in range(2):
        for kv in ("key", "value"):
            feeds[f"past_key_values.{i}.decoder.{kv}"] = rng.standard_normal((2, 4, 3, 8), np.float32)
            feeds[f"past_key_values.{i}.encoder.{kv}"] = rng.standard_normal((2, 4, 5, 8), np.float32)
    outputs = [
        ort.InferenceSession(m.SerializeToString(), session_options(1), providers=["CPUExecutionProvider"])
        .run(None, feeds)
        for m in (graph, folded)
    ]  # fmt: skip
    for before, after in zip(*outputs, strict=True):
        np.testing.assert_allclose(after, before, rtol=1e-5, atol=1e-5)


def test_draft_head_bounds_hold_on_every_token_of_every_step(exported: Path) -> None:
    """The fp32 step's int8 draft head: every exact logit lies within its bound, the bound is narrower than
    the logits' spread (it prunes), and the exact values it falls back to are the fp32 head's."""
    model = OnnxSummarizer(exported).model
    assert model.draft is not None
    summarizer = OnnxSummarizer(exported)
    input_ids, mask = summarizer.pad_batch(summarizer.encode(MIXED_TEXTS[:4]))
    first, exact_call = model.start(input_ids, mask, 0, exact_logits=True)
    _, draft_call = model.start(input_ids, mask, 0)
    tokens, vocab = first.argmax(-1), first.shape[-1]
    for _ in range(8):
        exact = exact_call.advance(tokens, None).numpy()
        draft = draft_call.advance(tokens, None)
        assert (draft.low < exact).all() and (exact < draft.high).all()
        for row in range(len(exact)):
            token_bound = draft.token_bound(row, np.arange(vocab))
            assert (np.abs(exact[row] - draft.draft[row]) < token_bound).all()
            assert token_bound.mean() < 0.5 * exact[row].std()  # narrow enough to prune
        for row in range(len(exact)):
            np.testing.assert_allclose(draft.exact(row, np.arange(vocab)), exact[row], rtol=1e-4, atol=1e-5)
        tokens = torch.from_numpy(exact.argmax(-1))


@pytest.mark.parametrize(
    "overrides", [{}, {"no_repeat_ngram_size": 2, "min_new_tokens": 6, "repetition_penalty": 1.3}]
)
def test_greedy_through_the_draft_head_gives_the_fp32_heads_ids(exported: Path, overrides: dict) -> None:
    drafted, exact = OnnxSummarizer(exported), OnnxSummarizer(exported, draft_head=False)
    assert exact.model.draft is None
    input_ids, mask = drafted.pad_batch(drafted.encode(MIXED_TEXTS))
    config = drafted.resolve_config(overrides)
    expected = exact.generate_ids(input_ids, mask, config)
    assert drafted.generate_ids(input_ids, mask, config).tolist() == expected.tolist()


def test_a_step_over_several_new_tokens_matches_one_token_at_a_time(exported: Path) -> None:
    """The step graph takes several new tokens at once (speculative verification): each sees the cache and
    the tokens before it, never the ones after, exactly as if fed one by one."""
    summarizer = OnnxSummarizer(exported, draft_head=False)
    input_ids, mask = summarizer.pad_batch(summarizer.encode(MIXED_TEXTS[:1]))
    tokens = [7, 11, 5, 9, 12, 30]
    _, one_by_one = summarizer.model.start(input_ids, mask, 0)
    expected = [one_by_one.advance(torch.tensor([t]), None).numpy()[0] for t in tokens]
    _, at_once = summarizer.model.start(input_ids, mask, 0)
    at_once.verify(tokens[:2])  # a first round keeping one token: the cache grows by exactly that one
    at_once.accept(1)
    got = at_once.verify(tokens[1:]).numpy()
    np.testing.assert_allclose(got, np.stack(expected[1:]), rtol=1e-4, atol=1e-5)


SPECULATION_SETTINGS = [
    {},
    {"no_repeat_ngram_size": 2, "min_new_tokens": 6, "repetition_penalty": 1.3},
    {"max_new_tokens": 3},
]


@pytest.mark.parametrize("overrides", SPECULATION_SETTINGS, ids=str)
@pytest.mark.parametrize("guesses", ["the draft's own", "one in three wrong", "always wrong"])
def test_speculative_greedy_gives_plain_greedys_ids(
    exported: Path, overrides: dict, guesses: str, monkeypatch
) -> None:
    """Batch-1 greedy through the draft decoder's guesses and one fp32 check per round returns plain
    greedy's ids, whether the guesses are the draft's own, partly wrong, or all wrong."""
    from t5sum.inference.onnx_backend import DecoderCall

    speculative, plain = OnnxSummarizer(exported), OnnxSummarizer(exported, lookahead=0)
    assert speculative.model.speculator is not None
    rng = np.random.default_rng(0)
    propose = DecoderCall.propose

    def corrupted(call, token: int, count: int) -> list[int]:
        wrong_share = {"the draft's own": 0.0, "one in three wrong": 1 / 3, "always wrong": 1.0}[guesses]
        return [t if rng.random() >= wrong_share else (t + 1) % 800 for t in propose(call, token, count)]

    monkeypatch.setattr(DecoderCall, "propose", corrupted)
    config = speculative.resolve_config(overrides)
    for text in MIXED_TEXTS[:6]:
        input_ids, mask = speculative.pad_batch(speculative.encode([text]))
        expected = plain.generate_ids(input_ids, mask, config)
        assert speculative.generate_ids(input_ids, mask, config).tolist() == expected.tolist(), text
    stats = speculative.speculation
    assert stats["rounds"] and stats["guesses"]
    if guesses == "always wrong":
        assert stats["kept"] == 0
    elif guesses == "the draft's own" and not overrides:
        assert stats["kept"] > 0.5 * stats["guesses"]  # the draft mostly agrees with fp32


def test_export_drops_a_draft_decoder_whose_guesses_fp32_rejects(
    tmp_path: Path, full_run: Path, monkeypatch
) -> None:
    from t5sum.inference.onnx_backend import DecoderCall

    monkeypatch.setattr(DecoderCall, "propose", lambda call, token, count: [(token + 1) % 800] * count)
    out = export_onnx(full_run, tmp_path / "onnx")
    speculation = manifest_of(out)["speculative_greedy"]
    assert speculation == {"draft": None, "parity_texts_guesses_kept": {"int4": 0.0, "int8": 0.0}}
    assert not (out / "decoder_draft_model.onnx").exists()
    assert OnnxSummarizer(out).model.speculator is None  # plain greedy, same tokens


def test_both_backends_return_identical_text_on_mixed_lengths(full_run: Path, exported: Path) -> None:
    texts = MIXED_TEXTS
    torch_backend, onnx_backend = load_summarizer(full_run), load_summarizer(exported)
    assert isinstance(onnx_backend, OnnxSummarizer)
    assert onnx_backend.summarize(texts) == torch_backend.summarize(texts)
    beams = {"num_beams": 3, "no_repeat_ngram_size": 2, "length_penalty": 1.5, "early_stopping": True}
    assert onnx_backend.summarize(texts[:4], **beams) == torch_backend.summarize(texts[:4], **beams)


def test_onnx_search_runs_torch_on_one_thread_and_gives_threads_back(exported: Path, monkeypatch) -> None:
    from t5sum.inference import onnx_backend

    seen: list[int] = []
    real_generate = onnx_backend.generate

    def recording_generate(first, advance, config):
        seen.append(torch.get_num_threads())
        if config.max_new_tokens == 3:
            raise RuntimeError("failed mid-search")
        return real_generate(first, advance, config)

    monkeypatch.setattr(onnx_backend, "generate", recording_generate)
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        summarizer = load_summarizer(exported)
        summarizer.lookahead = 0  # plain greedy: through `generate`
        summarizer.summarize(["#Person1#: hi. #Person2#: hello."])
        assert seen == [1] and torch.get_num_threads() == 2
        with onnx_backend.single_threaded_torch():  # nested (or concurrent) calls: the last one out restores
            summarizer.summarize(["#Person1#: hi."])
            assert torch.get_num_threads() == 1
        assert torch.get_num_threads() == 2
        with pytest.raises(RuntimeError, match="mid-search"):
            summarizer.summarize(["#Person1#: hi."], max_new_tokens=3)
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(threads)


def test_lora_run_exports_merged_and_passes_parity(tmp_path: Path) -> None:
    run = tiny_run(tmp_path, "method=lora", "method.r=4", "trainer.max_steps=10")
    manifest = json.loads((export_onnx(run) / "manifest.json").read_text())
    assert manifest["parity"]["batch_4_identical"]


def test_parity_gate_fails_loudly_on_a_mismatched_export(tmp_path: Path, exported: Path) -> None:
    other = tiny_run(tmp_path, "trainer.max_steps=3", "seed=7")  # different weights
    texts = ["#Person1#: hi. #Person2#: hello.", "#Person1#: a longer line here, with more words in it."]
    greedy = {"num_beams": 1, "max_new_tokens": 5, "min_new_tokens": 5, "early_stopping": False}
    assert (
        max_logit_delta(
            TorchSummarizer.from_pretrained(other / "model"), OnnxSummarizer(exported), texts, greedy
        )
        > 1e-2
    )
    assert (
        max_logit_delta(
            TorchSummarizer.from_pretrained(exported.parent / "model"),
            OnnxSummarizer(exported),
            texts,
            greedy,
        )
        < 1e-3
    )
    with pytest.raises(ParityError, match="differs from PyTorch"):
        check_parity(
            TorchSummarizer.from_pretrained(other / "model"),
            OnnxSummarizer(exported),
            ["#Person1#: hi. #Person2#: hello."],
        )


def test_corrupted_or_incomplete_export_is_a_clear_error(tmp_path: Path, exported: Path) -> None:
    broken = tmp_path / "broken"
    shutil.copytree(exported, broken)
    (broken / "decoder_with_past_model.onnx").unlink()
    with pytest.raises(T5SumError, match=r"missing decoder_with_past_model\.onnx"):
        OnnxSummarizer(broken)
    shutil.copy(exported / "decoder_with_past_model.onnx", broken)
    (broken / "encoder_model.onnx").write_bytes(b"not an onnx graph")
    with pytest.raises(T5SumError, match="Could not load the ONNX export"):
        OnnxSummarizer(broken)
    shutil.copy(exported / "encoder_model.onnx", broken)
    config = json.loads((broken / "generation_config.json").read_text())
    (broken / "generation_config.json").write_text(json.dumps({**config, "do_sample": True, "top_k": 5}))
    with pytest.raises(T5SumError, match=r"also sets do_sample.*backend=torch"):  # not silently greedy
        OnnxSummarizer(broken)


def test_export_cli_rejects_a_directory_that_is_not_a_run(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "t5sum.export", f"run_dir={tmp_path}"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 2 and "t5sum.json" in result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr


def test_int8_export_is_smaller_and_reports_its_drift(tmp_path: Path, full_run: Path) -> None:
    import onnx

    out = export_onnx(full_run, tmp_path / "int8", quantize="int8")
    manifest = json.loads((out / "manifest.json").read_text())
    quantization = manifest["quantization"]
    assert quantization["type"].startswith("int8")
    assert 0 <= quantization["identical_outputs_share"] <= 1 and 0 <= quantization["rougeL_f_vs_fp32"] <= 100
    if quantization["identical_outputs_share"] == 1:
        assert quantization["rougeL_f_vs_fp32"] == 100
    assert manifest["sizes"]["int8_mb"] < 0.5 * manifest["sizes"]["fp32_mb"]
    for name in ("decoder_model.onnx", "decoder_with_past_model.onnx"):  # every weight matmul is int8
        graph = onnx.load(str(out / name)).graph
        weights = {w.name for w in graph.initializer}
        matmuls = [n for n in graph.node if "MatMul" in n.op_type and set(n.input[1:2]) & weights]
        assert matmuls and all(n.op_type == "MatMulNBits" for n in matmuls), name
        assert "If" not in {n.op_type for n in graph.node}  # the fp32 step's draft head is not kept
    assert load_summarizer(out).summarize(["#Person1#: hi. #Person2#: hello."])[0] is not None
    assert not (out / "decoder_draft_model.onnx").exists() and manifest["speculative_greedy"] is None
    with pytest.raises(T5SumError, match="quantize"):
        export_onnx(full_run, out, quantize="int4")
    with pytest.raises(T5SumError, match="speculative_draft"):
        export_onnx(full_run, out, speculative_draft="int2")
    assert (out / "manifest.json").is_file()  # a bad option leaves the earlier export in place


def test_onnx_export_callback_exports_the_finished_run(tmp_path: Path) -> None:
    run = tiny_run(tmp_path, "callbacks=onnx_export", "trainer.max_steps=5")
    manifest = json.loads((run / "onnx" / "manifest.json").read_text())
    assert manifest["parity"]["batch_4_identical"] and manifest["source_run"] == str(run.resolve())
    with pytest.raises(T5SumError, match="save_model=true"):  # refused before any training
        tiny_run(tmp_path / "no-model", "callbacks=onnx_export", "trainer.max_steps=2", "save_model=false")
    assert not (tmp_path / "no-model" / "run").exists()
