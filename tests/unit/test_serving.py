"""The API: auth on every route but health, clear 4xx for bad input, micro-batching, limits, shutdown."""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import requests
from fastapi.testclient import TestClient

from t5sum.errors import ConfigError
from t5sum.serving.app import Batching
from t5sum.serving.auth import load_keys
from t5sum.serving.batcher import MicroBatcher, QueueFullError
from t5sum.serving.contract import Limits
from tests.serving_helpers import AUTH, BAD, DIALOGUES, KEY, KEY2, Server, make_app


@pytest.fixture(scope="module")
def client(summarizer):
    app, spy = make_app(summarizer)
    with TestClient(app) as test_client:
        test_client.spy = spy
        yield test_client


ROUTES = [
    ("GET", "/ready"),
    ("GET", "/info"),
    ("GET", "/metrics"),
    ("GET", "/openapi.json"),
    ("GET", "/docs"),
    ("POST", "/score"),
]


@pytest.mark.parametrize(("method", "path"), ROUTES)
def test_every_route_but_health_needs_a_key(client: TestClient, method: str, path: str) -> None:
    for headers in ({}, {"Authorization": "Bearer wrong-key-0123456789"}, {"Authorization": f"Basic {KEY}"}):
        response = client.request(method, path, headers=headers, json={"text": "hi there"})
        assert response.status_code == 401, (path, headers)
        assert response.headers["www-authenticate"] == "Bearer"
        assert response.json() == {"detail": "missing or wrong API key"}
    assert client.request(method, path, headers=AUTH, json={"text": "hi there"}).status_code == 200
    assert client.get("/health").status_code == 200


def test_a_rotated_second_key_works(client: TestClient) -> None:
    response = client.post("/score", json={"text": DIALOGUES[0]}, headers={"Authorization": f"Bearer {KEY2}"})
    assert response.status_code == 200


def test_score_equals_calling_the_summarizer_directly(client: TestClient, summarizer) -> None:
    one = client.post("/score", json={"text": DIALOGUES[0]}, headers=AUTH)
    assert one.json() == {"summary": summarizer.summarize([DIALOGUES[0]])[0]}
    many = client.post("/score", json={"texts": DIALOGUES[:5]}, headers=AUTH)
    assert many.json() == {"summaries": summarizer.summarize(DIALOGUES[:5])}
    beams = client.post("/score", json={"text": DIALOGUES[1], "parameters": {"num_beams": 3}}, headers=AUTH)
    assert beams.json()["summary"] == summarizer.summarize([DIALOGUES[1]], num_beams=3)[0]


@pytest.mark.parametrize(("body", "status", "message"), BAD)
def test_bad_input_gets_a_clear_4xx(client: TestClient, body: dict, status: int, message: str) -> None:
    response = client.post("/score", json=body, headers=AUTH)
    assert response.status_code == status
    assert message in response.json()["detail"]


@pytest.mark.parametrize(
    ("content", "message"),
    [(b'{"text": "unterminated', "JSON decode error"), (b'{"text": "\xff\xfe bad utf-8"}', ""), (b"", "")],
)
def test_malformed_bodies_get_4xx_not_500(client: TestClient, content: bytes, message: str) -> None:
    response = client.post("/score", content=content, headers={**AUTH, "Content-Type": "application/json"})
    assert 400 <= response.status_code < 500
    assert message in response.json()["detail"]


def test_chunked_body_over_the_limit_is_413(client: TestClient) -> None:
    chunks = (b'{"text": "' + b"x" * 5000 for _ in range(5))  # no Content-Length: counted as it streams
    response = client.post("/score", content=chunks, headers={**AUTH, "Content-Type": "application/json"})
    assert response.status_code == 413 and "max_body_bytes=20000" in response.json()["detail"]


def test_parameters_are_clamped_to_the_ceilings(summarizer) -> None:
    app, spy = make_app(summarizer, limits=Limits(ceilings={"max_new_tokens": 7, "num_beams": 2}))
    with TestClient(app) as test_client:
        body = {"text": DIALOGUES[0], "parameters": {"max_new_tokens": 500, "num_beams": 6}}
        assert test_client.post("/score", json=body, headers=AUTH).status_code == 200
    assert spy.calls[-1]["max_new_tokens"] == 7


def test_ready_info_and_metrics(client: TestClient) -> None:
    assert client.get("/ready", headers=AUTH).json() == {"ready": True}
    info = client.get("/info", headers=AUTH).json()
    assert info["backend"] == "TorchSummarizer" and info["limits"]["max_batch_texts"] == 8
    client.post("/score", json={"text": DIALOGUES[2]}, headers=AUTH)
    text = client.get("/metrics", headers=AUTH).text
    assert 't5sum_requests_total{route="/score",status="200"}' in text and "t5sum_batch_texts_bucket" in text
    schema = client.get("/openapi.json", headers=AUTH).json()
    assert "/score" in schema["paths"] and {"401", "413", "422", "503", "504"} <= set(
        schema["paths"]["/score"]["post"]["responses"]
    )


def test_request_logs_are_json_without_text_by_default(client: TestClient, caplog) -> None:
    with caplog.at_level(logging.INFO, logger="t5sum.serve.requests"):
        client.post("/score", json={"text": DIALOGUES[3]}, headers=AUTH)
    entry = json.loads(caplog.records[-1].getMessage())
    assert entry["status"] == 200 and entry["route"] == "/score" and entry["texts"] == 1
    assert entry["latency_ms"] > 0 and entry["input_tokens"] > 0 and entry["output_tokens"] >= 0
    assert DIALOGUES[3][:20] not in caplog.text


async def _concurrent(app, bodies: list[dict]) -> list[httpx.Response]:
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            return await asyncio.gather(*(http.post("/score", json=b, headers=AUTH) for b in bodies))


def test_concurrent_requests_share_one_model_call(summarizer) -> None:
    app, spy = make_app(summarizer, batching=Batching(max_batch_size=8, max_wait_ms=300, max_queue=64))
    responses = asyncio.run(_concurrent(app, [{"text": d} for d in DIALOGUES[:8]]))
    assert [r.status_code for r in responses] == [200] * 8
    assert [c["texts"] for c in spy.calls] == [1, 8]  # the warm-up, then one batch of all eight
    assert [r.json()["summary"] for r in responses] == summarizer.summarize(DIALOGUES[:8])


def test_different_parameters_are_separate_calls(summarizer) -> None:
    app, spy = make_app(summarizer, batching=Batching(max_batch_size=8, max_wait_ms=300, max_queue=64))
    bodies = [{"text": DIALOGUES[i], "parameters": {"max_new_tokens": 5 + i % 2}} for i in range(6)]
    responses = asyncio.run(_concurrent(app, bodies))
    assert all(r.status_code == 200 for r in responses)
    assert sorted(c["texts"] for c in spy.calls[1:]) == [3, 3]


def test_full_queue_is_503_with_retry_after_and_late_is_504(summarizer) -> None:
    app, _ = make_app(summarizer, delay=0.5, batching=Batching(max_batch_size=1, max_wait_ms=0, max_queue=1))
    responses = asyncio.run(_concurrent(app, [{"text": d} for d in DIALOGUES[:3]]))
    codes = sorted(r.status_code for r in responses)
    assert codes[0] == 200 and 503 in codes
    busy = next(r for r in responses if r.status_code == 503)
    assert busy.headers["retry-after"] == "1" and "max_queue=1" in busy.json()["detail"]
    app, _ = make_app(summarizer, delay=0.5, limits=Limits(timeout_s=0.1))
    (late,) = asyncio.run(_concurrent(app, [{"text": DIALOGUES[0]}]))
    assert late.status_code == 504 and "timeout_s=0.1" in late.json()["detail"]


def test_the_seed_client_snippet_works_unchanged(summarizer) -> None:
    app, _ = make_app(summarizer)
    with Server(app) as url:
        # the seed endpoint's client, verbatim apart from the URL and key
        headers = {"Content-Type": "application/json", "Authorization": "Bearer " + KEY}
        response = requests.post(url + "/score", data=json.dumps({"text": DIALOGUES[4]}), headers=headers)
        assert response.status_code == 200
        assert response.json()["summary"] == summarizer.summarize([DIALOGUES[4]])[0]


def test_graceful_shutdown_finishes_in_flight_requests(summarizer) -> None:
    app, _ = make_app(summarizer, delay=1.0)
    result: dict[str, Any] = {}
    server = Server(app)
    with server as url:
        worker = threading.Thread(
            target=lambda: result.update(
                r=requests.post(url + "/score", json={"text": DIALOGUES[5]}, headers=AUTH)
            )
        )
        worker.start()
        time.sleep(0.4)  # the request is now generating
        server.server.should_exit = True
        worker.join(timeout=20)
    assert result["r"].status_code == 200 and result["r"].json()["summary"]


def test_keys_come_from_env_and_file_and_short_keys_are_refused(tmp_path: Path) -> None:
    key_file = tmp_path / "keys"
    key_file.write_text(f"# rotated monthly\n{KEY2}\n")
    keys = load_keys(str(key_file), environ={"T5SUM_API_KEYS": f" {KEY} ,"})
    assert len(keys) == 2 and keys.accepts(KEY) and keys.accepts(KEY2) and not keys.accepts(KEY[:-1])
    with pytest.raises(ConfigError, match="shorter than 16"):
        load_keys(None, environ={"T5SUM_API_KEYS": "short"})
    with pytest.raises(ConfigError, match="does not exist"):
        load_keys(str(tmp_path / "missing"), environ={})


def test_cli_refuses_to_start_without_a_key_unless_auth_none(run_dir: Path, monkeypatch, caplog) -> None:
    from hydra import compose, initialize_config_dir

    from t5sum.config import CONFIG_DIR
    from t5sum.serve import build_app

    monkeypatch.delenv("T5SUM_API_KEYS", raising=False)
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        cfg = compose("serve", overrides=[f"run_dir={run_dir}"])
        no_auth = compose("serve", overrides=[f"run_dir={run_dir}", "serve.auth=none"])
        chunked = compose(
            "serve", overrides=[f"run_dir={run_dir}", "serve.auth=none", "long_input=chunk_merge"]
        )
    with pytest.raises(ConfigError, match="No API key configured"):
        build_app(cfg)
    with caplog.at_level(logging.WARNING, logger="t5sum.serve"):
        app = build_app(no_auth)
    assert "EVERY ROUTE IS OPEN" in caplog.text
    with TestClient(app) as open_client:
        assert open_client.post("/score", json={"text": DIALOGUES[0]}).status_code == 200
        assert open_client.get("/info").json()["long_input"] == "truncate"  # the run's recorded strategy
    with TestClient(build_app(chunked)) as chunked_client:  # long_input= replaces it for this server
        assert chunked_client.get("/info").json()["long_input"] == "chunk_merge"
        assert chunked_client.post("/score", json={"text": DIALOGUES[0]}).status_code == 200
    monkeypatch.setenv("T5SUM_API_KEYS", KEY)
    with TestClient(build_app(cfg)) as keyed:
        assert keyed.post("/score", json={"text": DIALOGUES[0]}).status_code == 401


def test_batcher_fails_only_the_batch_that_raised() -> None:
    def run(texts: list[str], overrides: dict) -> list[str]:
        if "boom" in texts:
            raise RuntimeError("model exploded")
        return [t.upper() for t in texts]

    async def scenario() -> tuple:
        batcher: MicroBatcher[str] = MicroBatcher(run, max_batch_size=4, max_wait_ms=50, max_queue=4)
        await batcher.start()
        good = batcher.submit(["a", "b"], {"x": 1})
        bad = batcher.submit(["boom"], {"x": 2})
        results = await asyncio.gather(good, bad, return_exceptions=True)
        with pytest.raises(QueueFullError):
            await batcher.submit(["1", "2", "3", "4", "5"], {})
        await batcher.stop()
        return results

    good, bad = asyncio.run(scenario())
    assert good == ["A", "B"] and isinstance(bad, RuntimeError)


def test_client_batches_many_texts_and_reports_server_errors(summarizer) -> None:
    from t5sum.client import Client, ClientError

    app, spy = make_app(summarizer, batching=Batching(max_batch_size=4, max_wait_ms=5, max_queue=64))
    with Server(app) as url:
        client = Client(url, api_key=KEY, batch_size=4)
        assert client.summarize(DIALOGUES[:10]) == summarizer.summarize(DIALOGUES[:10])
        assert [c["texts"] for c in spy.calls[1:]] == [4, 4, 2]  # three requests of at most 4 texts
        assert client.summarize(DIALOGUES[0]) == summarizer.summarize([DIALOGUES[0]])[0]
        assert client.health() == {"status": "ok"} and client.info()["backend"] == "TorchSummarizer"
        with pytest.raises(ClientError, match="empty or whitespace only") as err:
            client.summarize("   ")
        assert err.value.status == 422
        with pytest.raises(ClientError) as err:
            Client(url, api_key="wrong-key-0123456789").summarize("hi")
        assert err.value.status == 401


def test_client_retries_503_after_retry_after() -> None:
    from t5sum.client import Client

    class Reply:
        def __init__(self, status: int, body: dict, headers: dict | None = None) -> None:
            self.status_code, self.body, self.headers, self.text = (
                status,
                body,
                headers or {},
                json.dumps(body),
            )

        def json(self) -> dict:
            return self.body

    class Session:
        def __init__(self) -> None:
            self.replies = [
                Reply(503, {"detail": "busy"}, {"Retry-After": "0"}),
                Reply(200, {"summary": "ok"}),
            ]
            self.sent: list[dict] = []

        def post(self, url: str, json: dict, headers: dict, timeout: float) -> Reply:
            self.sent.append({"url": url, "json": json, "headers": headers})
            return self.replies.pop(0)

    session = Session()
    client = Client("http://x/", api_key=KEY, session=session)  # type: ignore[arg-type]
    assert client.summarize("doc", max_new_tokens=5) == "ok"
    assert len(session.sent) == 2 and session.sent[0]["url"] == "http://x/score"
    assert session.sent[0]["json"] == {"text": "doc", "parameters": {"max_new_tokens": 5}}
    assert session.sent[0]["headers"] == AUTH
