"""User-facing errors: each says, in one sentence, what to change."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager


class T5SumError(ValueError):
    """A mistake the user can fix (config, data, paths). The CLI prints it without a traceback."""


class DataSourceError(T5SumError):
    """A dataset could not be loaded or does not have the expected shape."""


class ModelSourceError(T5SumError):
    """A model or tokenizer could not be loaded."""


class ConfigError(T5SumError):
    """The composed configuration is inconsistent."""


class NonFiniteLossError(RuntimeError):
    """Training produced a NaN/Inf loss; a checkpoint was written before stopping."""


@contextmanager
def exit_on_errors(log: logging.Logger, codes: Mapping[type[Exception], int] | None = None) -> Iterator[None]:
    """For CLI entry points: a listed error ends as one logged sentence and its exit code, no traceback.
    The default maps T5SumError (a mistake the user can fix) to exit code 2."""
    codes = dict(codes or {T5SumError: 2})
    try:
        yield
    except tuple(codes) as err:
        log.error("%s", err)
        sys.exit(next(code for kind, code in codes.items() if isinstance(err, kind)))
