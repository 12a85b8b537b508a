"""Offline text helpers for metrics (no nltk data downloads, so they work on air-gapped machines)."""

from __future__ import annotations

import re

# Sentence-final punctuation, optional closing quotes/brackets, then whitespace. Naive on purpose:
# abbreviations such as "Dr." or "U.S." also end a sentence, which only nudges ROUGE-Lsum slightly.
_SENTENCE_END = re.compile(r"""([.!?]+["'”’»)\]}]*)\s+""")


def split_sentences(text: str) -> list[str]:
    """Split into sentences for ROUGE-Lsum, replacing nltk punkt (whose data cannot be downloaded here).

    Existing newlines are kept as boundaries. Only whitespace is removed, so the token stream that
    rouge-score sees is unchanged; "Dr. Smith" splits into ["Dr.", "Smith"] (accepted, documented).
    """
    pieces: list[str] = []
    for line in text.splitlines():
        pieces.extend(_SENTENCE_END.sub("\\1\n", line).split("\n"))
    return [piece.strip() for piece in pieces if piece.strip()]


def count_words(text: str) -> int:
    """Whitespace word count: tokenizer-independent, so lengths are comparable across models."""
    return len(text.split())


def compression_ratio(summary: str, document: str) -> float:
    """Summary words / document words (a document with no words counts as one word)."""
    return count_words(summary) / max(count_words(document), 1)
