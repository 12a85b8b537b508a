"""Bearer API keys: from T5SUM_API_KEYS (comma-separated) and/or a key file; several at once for rotation."""

from __future__ import annotations

import hmac
import os
from pathlib import Path

from t5sum.errors import ConfigError

ENV_VAR = "T5SUM_API_KEYS"
MIN_KEY_LENGTH = 16


class KeySet:
    def __init__(self, keys: list[str]) -> None:
        short = [k for k in keys if len(k) < MIN_KEY_LENGTH]
        if short:
            raise ConfigError(
                f"{len(short)} API key(s) shorter than {MIN_KEY_LENGTH} characters: use long random keys "
                "(e.g. `python -c 'import secrets; print(secrets.token_urlsafe(32))'`)."
            )
        self._keys = [k.encode() for k in keys]

    def __len__(self) -> int:
        return len(self._keys)

    def accepts(self, candidate: str) -> bool:
        """Constant-time for each key, and every key is compared (no early exit that leaks which matched)."""
        given = candidate.encode()
        matched = False
        for key in self._keys:
            matched |= hmac.compare_digest(given, key)
        return matched


def load_keys(keys_file: str | None = None, environ: dict[str, str] | None = None) -> KeySet:
    """Keys from the environment variable and the file (one key per line, # comments), both optional."""
    environ = dict(os.environ) if environ is None else environ
    keys = [k.strip() for k in environ.get(ENV_VAR, "").split(",") if k.strip()]
    if keys_file:
        path = Path(keys_file).expanduser()
        if not path.is_file():
            raise ConfigError(f"serve.api_keys_file={keys_file} does not exist.")
        lines = (line.split("#", 1)[0].strip() for line in path.read_text().splitlines())
        keys += [line for line in lines if line]
    return KeySet(keys)
