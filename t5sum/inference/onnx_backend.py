"""The onnxruntime backend: an exported directory (encoder, decoder, decoder-with-past graphs).

Decoding runs t5sum's own loops (`t5sum.inference.decoding`) straight on three onnxruntime sessions, with
no transformers model in between: the cross-attention cache is computed once per input and never copied
or reordered (all beams of one input share it), and only the small self-attention cache follows the beams.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch
from transformers import AutoTokenizer, GenerationConfig

from t5sum.errors import T5SumError
from t5sum.inference.base import BatchedSummarizer, InferenceSettings
from t5sum.inference.decoding import check_supported, generate, greedy_search, speculative_greedy
from t5sum.inference.draft_head import FULL_LOGITS, HIDDEN, DraftHead, DraftLogits
from t5sum.inference.onnx_decoder_step import decoder_position_buckets

GRAPHS = ("encoder_model.onnx", "decoder_model.onnx", "decoder_with_past_model.onnx")
DRAFT_DECODER = "decoder_draft_model.onnx"  # optional: the int8 step that proposes speculative tokens
PROVIDERS = ["CPUExecutionProvider"]


def session_options(threads: int | None = None):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads or os.cpu_count() or 1
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    # workers spin between the ~100 ops of one step (waking a sleeping worker per op cost ~15% of a batch-1
    # step) and stop when the step returns: between two steps the search runs, and workers that spun on
    # took its cores (beam 4 at batch 1 had gone from 0.41 to 0.81 s with spinning left on)
    options.add_session_config_entry("session.intra_op.allow_spinning", "1")
    options.add_session_config_entry("session.force_spinning_stop", "1")
    return options


_torch_threads_lock = threading.Lock()
_torch_threads_users = 0
_torch_threads_saved = 1


@contextmanager
def single_threaded_torch() -> Iterator[None]:
    """torch runs on one thread while an onnx backend decodes (nested and concurrent calls included).

    The search's torch ops (log-softmax, top-k over beams x vocabulary) are small; run on torch's thread pool
    they leave its threads spinning into the next onnxruntime step, where they take the cores the step needs.
    Measured at batch 1, beam 4, on 2 cores: 0.38 -> 0.28-0.31 s. torch's thread count is process-wide, so a
    torch model run concurrently in another thread of the same process gets one thread meanwhile."""
    global _torch_threads_users, _torch_threads_saved
    with _torch_threads_lock:
        if _torch_threads_users == 0:
            _torch_threads_saved = torch.get_num_threads()
            torch.set_num_threads(1)
        _torch_threads_users += 1
    try:
        yield
    finally:
        with _torch_threads_lock:
            _torch_threads_users -= 1
            if _torch_threads_users == 0:
                torch.set_num_threads(_torch_threads_saved)


class OnnxSeq2Seq:
    """The three exported graphs as onnxruntime sessions, fed and read as numpy arrays."""

    def __init__(self, onnx_dir: Path, threads: int | None = None, draft_head: bool = True) -> None:
        """`draft_head=False` decodes greedy search through the fp32 LM head even where the step graph has
        an int8 draft of it (same tokens, slower: the comparison the benchmark prints)."""
        import onnxruntime as ort  # optional dependency: the onnx extra

        options = session_options(threads)
        self.encoder, self.decoder, self.decoder_with_past = (
            ort.InferenceSession(str(onnx_dir / name), options, providers=PROVIDERS) for name in GRAPHS
        )
        self.decoder_outputs = [o.name for o in self.decoder.get_outputs()]
        step_outputs = [o.name for o in self.decoder_with_past.get_outputs()]
        step_inputs = {i.name for i in self.decoder_with_past.get_inputs()}
        # the first decoder's `present.*` outputs that the step reads back as `past_key_values.*`: the
        # self-attention cache (the step returns it grown, under the same `present.*` name, at `present_at`)
        # and the cross-attention cache (fixed for the whole call)
        carried = [(name, past_name(name)) for name in self.decoder_outputs if past_name(name) in step_inputs]
        self.self_cache = [(name, past) for name, past in carried if ".decoder." in past]
        self.cross_cache = [(name, past) for name, past in carried if ".decoder." not in past]
        self.present_at = [step_outputs.index(name) for name, _ in self.self_cache]
        self.logits_at = step_outputs.index("logits")
        self.has_draft = FULL_LOGITS in step_inputs  # its head is picked per call, by `full_logits`
        use_draft = self.has_draft and draft_head
        self.draft = DraftHead.from_step_graph(onnx_dir / GRAPHS[2]) if use_draft else None
        self.hidden_at = step_outputs.index(HIDDEN) if self.has_draft else None
        self.options = options
        self.load_speculator(onnx_dir / DRAFT_DECODER)
        self.buckets = None  # t5sum's own decoder step takes the position buckets as an input
        if "position_buckets" in step_inputs:
            config = json.loads((onnx_dir / "config.json").read_text())
            keys = ("relative_attention_num_buckets", "relative_attention_max_distance")
            self.buckets = tuple(config[key] for key in keys)

    def load_speculator(self, path: Path | None) -> None:
        """The draft decoder that proposes tokens for speculative greedy search, if `path` is one."""
        import onnxruntime as ort

        self.speculator = None  # (session, present positions, logits position) of the draft decoder
        if path is not None and path.is_file():
            session = ort.InferenceSession(str(path), self.options, providers=PROVIDERS)
            names = [o.name for o in session.get_outputs()]
            present_at = [names.index(name) for name, _ in self.self_cache]
            self.speculator = (session, present_at, names.index("logits"))

    def start(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        start_token: int,
        beams: int = 1,
        exact_logits: bool = False,
    ) -> tuple[torch.Tensor, DecoderCall]:
        """Encode, decode the start token, repeat each input's rows `beams` times. Returns the first logits
        [batch * beams, vocab] and the call's decoder state (its caches are its own). Greedy calls (one
        beam) read `DraftLogits` where the export has a draft head, unless `exact_logits`; beam search and
        `exact_logits` read the fp32 logits."""
        ids, mask = input_ids.numpy(), attention_mask.numpy()
        hidden = self.encoder.run(None, {"input_ids": ids, "attention_mask": mask})[0]
        start = np.full((ids.shape[0], 1), start_token, dtype=np.int64)
        feeds = {"input_ids": start, "encoder_attention_mask": mask, "encoder_hidden_states": hidden}
        outputs = dict(zip(self.decoder_outputs, self.decoder.run(None, feeds), strict=True))
        if beams > 1:
            outputs = {name: np.repeat(value, beams, axis=0) for name, value in outputs.items()}
            mask = np.repeat(mask, beams, axis=0)
        cache = {past: outputs[name] for name, past in self.self_cache}  # follows the beams
        fixed = {past: outputs[name] for name, past in self.cross_cache} | {"encoder_attention_mask": mask}
        draft = self.draft if beams == 1 and not exact_logits else None
        return torch.from_numpy(outputs["logits"][:, -1]), DecoderCall(self, cache, fixed, draft)


class DecoderCall:
    """One generate call's decoder state: the self-attention cache (it follows the beams), the fixed feeds
    (the cross-attention cache, the encoder mask) and which LM head the step reads."""

    def __init__(self, model: OnnxSeq2Seq, cache: dict, fixed: dict, draft: DraftHead | None) -> None:
        self.model, self.cache, self.draft = model, cache, draft
        self.own = list(cache)
        self.fixed = fixed
        self.step_fixed = fixed | ({FULL_LOGITS: np.array(draft is None)} if model.has_draft else {})
        self.pending: list[np.ndarray] = []

    def feeds(self, tokens: np.ndarray, cache: dict, fixed: dict) -> dict:
        feeds = {"input_ids": tokens, **fixed, **cache}
        if self.model.buckets:  # keys: the cached positions and the new ones
            length = cache[self.own[0]].shape[2] + tokens.shape[1]
            feeds["position_buckets"] = decoder_position_buckets(length, *self.model.buckets, tokens.shape[1])
        return feeds

    def run(self, tokens: np.ndarray) -> tuple[list[np.ndarray], torch.Tensor | DraftLogits]:
        """The fp32 step over new tokens [rows, n]: its outputs and the logits of every new token."""
        model = self.model
        step = model.decoder_with_past.run(None, self.feeds(tokens, self.cache, self.step_fixed))
        logits = step[model.logits_at].reshape(-1, step[model.logits_at].shape[-1])
        if self.draft is None:
            return step, torch.from_numpy(logits)
        hidden = step[model.hidden_at]
        return step, self.draft.logits(logits, hidden.reshape(-1, hidden.shape[-1]))

    def advance(self, tokens: torch.Tensor, rows: torch.Tensor | None) -> torch.Tensor | DraftLogits:
        """One new token per row, after reordering the rows' cache by `rows` (None: keep the order)."""
        if rows is not None:
            order = rows.numpy()
            for name in self.own:
                self.cache[name] = self.cache[name][order]
        step, logits = self.run(tokens.numpy()[:, None])
        for name, index in zip(self.own, self.model.present_at, strict=True):
            self.cache[name] = step[index]
        return logits

    @property
    def can_speculate(self) -> bool:
        return self.model.speculator is not None and len(self.cache[self.own[0]]) == 1

    def propose(self, token: int, count: int) -> list[int]:
        """`count` greedy tokens after `token` from the quantized draft decoder (int4 or int8), which starts
        from the verified cache and keeps its own additions to itself."""
        session, present_at, logits_at = self.model.speculator
        cache, proposed = dict(self.cache), []
        for _ in range(count):
            step = session.run(None, self.feeds(np.array([[token]]), cache, self.fixed))
            for name, index in zip(self.own, present_at, strict=True):
                cache[name] = step[index]
            token = int(step[logits_at][0, -1].argmax())
            proposed.append(token)
        return proposed

    def verify(self, tokens: list[int]) -> torch.Tensor | DraftLogits:
        """The fp32 step over `tokens` at once (batch 1): the logits after each of them. The cache grows by
        `accept(count)`: the first `count` of them."""
        step, logits = self.run(np.array([tokens]))
        self.pending = [step[index] for index in self.model.present_at]
        return logits

    def accept(self, count: int) -> None:
        """The cache keeps the first `count` tokens of the last `verify`."""
        for name, present in zip(self.own, self.pending, strict=True):
            kept = self.cache[name].shape[2] + count
            self.cache[name] = np.ascontiguousarray(present[:, :, :kept])
        self.pending = []


def past_name(present: str) -> str:
    return present.replace("present", "past_key_values", 1)


class OnnxSummarizer(BatchedSummarizer):
    def __init__(
        self,
        onnx_dir: str | Path,
        batch_size: int = 8,
        threads: int | None = None,
        draft_head: bool = True,
        lookahead: int = 4,
    ) -> None:
        """`lookahead`: tokens the int8 draft decoder proposes per fp32 verification in batch-1 greedy
        search (0: no speculation); `draft_head`: greedy search reads the LM head's int8 draft. Neither
        changes a token, only the time."""
        onnx_dir = Path(onnx_dir)
        missing = [name for name in GRAPHS if not (onnx_dir / name).is_file()]
        if missing:
            raise T5SumError(
                f"{onnx_dir} is not a complete t5sum ONNX export (missing {', '.join(missing)}); "
                "re-run `python -m t5sum.export run_dir=<run>`."
            )
        settings = InferenceSettings.from_model_dir(onnx_dir)
        super().__init__(
            AutoTokenizer.from_pretrained(onnx_dir),
            settings,
            GenerationConfig.from_pretrained(onnx_dir),
            batch_size=batch_size,
        )
        check_supported(self.generation_config)
        self.lookahead = lookahead
        self.speculation: dict[str, int] = {}  # rounds, guesses, kept guesses (all calls so far)
        try:
            self.model = OnnxSeq2Seq(onnx_dir, threads, draft_head)
        except Exception as err:
            raise T5SumError(f"Could not load the ONNX export in {onnx_dir}: {err}") from err

    def generate_ids(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor, config: GenerationConfig
    ) -> torch.Tensor:
        with single_threaded_torch():
            first, call = self.model.start(
                input_ids, attention_mask, config.decoder_start_token_id, config.num_beams
            )
            if config.num_beams == 1 and self.lookahead and call.can_speculate:
                return speculative_greedy(first, call, config, self.lookahead, self.speculation)
            return generate(first, call.advance, config)

    def step_logits(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor, config: GenerationConfig
    ) -> torch.Tensor:
        """Greedy decoding's raw logits per step, [steps, batch, vocab] (the parity gate's comparison)."""
        logits: list[torch.Tensor] = []
        first, call = self.model.start(
            input_ids, attention_mask, config.decoder_start_token_id, exact_logits=True
        )
        greedy_search(first, call.advance, config, logits)
        return torch.stack(logits)
