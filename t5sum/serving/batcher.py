"""Micro-batching: concurrent requests become one Summarizer call, off the event loop.

Ray Serve's rule: a batch closes when it holds `max_batch_size` texts or `max_wait_ms` after its first
request arrived, whichever comes first. Requests with different generation parameters cannot share a call,
so a closed batch runs one call per parameter set. One worker thread runs the model, so health checks and
request parsing stay on a free event loop; a bounded queue turns overload into a fast 503 instead of
unbounded latency.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

R = TypeVar("R")
Overrides = tuple[tuple[str, Any], ...]


class QueueFullError(Exception):
    """More texts are waiting than serve.batching.max_queue allows."""


@dataclass
class _Job(Generic[R]):
    texts: list[str]
    overrides: Overrides
    future: asyncio.Future[list[R]]
    enqueued: float = field(default_factory=time.perf_counter)


class MicroBatcher(Generic[R]):
    def __init__(
        self,
        run: Callable[[list[str], dict[str, Any]], Sequence[R]],
        max_batch_size: int = 16,
        max_wait_ms: float = 10.0,
        max_queue: int = 256,
        on_batch: Callable[[int, float], None] | None = None,
    ) -> None:
        if max_batch_size < 1 or max_wait_ms < 0 or max_queue < 1:
            raise ValueError("max_batch_size and max_queue must be >= 1 and max_wait_ms >= 0")
        self.run = run
        self.max_batch_size = max_batch_size
        self.max_wait = max_wait_ms / 1000
        self.max_queue = max_queue
        self.on_batch = on_batch  # (texts in the call, seconds) after each model call
        self.queued_texts = 0
        self._queue: asyncio.Queue[_Job[R]] | None = None
        self._worker: asyncio.Task | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._idle: asyncio.Event | None = None

    async def start(self) -> None:
        self._queue = asyncio.Queue()
        self._idle = asyncio.Event()
        self._idle.set()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="t5sum-model")
        self._worker = asyncio.create_task(self._loop(), name="t5sum-batcher")

    async def stop(self) -> None:
        """Finish what is queued or running, then stop (graceful shutdown)."""
        if self._worker is None or self._queue is None or self._idle is None:
            return
        while self.queued_texts or not self._idle.is_set():
            await asyncio.sleep(0.01)
        self._worker.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._worker
        if self._executor is not None:
            self._executor.shutdown(wait=True)
        self._worker = None

    async def call(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Run `fn` on the model thread (e.g. the warm-up), serialized with the batches."""
        assert self._executor is not None, "start() the batcher first"
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    async def submit(
        self, texts: list[str], overrides: dict[str, Any], timeout: float | None = None
    ) -> list[R]:
        """Queue the texts; raises QueueFullError at once when full and TimeoutError past the deadline."""
        if self._queue is None:
            raise RuntimeError("start() the batcher first")
        if self.queued_texts + len(texts) > self.max_queue:
            raise QueueFullError(f"{self.queued_texts} texts are already queued (max_queue={self.max_queue})")
        job: _Job[R] = _Job(
            list(texts), tuple(sorted(overrides.items())), asyncio.get_running_loop().create_future()
        )
        self.queued_texts += len(job.texts)
        self._queue.put_nowait(job)
        try:
            return await asyncio.wait_for(asyncio.shield(job.future), timeout)
        except TimeoutError:
            job.future.cancel()  # still queued: the worker skips it; already running: the result is dropped
            raise

    async def _collect(self) -> list[_Job[R]]:
        assert self._queue is not None
        first = await self._queue.get()
        batch, size = [first], len(first.texts)
        closes = time.perf_counter() + self.max_wait
        while size < self.max_batch_size:
            remaining = closes - time.perf_counter()
            if remaining <= 0:
                break
            try:
                job = await asyncio.wait_for(self._queue.get(), remaining)
            except TimeoutError:
                break
            batch.append(job)
            size += len(job.texts)
        return batch

    async def _loop(self) -> None:
        assert self._idle is not None
        while True:
            batch = await self._collect()
            self._idle.clear()
            try:
                groups: dict[Overrides, list[_Job[R]]] = {}
                for job in batch:
                    groups.setdefault(job.overrides, []).append(job)
                for overrides, jobs in groups.items():
                    await self._run_group(dict(overrides), jobs)
            finally:
                self.queued_texts -= sum(len(job.texts) for job in batch)
                self._idle.set()

    async def _run_group(self, overrides: dict[str, Any], jobs: list[_Job[R]]) -> None:
        live = [job for job in jobs if not job.future.done()]  # timed-out requests are skipped
        if not live:
            return
        texts = [text for job in live for text in job.texts]
        started = time.perf_counter()
        try:
            results = list(await self.call(self.run, texts, overrides))
        except Exception as err:  # one bad batch fails its own requests, not the server
            for job in live:
                if not job.future.done():
                    job.future.set_exception(err)
            return
        if self.on_batch is not None:
            self.on_batch(len(texts), time.perf_counter() - started)
        start = 0
        for job in live:
            part = results[start : start + len(job.texts)]
            start += len(job.texts)
            if not job.future.done():
                job.future.set_result(part)
