"""The FastAPI app: POST /score behind Bearer keys, limits, micro-batching, health, metrics, JSON logs."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from starlette.exceptions import HTTPException
from starlette.middleware.body_limit import RequestBodyLimitMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from t5sum.inference.base import BatchedSummarizer, InputError
from t5sum.serving.auth import KeySet
from t5sum.serving.batcher import MicroBatcher, QueueFullError
from t5sum.serving.contract import (
    Limits,
    RequestError,
    body_limit_message,
    check_documents,
    clamped_parameters,
    format_errors,
    response_body,
)
from t5sum.serving.schemas import ErrorResponse, ScoreRequest, SummariesResponse, SummaryResponse

log = logging.getLogger("t5sum.serve")
request_log = logging.getLogger("t5sum.serve.requests")


@dataclass
class Batching:
    max_batch_size: int = 16
    max_wait_ms: float = 10.0
    max_queue: int = 256


@dataclass
class Generated:
    summary: str
    input_tokens: int
    output_tokens: int


def summarize_with_counts(
    summarizer: BatchedSummarizer, texts: list[str], overrides: dict[str, Any]
) -> list[Generated]:
    """The Summarizer's own encode + generate, keeping the token counts for logs and metrics."""
    config = summarizer.resolve_config(overrides)
    inputs = summarizer.encode_inputs(texts)
    summaries, lengths = summarizer.generate_inputs(inputs, config)
    return [Generated(s, m.kept_tokens, n) for s, m, n in zip(summaries, inputs, lengths, strict=True)]


class _Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "t5sum_requests", "HTTP requests", ["route", "status"], registry=self.registry
        )
        self.latency = Histogram(
            "t5sum_request_seconds", "request latency", ["route"], registry=self.registry,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
        )  # fmt: skip
        self.batch_texts = Histogram(
            "t5sum_batch_texts",
            "texts per model call",
            registry=self.registry,
            buckets=(1, 2, 4, 8, 16, 32, 64),
        )
        self.batch_seconds = Histogram(
            "t5sum_batch_seconds", "seconds per model call", registry=self.registry
        )
        self.tokens = Counter("t5sum_tokens", "tokens in and out", ["direction"], registry=self.registry)
        self.queued = Gauge("t5sum_queued_texts", "texts waiting for the model", registry=self.registry)


class _NamedBodyLimit:
    """Starlette's RequestBodyLimitMiddleware (chunked bodies too), with a JSON 413 naming the limit."""

    def __init__(self, app: ASGIApp, max_body_size: int) -> None:
        self.app = RequestBodyLimitMiddleware(app, max_body_size=max_body_size)
        self.body = json.dumps({"detail": body_limit_message(max_body_size)}).encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        rewriting = False

        async def send_named(message: Message) -> None:
            nonlocal rewriting
            if message["type"] == "http.response.start" and message["status"] == 413:
                headers = dict(message.get("headers", []))
                if headers.get(b"content-type", b"").startswith(b"text/plain"):
                    rewriting = True
                    message = {
                        **message,
                        "headers": [
                            (b"content-type", b"application/json"),
                            (b"content-length", b"%d" % len(self.body)),
                        ],
                    }
            elif message["type"] == "http.response.body" and rewriting:
                message = {**message, "body": self.body}
            await send(message)

        await self.app(scope, receive, send_named)


_BEARER = HTTPBearer(auto_error=False, description="Authorization: Bearer <key> (T5SUM_API_KEYS)")


class KeyAuth:
    """The dependency on every route but /health. `keys=None` (serve.auth=none) lets everything through."""

    def __init__(self, keys: KeySet | None) -> None:
        self.keys = keys

    async def __call__(
        self, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_BEARER)]
    ) -> None:
        if self.keys is None:
            return
        if credentials is None or not self.keys.accepts(credentials.credentials):
            raise HTTPException(401, "missing or wrong API key", headers={"WWW-Authenticate": "Bearer"})


def _error(status: int, detail: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"detail": detail}, status_code=status, headers=headers)


ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorResponse, "description": text}
    for code, text in {
        401: "missing or wrong API key",
        413: "body, text or batch over a configured limit",
        422: "malformed JSON, wrong types, empty text or unknown parameter",
        503: "queue full (see Retry-After) or model not ready",
        504: "request past serve.limits.timeout_s",
    }.items()
}


def create_app(
    summarizer: BatchedSummarizer,
    keys: KeySet | None,
    limits: Limits | None = None,
    batching: Batching | None = None,
    info: dict[str, Any] | None = None,
    log_text: bool = False,
) -> FastAPI:
    """`keys=None` turns auth off (serve.auth=none); the CLI refuses that unless it was asked for."""
    limits = limits or Limits()
    batching = batching or Batching()
    metrics = _Metrics()
    state: dict[str, Any] = {"ready": False}

    def on_batch(size: int, seconds: float) -> None:
        metrics.batch_texts.observe(size)
        metrics.batch_seconds.observe(seconds)

    batcher: MicroBatcher[Generated] = MicroBatcher(
        lambda texts, overrides: summarize_with_counts(summarizer, texts, overrides),
        batching.max_batch_size,
        batching.max_wait_ms,
        batching.max_queue,
        on_batch=on_batch,
    )

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await batcher.start()
        await batcher.call(
            summarize_with_counts, summarizer, ["Warm-up text for the model."], {"max_new_tokens": 2}
        )
        state["ready"] = True
        log.info("ready: %s", json.dumps(info or {}, default=str))
        yield
        state["ready"] = False
        await batcher.stop()  # uvicorn has stopped accepting; finish what is queued

    secured = [Depends(KeyAuth(keys))]
    app = FastAPI(
        title="t5sum",
        summary="Abstractive summarization with a fine-tuned T5-family model.",
        version=str((info or {}).get("t5sum_version", "0")),
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.state.batcher = batcher
    app.state.metrics = metrics

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_: Request, err: RequestValidationError) -> JSONResponse:
        return _error(422, format_errors(err.errors()))

    @app.exception_handler(HTTPException)
    async def http_error(_: Request, err: HTTPException) -> JSONResponse:
        # a body that outgrows the limit while it streams (chunked) surfaces here as Starlette's bare 413
        detail = body_limit_message(limits.max_body_bytes) if err.status_code == 413 else str(err.detail)
        return _error(err.status_code, detail, dict(err.headers or {}))

    @app.middleware("http")
    async def observe(request: Request, call_next: Any) -> Response:
        started = time.perf_counter()
        try:
            response = await call_next(request)
        except Exception:  # never reached in practice: handlers turn errors into responses
            log.exception("unhandled error")
            response = _error(500, "internal error")
        seconds = time.perf_counter() - started
        route = request.scope.get("route")
        path = getattr(route, "path", "unmatched")
        metrics.requests.labels(path, str(response.status_code)).inc()
        metrics.latency.labels(path).observe(seconds)
        metrics.queued.set(batcher.queued_texts)
        if path not in ("/health", "/metrics"):
            entry = {"route": path, "method": request.method, "status": response.status_code,
                     "latency_ms": round(1000 * seconds, 2), **getattr(request.state, "log", {})}  # fmt: skip
            request_log.info(json.dumps(entry, ensure_ascii=False))
        return response

    @app.get("/health", tags=["ops"], summary="Liveness (no key needed)")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/ready", tags=["ops"], dependencies=secured, responses=ERRORS)
    async def ready() -> JSONResponse:
        ok = state["ready"]
        return JSONResponse({"ready": ok}, status_code=200 if ok else 503)

    @app.get("/info", tags=["ops"], dependencies=secured, responses=ERRORS)
    async def get_info() -> dict[str, Any]:
        return {
            **(info or {}),
            "limits": limits.__dict__,
            "batching": batching.__dict__,
            "generation": summarizer.generation_config.to_diff_dict(),
        }

    @app.get(
        "/metrics", tags=["ops"], dependencies=secured, responses=ERRORS, response_class=PlainTextResponse
    )
    async def prometheus() -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    @app.get("/openapi.json", include_in_schema=False, dependencies=secured)
    async def openapi() -> JSONResponse:
        return JSONResponse(app.openapi())

    @app.get("/docs", include_in_schema=False, dependencies=secured)
    async def docs() -> Response:
        return get_swagger_ui_html(openapi_url="/openapi.json", title="t5sum API")

    @app.post(
        "/score",
        tags=["summarize"],
        dependencies=secured,
        response_model=SummaryResponse | SummariesResponse,
        responses=ERRORS,
        summary='{"text": str} -> {"summary": str}, or {"texts": [...]} -> {"summaries": [...]}',
    )
    async def score(body: ScoreRequest, request: Request) -> dict[str, Any] | JSONResponse:
        documents = body.documents
        try:
            check_documents(documents, limits)
        except RequestError as err:
            return _error(err.status, err.detail)
        overrides = clamped_parameters(body, limits, summarizer.generation_config.max_new_tokens)
        try:
            results = await batcher.submit(documents, overrides, timeout=limits.timeout_s)
        except QueueFullError as err:
            return _error(503, f"server busy: {err}; retry shortly", {"Retry-After": "1"})
        except TimeoutError:
            return _error(504, f"not finished within serve.limits.timeout_s={limits.timeout_s}")
        except InputError as err:
            return _error(422, str(err))
        tokens_in = sum(r.input_tokens for r in results)
        tokens_out = sum(r.output_tokens for r in results)
        metrics.tokens.labels("in").inc(tokens_in)
        metrics.tokens.labels("out").inc(tokens_out)
        request.state.log = {"texts": len(results), "input_tokens": tokens_in, "output_tokens": tokens_out,
                             "parameters": overrides}  # fmt: skip
        if log_text:
            request.state.log["documents"] = documents
            request.state.log["summaries"] = [r.summary for r in results]
        return response_body(body, [r.summary for r in results])

    app.add_middleware(_NamedBodyLimit, max_body_size=limits.max_body_bytes)
    return app
