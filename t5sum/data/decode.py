"""Generated ids -> text, shared by validation and every inference backend."""

from __future__ import annotations

import torch
from transformers import PreTrainedTokenizerBase


def decode_generated(
    tokenizer: PreTrainedTokenizerBase, output: torch.Tensor
) -> tuple[list[str], torch.Tensor]:
    """`output` starts with the decoder start token. Returns texts and content lengths (no pad/eos)."""
    generated = output[:, 1:]
    content = (generated != tokenizer.pad_token_id) & (generated != tokenizer.eos_token_id)
    texts = tokenizer.batch_decode(generated, skip_special_tokens=True, clean_up_tokenization_spaces=True)
    return [text.strip() for text in texts], content.sum(dim=1)
