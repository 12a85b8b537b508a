"""Greedy and beam search over any step-wise seq2seq decoder, with transformers' generation semantics.

The onnxruntime backend decodes with these loops instead of `transformers.generate`, whose per-step tensor
work (it reorders every cached tensor, cross-attention included, on every beam step) costs more than the
ONNX decoder itself at batch 1. The loops follow transformers 4.57's `_sample` (greedy) and vectorized
`_beam_search` step for step (the beam bookkeeping is a port of that code, Apache-2.0), and take the logits
processors from transformers' own public classes (min new tokens excepted: `MinNewTokens` below does the
same without rebuilding a vocabulary-sized mask every step), so the same `GenerationConfig` gives the same
tokens.
`tests/unit/test_decoding.py` checks that against `generate` on a PyTorch model.

A decoder is two callables: `first` has produced the logits for the decoder start token (one row per
input, already repeated `num_beams` times), and `advance(tokens, rows)` feeds the next tokens after
reordering the per-row cache by `rows` (None: keep the order) and returns the next logits.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

import numpy as np
import torch
from transformers import (
    GenerationConfig,
    NoRepeatNGramLogitsProcessor,
    RepetitionPenaltyLogitsProcessor,
)

from t5sum.errors import T5SumError
from t5sum.inference.draft_head import DraftLogits

# (tokens [N], rows [N] or None) -> logits [N, vocab], or their bounds (greedy search only)
Advance = Callable[[torch.Tensor, torch.Tensor | None], torch.Tensor | DraftLogits]
NEG = -1.0e9  # transformers' "impossible" beam score

# generation settings these loops implement; anything else set away from its default is refused by name
SUPPORTED = {
    "max_new_tokens", "max_length", "min_new_tokens", "min_length", "num_beams", "length_penalty",
    "no_repeat_ngram_size", "early_stopping", "repetition_penalty",
}  # fmt: skip
CHECKED = (
    "do_sample", "num_return_sequences", "num_beam_groups", "diversity_penalty", "bad_words_ids",
    "force_words_ids", "constraints", "sequence_bias", "forced_bos_token_id", "forced_eos_token_id",
    "suppress_tokens", "begin_suppress_tokens", "encoder_no_repeat_ngram_size", "encoder_repetition_penalty",
    "exponential_decay_length_penalty", "renormalize_logits", "remove_invalid_values", "guidance_scale",
    "watermarking_config", "max_time", "stop_strings",
)  # fmt: skip


def unsupported_settings(config: GenerationConfig) -> list[str]:
    default = GenerationConfig()
    return [name for name in CHECKED if getattr(config, name, None) != getattr(default, name, None)]


def check_supported(config: GenerationConfig) -> None:
    unsupported = unsupported_settings(config)
    if unsupported:
        raise T5SumError(
            f"The onnx backend decodes greedy and beam search with {', '.join(sorted(SUPPORTED))}; this "
            f"generation config also sets {', '.join(unsupported)}. Use backend=torch for those."
        )


def eos_ids(config: GenerationConfig) -> list[int]:
    eos = config.eos_token_id
    return [] if eos is None else [eos] if isinstance(eos, int) else list(eos)


def new_token_limits(config: GenerationConfig) -> tuple[int, int]:
    """(min, max) new tokens after the decoder start token, as generate() resolves them."""
    most = config.max_new_tokens if config.max_new_tokens is not None else config.max_length - 1
    least = config.min_new_tokens if config.min_new_tokens is not None else max(config.min_length - 1, 0)
    return least, most


Processor = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]  # (sequences, scores) -> scores


class MinNewTokens:
    """EOS is impossible until `least` tokens follow the decoder start token (transformers'
    MinNewTokensLengthLogitsProcessor with a prompt of 1, which rebuilds its EOS mask on every call)."""

    def __init__(self, least: int, eos: list[int]) -> None:
        self.least, self.eos = least, eos

    def __call__(self, sequences: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        if sequences.shape[-1] - 1 < self.least:
            # in place, through numpy (the loops own their logits): torch's `scores[:, ids] =` took 80 us
            array = scores.detach().numpy()
            for token in self.eos:
                array[:, token] = -np.inf
        return scores


def logits_processors(config: GenerationConfig) -> list[Processor]:
    """The processors generate() builds for the supported settings, in its order."""
    processors: list[Processor] = []
    if config.repetition_penalty is not None and config.repetition_penalty != 1.0:
        processors.append(RepetitionPenaltyLogitsProcessor(penalty=config.repetition_penalty))
    if config.no_repeat_ngram_size:
        processors.append(NoRepeatNGramLogitsProcessor(config.no_repeat_ngram_size))
    least, _ = new_token_limits(config)
    if least > 0 and eos_ids(config):
        processors.append(MinNewTokens(least, eos_ids(config)))
    return processors


def process(processors: list[Processor], sequences: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
    for processor in processors:  # a plain loop: LogitsProcessorList inspects signatures on every call
        scores = processor(sequences, scores)
    return scores


def generate(first: torch.Tensor, advance: Advance, config: GenerationConfig) -> torch.Tensor:
    """Token ids [batch, 1 + generated] starting with the decoder start token, padded after EOS."""
    check_supported(config)
    if config.num_beams > 1:
        return beam_search(first, advance, config)
    return greedy_search(first, advance, config)


def greedy_search(
    first: torch.Tensor,
    advance: Advance,
    config: GenerationConfig,
    logits_out: list[torch.Tensor] | None = None,
) -> torch.Tensor:
    """`logits_out` collects each step's raw logits (the parity gate compares them across backends).

    The bookkeeping is numpy: right after a decoder step has streamed every weight through the caches, each
    small torch op here took 30-70 us (its dispatch code had been evicted), and six of them cost 0.2 ms of a
    5-6 ms onnxruntime step. The processors still see torch views of the same memory."""
    batch = first.shape[0]
    eos = np.array(eos_ids(config), dtype=np.int64)
    pad = config.pad_token_id if config.pad_token_id is not None else (int(eos[0]) if len(eos) else 0)
    _, most = new_token_limits(config)
    processors = logits_processors(config)
    sequences = np.full((batch, 1 + most), config.decoder_start_token_id, dtype=np.int64)
    unfinished = np.ones(batch, dtype=bool)
    logits, length = first, 1
    for step in range(most):
        if logits_out is not None:
            logits_out.append(logits.clone())
        tokens = choose(logits, processors, torch.from_numpy(sequences[:, :length]))
        if len(eos):
            tokens = np.where(unfinished, tokens, pad)
            unfinished &= (tokens[:, None] != eos).all(axis=-1)  # np.isin: 120 us cold, this 10
        sequences[:, length] = tokens
        length += 1
        if not unfinished.any() or step + 1 == most:
            break
        logits = advance(torch.from_numpy(tokens), None)
    return torch.from_numpy(np.ascontiguousarray(sequences[:, :length]))


def choose(
    logits: torch.Tensor | DraftLogits, processors: list[Processor], sequences: torch.Tensor
) -> np.ndarray:
    """Greedy's next token per row: the argmax of the processed logits."""
    if isinstance(logits, DraftLogits):
        return draft_argmax(logits, processors, sequences)
    if processors:
        logits = process(processors, sequences, logits)
    return logits.detach().numpy().argmax(axis=-1)  # numpy's: 2 us per 32k row, torch's 29 us


PROBE_EVERY = 8  # plain rounds per one-guess probe, once guessing has stopped paying


class Speculator(Protocol):
    """A batch-1 decoder that can guess ahead cheaply and check several tokens in one step."""

    def propose(self, token: int, count: int) -> list[int]:
        """`count` cheap guesses of the tokens after `token` (none is fed to the cache)."""
        ...

    def verify(self, tokens: list[int]) -> torch.Tensor | DraftLogits:
        """The exact model's logits after each of `tokens`, fed at once after the cache."""
        ...

    def accept(self, count: int) -> None:
        """Keep the first `count` verified tokens in the cache."""
        ...


def speculative_greedy(
    first: torch.Tensor,
    speculator: Speculator,
    config: GenerationConfig,
    lookahead: int,
    stats: dict[str, int] | None = None,
) -> torch.Tensor:
    """Greedy search for one input, in rounds: the speculator guesses up to `lookahead` tokens, the exact
    model checks them all in one step, and the guesses are kept up to the first the exact model would not
    have chosen, which is replaced by its own choice (so a round yields 1 to guesses + 1 tokens). Every
    token is chosen from the exact model's logits, with the processors seeing the same prefix as in
    `greedy_search`: the result is greedy search's, token for token. The guess count adapts like
    transformers' assisted generation, 2 more after a round that kept every guess and 1 fewer after a miss
    (up to 2 x `lookahead`), and also reaches 0 after misses that kept nothing: wrong guesses cost a draft
    step each and a wider check, so the search then takes plain steps, with a one-guess probe every
    `PROBE_EVERY` rounds. `stats` adds up rounds, guesses and kept guesses."""
    check_supported(config)
    eos = set(eos_ids(config))
    _, most = new_token_limits(config)
    processors = logits_processors(config)
    sequence = [config.decoder_start_token_id]
    stats = stats if stats is not None else {}

    def pick(logits: torch.Tensor | DraftLogits) -> int:
        return int(choose(logits, processors, torch.tensor([sequence]))[0])

    token, count, plain_rounds = pick(first), lookahead, 0
    sequence.append(token)
    while token not in eos and len(sequence) <= most:
        if count == 0:  # guessing stopped paying: plain steps, and a one-guess probe now and then
            plain_rounds += 1
            count = 1 if plain_rounds % PROBE_EVERY == 0 else 0
        guesses = speculator.propose(token, min(count, most - len(sequence))) if count else []
        fed = [token, *guesses]
        logits = speculator.verify(fed)
        for position in range(len(fed)):
            row = logits.row(position) if isinstance(logits, DraftLogits) else logits[position : position + 1]
            token = pick(row)
            sequence.append(token)
            done = token in eos or len(sequence) > most
            if done or position == len(guesses) or token != guesses[position]:
                break
        speculator.accept(position + 1)
        kept = position + int(position < len(guesses) and token == guesses[position])  # guesses confirmed
        if kept == len(guesses):
            count = min(count + 2, 2 * lookahead) if guesses else 0
        else:  # a miss: one guess fewer, and none after a round that kept none
            count = max(1 if kept else 0, count - 1)
        for key, value in (("rounds", 1), ("guesses", len(guesses)), ("kept", kept)):
            stats[key] = stats.get(key, 0) + value
    return torch.tensor([sequence])


def draft_argmax(logits: DraftLogits, processors: list[Processor], sequences: torch.Tensor) -> np.ndarray:
    """The exact argmax of processed logits known only within bounds: a token whose upper bound is below the
    best lower bound cannot win, and the few that can are computed exactly. Every processor here maps each
    token's score on its own and monotonically (a mask to -inf, the repetition penalty), so processed
    bounds still bound the processed exact logits."""
    if processors:
        low = process(processors, sequences, torch.from_numpy(logits.low)).numpy()
        high = process(processors, sequences, torch.from_numpy(logits.high)).numpy()
        threshold = low.max(axis=-1)
    else:  # the same test without the two shifted copies: draft + bound >= max(draft) - bound
        high = logits.draft
        threshold = high.max(axis=-1) - 2 * logits.bound
    tokens = np.empty(len(high), dtype=np.int64)
    for row in range(len(high)):
        ids = np.flatnonzero(high[row] >= threshold[row])
        if not processors and len(ids) > 1:  # the same test with each remaining token's own bound
            draft, bound = logits.draft[row, ids], logits.token_bound(row, ids)
            ids = ids[draft + bound >= (draft - bound).max()]
        if len(ids) == 1:
            tokens[row] = ids[0]
            continue
        exact = np.full((1, high.shape[1]), -np.inf, dtype=np.float32)
        exact[0, ids] = logits.exact(row, ids)
        if processors:
            exact = process(processors, sequences[row : row + 1], torch.from_numpy(exact)).numpy()
        tokens[row] = ids[exact[0, ids].argmax()]
    return tokens


def beam_search(first: torch.Tensor, advance: Advance, config: GenerationConfig) -> torch.Tensor:
    """transformers 4.57's vectorized beam search (one returned sequence per input)."""
    beams = config.num_beams
    batch = first.shape[0] // beams
    vocab = first.shape[-1]
    eos = torch.tensor(eos_ids(config), dtype=torch.long)
    _, most = new_token_limits(config)
    max_length = most + 1
    processors = logits_processors(config)
    early_stopping, length_penalty = config.early_stopping, config.length_penalty
    keep = max(2, 1 + len(eos)) * beams
    top_beam_mask = torch.arange(keep) < beams
    # generate()'s filler after EOS: `pad or eos` (so EOS for T5, whose pad id is 0), -1 without EOS
    fill = (config.pad_token_id or int(eos[0])) if len(eos) else -1

    running = torch.full((batch, beams, max_length), fill, dtype=torch.long)
    running[:, :, 0] = config.decoder_start_token_id
    sequences = running.clone()
    running_scores = torch.zeros(batch, beams)
    running_scores[:, 1:] = NEG
    scores = torch.full((batch, beams), NEG)
    finished = torch.zeros(batch, beams, dtype=torch.bool)
    improvable = torch.ones(batch, 1, dtype=torch.bool)
    running_steps = torch.full((batch, beams, max_length - 1), -1, dtype=torch.long)  # beam index per step
    steps = running_steps.clone()
    offset = torch.arange(batch)[:, None] * beams
    logits, cur_len = first, 1
    while True:
        flat = running[:, :, :cur_len].reshape(batch * beams, cur_len)
        log_probs = process(processors, flat, torch.log_softmax(logits.float(), dim=-1))
        # top-k continuations over all beams of an input. Adding a beam's running score keeps the order of
        # its tokens, so each beam's own top k hold the input's: scoring only those (the same float sums as
        # scoring all) skips a [beams x vocab] add and top-k (1.3 of a 9-10 ms batch-1 beam-4 step, cold)
        beam_scores, beam_tokens = torch.topk(log_probs.view(batch, beams, vocab), k=keep, dim=-1)
        candidates = (beam_scores + running_scores[:, :, None]).view(batch, -1)
        topk_scores, picked = torch.topk(candidates, k=keep)
        topk_index = (picked // keep) * vocab + beam_tokens.view(batch, -1).gather(1, picked)
        from_beam = topk_index // vocab
        topk_running = gather(running, from_beam)
        topk_running[:, :, cur_len] = topk_index % vocab
        topk_steps = gather(running_steps, from_beam)
        topk_steps[:, :, cur_len - 1] = from_beam + offset
        hits = torch.isin(topk_running[:, :, cur_len], eos) | (cur_len + 1 >= max_length)
        # the best `beams` unfinished continuations run on
        alive_scores = topk_scores + hits.float() * NEG
        next_index = torch.topk(alive_scores, k=beams)[1]
        running, running_scores = gather(topk_running, next_index), gather(alive_scores, next_index)
        running_steps = gather(topk_steps, next_index)
        # finished ones among the top `beams` join the finished list if they beat it
        just_finished = hits & top_beam_mask[None, :]
        final = topk_scores / (cur_len**length_penalty)  # generated length incl. the new token
        full = finished.all(dim=-1, keepdim=True) & (early_stopping is True)
        final = final + full.float() * NEG + (~improvable).float() * NEG + (~just_finished).float() * NEG
        merged_index = torch.topk(torch.cat((scores, final), dim=1), k=beams)[1]
        sequences = gather(torch.cat((sequences, topk_running), dim=1), merged_index)
        scores = gather(torch.cat((scores, final), dim=1), merged_index)
        steps = gather(torch.cat((steps, topk_steps), dim=1), merged_index)
        finished = gather(torch.cat((finished, just_finished), dim=1), merged_index)
        cur_len += 1
        # stop when no running beam can beat the worst finished one (transformers' heuristic)
        never = early_stopping == "never" and length_penalty > 0.0
        best_length = max_length - 1 if never else cur_len - 1
        best_running = running_scores[:, :1] / (best_length**length_penalty)
        worst_finished = torch.where(finished, scores.min(dim=1, keepdim=True)[0], NEG)
        improvable = improvable & (best_running > worst_finished).any(dim=-1, keepdim=True)
        open_beam = not (bool(finished.all()) and early_stopping is True)
        if not (bool(improvable.any()) and open_beam and not bool(hits.all())):
            break
        rows = running_steps[:, :, cur_len - 2].reshape(-1)
        logits = advance(running[:, :, cur_len - 1].reshape(-1), rows)
    best = sequences[:, 0, :]
    generated = int((steps[:, 0, :] >= 0).sum(dim=1).max())
    return best[:, : 1 + generated]


def gather(tensor: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """Rows `index` [batch, k] of `tensor` [batch, n, ...] -> [batch, k, ...]."""
    while index.dim() < tensor.dim():
        index = index.unsqueeze(-1)
    return torch.take_along_dim(tensor, index, dim=1)
