"""Model and tokenizer loading: a hub name, a local directory, or an architecture config (random init)."""

from __future__ import annotations

from pathlib import Path

from transformers import (
    AutoConfig,
    AutoModelForSeq2SeqLM,
    AutoTokenizer,
    PreTrainedModel,
    PreTrainedTokenizerBase,
)

from t5sum.errors import ModelSourceError

OFFLINE_HINT = (
    "Without network access, set `model.name_or_path=` to a local directory with a saved model, or build "
    "random weights from an architecture config with `model.from_config=<config.json>` and "
    "`model.tokenizer=<tokenizer dir>`."
)


def _first_line(err: Exception) -> str:
    text = str(err).strip()
    return f"{type(err).__name__}: {text.splitlines()[0] if text else ''}"


def load_tokenizer(name_or_path: str) -> PreTrainedTokenizerBase:
    try:
        tokenizer = AutoTokenizer.from_pretrained(name_or_path)
    except Exception as err:
        raise ModelSourceError(
            f"Could not load tokenizer '{name_or_path}' ({_first_line(err)}). {OFFLINE_HINT}"
        ) from err
    if tokenizer.pad_token_id is None or tokenizer.eos_token_id is None:
        raise ModelSourceError(
            f"Tokenizer '{name_or_path}' needs a pad and an eos token for seq2seq training."
        )
    return tokenizer


def build_model(name_or_path: str, from_config: str | None = None) -> PreTrainedModel:
    """`from_config` (a config.json or a directory holding one) wins: random init, no weights downloaded."""
    if from_config:
        path = Path(from_config).expanduser()
        if not path.exists():
            raise ModelSourceError(f"model.from_config={from_config!r} does not exist.")
        config = AutoConfig.from_pretrained(str(path))
        return AutoModelForSeq2SeqLM.from_config(config)
    try:
        return AutoModelForSeq2SeqLM.from_pretrained(name_or_path)
    except Exception as err:
        raise ModelSourceError(
            f"Could not load model '{name_or_path}' ({_first_line(err)}). {OFFLINE_HINT}"
        ) from err
