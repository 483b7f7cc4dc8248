"""Adaptive batching in one process: a request that finds the model idle runs at once; requests that arrive
while it runs form the next batch (up to ``max_batch``), as Triton's dynamic batcher does with no queue delay.

An optional ``max_wait_s`` holds a batch until it fills or that long after its first request, for users who
trade latency for larger batches. The model runs on a thread of its own, so the event loop keeps reading
requests meanwhile. The queue is bounded (``Overloaded``: answer 503) and every request has a deadline
(``DeadlineExceeded``: answer 504; a request that times out while queued never reaches the model).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from .api import Request
from .metrics import ReplicaMetrics


class Overloaded(Exception):
    """The queue is full: the request is refused before it waits."""


class DeadlineExceeded(Exception):
    """The request was not answered within its deadline."""


@dataclass
class _Pending:
    request: Request
    future: asyncio.Future
    arrived: float = field(default_factory=time.monotonic)
    abandoned: bool = False  # its client's deadline passed while it was queued


class AdaptiveBatcher:
    """Batches requests for ``answer(requests)`` (which fills each request's answers, on the model thread)."""

    def __init__(
        self,
        answer: Callable[[list[Request]], None],
        max_batch: int = 32,
        max_queued: int = 64,
        max_wait_s: float = 0.0,
        metrics: ReplicaMetrics | None = None,
    ) -> None:
        if max_batch < 1 or max_queued < 1 or max_wait_s < 0:
            raise ValueError("max_batch and max_queued must be at least 1 and max_wait_s not negative")
        self.answer, self.max_batch, self.max_queued, self.max_wait_s = answer, max_batch, max_queued, max_wait_s
        self.metrics = metrics
        self.queue: deque[_Pending] = deque()
        self.executor = ThreadPoolExecutor(1, thread_name_prefix="mtkd-model")
        self._wakeup: asyncio.Event | None = None
        self._worker: asyncio.Task | None = None

    def start(self) -> None:
        """Start the batching loop on the running event loop."""
        self._wakeup = asyncio.Event()
        self._worker = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        """Stop the loop, fail what is still queued and release the model thread."""
        if self._worker is not None:
            self._worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._worker
        while self.queue:
            pending = self.queue.popleft()
            if not pending.future.done():
                pending.future.set_exception(Overloaded("the server is shutting down"))
        self.executor.shutdown(wait=False)

    async def submit(self, request: Request, deadline_s: float) -> dict[str, int]:
        """Wait for ``request``'s answers (filled in place); returns its batch's size in requests and inputs."""
        if self._wakeup is None:
            raise RuntimeError("the batcher is not started")
        if len(self.queue) >= self.max_queued:
            raise Overloaded(f"{len(self.queue)} requests are queued; try again shortly")
        pending = _Pending(request, asyncio.get_running_loop().create_future())
        self.queue.append(pending)
        self._wakeup.set()
        try:
            return await asyncio.wait_for(asyncio.shield(pending.future), deadline_s)
        except TimeoutError:
            pending.abandoned = True
            pending.future.cancel()  # nothing is set on it later, so no result or error goes unread
            with contextlib.suppress(ValueError):  # still queued: its place is free again
                self.queue.remove(pending)
            raise DeadlineExceeded(f"not answered within {deadline_s:g} s") from None

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            if not self.queue:
                self._wakeup.clear()
                await self._wakeup.wait()
                continue
            if self.max_wait_s > 0:
                await self._fill()
            batch = self._take()
            if not batch:
                continue
            started = time.monotonic()
            requests = [p.request for p in batch]
            try:
                await loop.run_in_executor(self.executor, self.answer, requests)
            except Exception as e:  # the model failed: this batch's requests fail, the server lives on
                for p in batch:
                    if not p.future.done():
                        p.future.set_exception(e)
                continue
            info = {"requests": len(batch), "inputs": sum(len(r.inputs) for r in requests)}
            self._observe(batch, started, info)
            for p in batch:
                if not p.future.done():
                    p.future.set_result(info)

    async def _fill(self) -> None:
        """Hold the batch until it is full or ``max_wait_s`` after its first request arrived."""
        deadline = self.queue[0].arrived + self.max_wait_s
        while len(self.queue) < self.max_batch and (left := deadline - time.monotonic()) > 0:
            self._wakeup.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wakeup.wait(), left)

    def _take(self) -> list[_Pending]:
        batch: list[_Pending] = []
        while self.queue and len(batch) < self.max_batch:
            pending = self.queue.popleft()
            if not pending.abandoned:
                batch.append(pending)
        return batch

    def _observe(self, batch: list[_Pending], started: float, info: dict[str, Any]) -> None:
        if self.metrics is None:
            return
        for p in batch:
            self.metrics.queue_wait.observe(started - p.arrived)
        self.metrics.batch_requests.observe(info["requests"])
        self.metrics.batch_inputs.observe(info["inputs"])
        self.metrics.model_seconds.observe(time.monotonic() - started)
