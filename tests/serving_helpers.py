"""Shared by the serving tests: keys, sample dialogues, bad bodies, a spying Summarizer, the app factory."""

from __future__ import annotations

import json
import socket
import threading
import time
from pathlib import Path
from typing import Any

import uvicorn

from t5sum.serving.app import create_app
from t5sum.serving.auth import KeySet
from t5sum.serving.contract import Limits

KEY, KEY2 = "first-key-0123456789", "second-key-0123456789"
AUTH = {"Authorization": f"Bearer {KEY}"}
SAMPLE = Path(__file__).resolve().parents[1] / "t5sum" / "resources" / "sample" / "test.jsonl"
DIALOGUES = [json.loads(line)["document"] for line in SAMPLE.open()][:12]


class Spy:
    """Wraps a Summarizer: records how many texts each model call got; can be made slow."""

    def __init__(self, summarizer, delay: float = 0.0) -> None:
        self.inner, self.delay, self.calls = summarizer, delay, []

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def generate_inputs(self, inputs, config, **kwargs):
        self.calls.append({"texts": len(inputs), "max_new_tokens": config.max_new_tokens})
        time.sleep(self.delay)
        return self.inner.generate_inputs(inputs, config, **kwargs)


def make_app(summarizer, delay: float = 0.0, **kwargs: Any):
    spy = Spy(summarizer, delay)
    limits = kwargs.pop("limits", Limits(max_body_bytes=20_000, max_text_chars=5_000, max_batch_texts=8))
    app = create_app(spy, KeySet([KEY, KEY2]), limits=limits, info={"backend": "TorchSummarizer"}, **kwargs)
    return app, spy


BAD = [
    ({"text": ""}, 422, "empty or whitespace only"),
    ({"text": "   \n"}, 422, "empty or whitespace only"),
    ({"texts": ["ok text", " "]}, 422, "texts at positions [1]"),
    ({"texts": []}, 422, '"texts" is empty'),
    ({"text": 5}, 422, "text: Input should be a valid string"),
    ({"texts": "not a list"}, 422, "texts: Input should be a valid list"),
    ({"text": "a", "texts": ["b"]}, 422, "exactly one of"),
    ({}, 422, "exactly one of"),
    (
        {"text": "a", "parameters": {"temperature": 2}},
        422,
        "parameters.temperature: Extra inputs are not permitted",
    ),
    ({"text": "a", "parameters": {"num_beams": 0}}, 422, "parameters.num_beams"),
    ({"text": "a", "extra": 1}, 422, "extra: Extra inputs are not permitted"),
    ({"text": "x" * 5001}, 413, "serve.limits.max_text_chars=5000"),
    ({"texts": ["a"] * 9}, 413, "serve.limits.max_batch_texts=8"),
    ({"text": "x" * 30_000}, 413, "serve.limits.max_body_bytes=20000"),
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    """A real uvicorn server on 127.0.0.1 (free port) in a thread."""

    def __init__(self, app) -> None:
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning",
                                                    timeout_graceful_shutdown=10))  # fmt: skip
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> str:
        self.thread.start()
        while not self.server.started:
            time.sleep(0.02)
        port = self.server.servers[0].sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=20)
