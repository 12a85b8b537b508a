"""The /score contract shared by every front end (FastAPI app, Azure ML score.py): limits, parameter
clamping, request parsing and error messages, so each front end answers the same input the same way."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from t5sum.serving.schemas import ScoreRequest


@dataclass
class Limits:
    max_body_bytes: int = 1_000_000
    max_text_chars: int = 50_000
    max_batch_texts: int = 32
    timeout_s: float = 60.0  # a request waiting (queued + generating) longer gets 504
    ceilings: dict[str, float] = field(default_factory=lambda: {"max_new_tokens": 256, "num_beams": 8})


class RequestError(Exception):
    """A request the server refuses, with its HTTP status and a message that says what to change."""

    def __init__(self, status: int, detail: str, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(detail)
        self.status, self.detail, self.headers = status, detail, dict(headers or {})


def format_errors(errors: Iterable[Mapping[str, Any]]) -> str:
    """pydantic / FastAPI validation errors as one line: `field: message; ...`."""
    parts = []
    for item in errors:
        loc = ".".join(str(x) for x in item.get("loc", ()) if x != "body")
        message = str(item.get("msg", "invalid")).removeprefix("Value error, ")
        parts.append(f"{loc}: {message}" if loc else message)
    return "; ".join(parts) or "invalid request"


def body_limit_message(max_body_bytes: int) -> str:
    return f"request body larger than serve.limits.max_body_bytes={max_body_bytes} bytes"


def parse_body(raw: bytes | str, limits: Limits) -> ScoreRequest:
    """For front ends that get the raw body (score.py); FastAPI does the same through its own parsing."""
    data = raw.encode() if isinstance(raw, str) else raw
    if len(data) > limits.max_body_bytes:
        raise RequestError(413, body_limit_message(limits.max_body_bytes))
    try:
        payload = json.loads(data.decode("utf-8"))
    except UnicodeDecodeError as err:
        raise RequestError(400, f"request body is not UTF-8 ({err.reason} at byte {err.start})") from err
    except json.JSONDecodeError as err:
        raise RequestError(422, f"JSON decode error: {err.msg} at position {err.pos}") from err
    try:
        return ScoreRequest.model_validate(payload)
    except ValidationError as err:
        raise RequestError(422, format_errors(err.errors())) from err


def check_documents(documents: list[str], limits: Limits) -> None:
    if len(documents) > limits.max_batch_texts:
        raise RequestError(
            413, f"{len(documents)} texts: serve.limits.max_batch_texts={limits.max_batch_texts}"
        )
    long = [i for i, doc in enumerate(documents) if len(doc) > limits.max_text_chars]
    if long:
        raise RequestError(
            413, f"texts at positions {long} exceed serve.limits.max_text_chars={limits.max_text_chars}"
        )


def clamped_parameters(
    request: ScoreRequest, limits: Limits, default_max_new_tokens: int | None
) -> dict[str, Any]:
    """The request's generation overrides, each clamped to its ceiling (min_new_tokens to max_new_tokens)."""
    overrides = {
        k: v
        for k, v in (request.parameters.model_dump() if request.parameters else {}).items()
        if v is not None
    }
    for key, ceiling in limits.ceilings.items():
        if key in overrides and overrides[key] > ceiling:
            overrides[key] = type(overrides[key])(ceiling)
    cap = overrides.get("max_new_tokens", default_max_new_tokens)
    if "min_new_tokens" in overrides and cap is not None:
        overrides["min_new_tokens"] = min(overrides["min_new_tokens"], cap)
    return overrides


def response_body(request: ScoreRequest, summaries: list[str]) -> dict[str, Any]:
    return {"summary": summaries[0]} if request.text is not None else {"summaries": summaries}
