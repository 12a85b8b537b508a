"""t5sum's own greedy and beam search produce exactly what transformers' generate() produces."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from transformers import GenerationConfig, T5Config, T5ForConditionalGeneration

from t5sum.errors import T5SumError
from t5sum.inference.decoding import check_supported, generate
from t5sum.inference.draft_head import DraftLogits

EOS = 1


def tiny_model(seed: int, eos_boost: float) -> T5ForConditionalGeneration:
    """A 48-token vocabulary; scaling the (untied) EOS output row by `eos_boost` makes EOS come up early."""
    torch.manual_seed(seed)
    config = T5Config(
        vocab_size=48, d_model=32, d_kv=8, d_ff=64, num_layers=2, num_decoder_layers=2, num_heads=4,
        decoder_start_token_id=0, pad_token_id=0, eos_token_id=EOS, tie_word_embeddings=False,
    )  # fmt: skip
    model = T5ForConditionalGeneration(config).eval()
    with torch.no_grad():
        model.lm_head.weight[EOS] *= eos_boost
    return model


def torch_decoder(model: T5ForConditionalGeneration, input_ids, mask, start: int, beams: int):
    """The decoder interface of `t5sum.inference.decoding` over a PyTorch model and its KV cache."""
    hidden = model.get_encoder()(input_ids=input_ids, attention_mask=mask).last_hidden_state
    hidden, mask = hidden.repeat_interleave(beams, 0), mask.repeat_interleave(beams, 0)
    state = {}

    def run(tokens: torch.Tensor) -> torch.Tensor:
        out = model(
            encoder_outputs=(hidden,),
            attention_mask=mask,
            decoder_input_ids=tokens[:, None],
            past_key_values=state.get("past"),
            use_cache=True,
        )
        state["past"] = out.past_key_values
        return out.logits[:, -1]

    def advance(tokens: torch.Tensor, rows: torch.Tensor | None) -> torch.Tensor:
        if rows is not None:
            state["past"].reorder_cache(rows)
        return run(tokens)

    return run(torch.full((hidden.shape[0],), start)), advance


SETTINGS = [
    {"num_beams": 1},
    {"num_beams": 1, "min_new_tokens": 6, "no_repeat_ngram_size": 2, "repetition_penalty": 1.3},
    {"num_beams": 3, "early_stopping": True},
    {"num_beams": 4, "early_stopping": False, "length_penalty": 2.0, "no_repeat_ngram_size": 3},
    {"num_beams": 2, "early_stopping": "never", "length_penalty": 0.5, "min_new_tokens": 4},
    {"num_beams": 4, "length_penalty": -1.0, "repetition_penalty": 1.5},
]


@pytest.mark.parametrize("settings", SETTINGS, ids=lambda s: "-".join(f"{k}={v}" for k, v in s.items()))
@torch.inference_mode()
def test_same_tokens_as_transformers_generate(settings: dict) -> None:
    ended_early = 0
    for seed, eos_boost in [(0, 1.0), (0, 12.0), (1, 6.0), (1, 24.0), (2, 12.0)]:
        model = tiny_model(seed, eos_boost)
        input_ids = torch.randint(2, 48, (3, 9))
        mask = torch.ones_like(input_ids)
        mask[1, 6:] = mask[2, 3:] = 0  # padded rows: the encoder mask must follow every row and beam
        input_ids = input_ids * mask
        config = GenerationConfig(
            decoder_start_token_id=0, pad_token_id=0, eos_token_id=EOS, max_new_tokens=12, **settings
        )
        expected = model.generate(input_ids=input_ids, attention_mask=mask, generation_config=config)
        first, advance = torch_decoder(model, input_ids, mask, 0, config.num_beams)
        got = generate(first, advance, config)
        assert got.tolist() == expected.tolist(), (seed, settings)
        ended_early += int((got[:, 1:-1] == EOS).any())  # a row finished before the limit
    assert ended_early, "no case stopped at EOS before max_new_tokens: the test lost its early-stop coverage"


def test_settings_the_loops_do_not_implement_are_refused_by_name() -> None:
    check_supported(GenerationConfig(num_beams=4, no_repeat_ngram_size=3, length_penalty=2.0))
    with pytest.raises(T5SumError, match=r"do_sample.*bad_words_ids|bad_words_ids.*do_sample"):
        check_supported(GenerationConfig(do_sample=True, bad_words_ids=[[5]]))


def drafted(advance, bound_scale: float, stats: dict[str, int], seed: int = 0):
    """`advance` returning DraftLogits: each exact logit moved by a random amount within its own random
    bound, itself within its row's (up to `bound_scale` of the row's spread), so the draft's own argmax is
    often wrong. `stats` counts rows, rows whose draft argmax was wrong, and the exactly computed tokens."""
    rng = np.random.default_rng(seed)

    def draft_advance(tokens: torch.Tensor, rows: torch.Tensor | None) -> DraftLogits:
        exact = advance(tokens, rows).numpy()
        bound = rng.uniform(0, bound_scale, len(exact)) * exact.std(axis=-1)  # per row
        token_bound = rng.uniform(0, 1, exact.shape) * bound[:, None]  # tighter, per token
        draft = exact + rng.uniform(-1, 1, exact.shape) * token_bound
        stats["rows"] += len(exact)
        stats["wrong_draft"] += int((draft.argmax(-1) != exact.argmax(-1)).sum())

        def exact_of(row: int, ids: np.ndarray) -> np.ndarray:
            stats["computed"] += len(ids)
            return exact[row, ids]

        return DraftLogits(draft, bound, lambda row, ids: token_bound[row, ids], exact_of)

    return draft_advance


GREEDY = [s for s in SETTINGS if s["num_beams"] == 1]


@pytest.mark.parametrize("settings", GREEDY, ids=lambda s: "-".join(f"{k}={v}" for k, v in s.items()))
@torch.inference_mode()
def test_greedy_search_over_bounded_logits_picks_the_exact_argmax(settings: dict) -> None:
    """Greedy search given only bounds on the logits (the onnx backend's int8 draft of the LM head) and
    exact values on request returns generate()'s tokens, computing only the few tokens that could win."""
    stats = {"rows": 0, "wrong_draft": 0, "computed": 0}
    for seed, eos_boost in [(0, 1.0), (1, 6.0), (2, 12.0)]:
        model = tiny_model(seed, eos_boost)
        input_ids = torch.randint(2, 48, (3, 9))
        config = GenerationConfig(
            decoder_start_token_id=0, pad_token_id=0, eos_token_id=EOS, max_new_tokens=12, **settings
        )
        expected = model.generate(input_ids=input_ids, generation_config=config)
        first, advance = torch_decoder(model, input_ids, torch.ones_like(input_ids), 0, 1)
        got = generate(first, drafted(advance, 0.5, stats, seed), config)
        assert got.tolist() == expected.tolist(), (seed, settings)
    assert stats["wrong_draft"], "the draft always had the right argmax: the test lost its point"
    assert stats["computed"] < 0.5 * 48 * stats["rows"]  # only candidates are computed exactly
