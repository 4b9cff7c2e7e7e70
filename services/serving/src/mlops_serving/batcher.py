"""Dynamic batching: requests that arrive while the model is busy, or within a short window of
each other, are answered by one batched `generate` call.

One batch runs at a time, on a worker thread, so the event loop keeps accepting requests (and
streaming the running batch's tokens) meanwhile. A batch starts when it is full or when its first
request has waited `max_wait_s`; it takes only requests that sample alike. A request whose client
left is marked cancelled: its row stops at the next token and frees its place.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from typing import Protocol

from mlops_serving.engine import Completion, GenerationRequest

log = logging.getLogger(__name__)


class Engine(Protocol):
    def generate(self, requests: list[GenerationRequest], *, max_input_tokens: int) -> list[Completion]: ...


class QueueFull(RuntimeError):
    """More requests wait than the server accepts: the client should retry later."""


@dataclass(eq=False)
class Pending:
    """A request in flight: its tokens (None closes the stream) and its completion."""

    request: GenerationRequest
    tokens: asyncio.Queue[int | None] = field(default_factory=asyncio.Queue)
    done: asyncio.Future[Completion] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


class Batcher:
    def __init__(
        self,
        engine: Engine,
        *,
        max_batch_size: int,
        max_wait_s: float,
        max_queue: int,
        max_input_tokens: int,
    ) -> None:
        self.engine = engine
        self.max_batch_size = max_batch_size
        self.max_wait_s = max_wait_s
        self.max_queue = max_queue
        self.max_input_tokens = max_input_tokens
        self._waiting: list[Pending] = []
        self._arrived = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    @property
    def queued(self) -> int:
        return len(self._waiting)

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="batcher")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        for pending in self._waiting:
            if not pending.done.done():
                pending.done.set_exception(RuntimeError("the server is shutting down"))
        self._waiting.clear()

    def submit(self, request: GenerationRequest) -> Pending:
        if len(self._waiting) >= self.max_queue:
            raise QueueFull(f"{len(self._waiting)} requests are waiting (SERVING_MAX_QUEUE={self.max_queue})")
        loop = asyncio.get_running_loop()
        pending = Pending(request)

        def deliver(token: int) -> None:  # on the engine's thread
            loop.call_soon_threadsafe(pending.tokens.put_nowait, token)

        request.on_token = deliver
        self._waiting.append(pending)
        self._arrived.set()
        return pending

    async def _wait_for_arrival(self, within_s: float | None) -> bool:
        self._arrived.clear()
        try:
            async with asyncio.timeout(within_s):
                await self._arrived.wait()
        except TimeoutError:
            return False
        return True

    async def _next_batch(self) -> list[Pending]:
        while True:
            self._waiting = [p for p in self._waiting if not p.request.cancelled.is_set()]
            if self._waiting:
                break
            await self._wait_for_arrival(None)
        deadline = asyncio.get_running_loop().time() + self.max_wait_s
        while len(self._waiting) < self.max_batch_size:
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0 or not await self._wait_for_arrival(remaining):
                break
        sampling = self._waiting[0].request.sampling
        batch = [p for p in self._waiting if p.request.sampling == sampling][: self.max_batch_size]
        self._waiting = [p for p in self._waiting if p not in batch]
        return batch

    async def _run(self) -> None:
        while True:
            batch = await self._next_batch()
            try:
                completions = await asyncio.to_thread(
                    self.engine.generate,
                    [p.request for p in batch],
                    max_input_tokens=self.max_input_tokens,
                )
            except Exception as exc:
                log.exception("a batch of %d requests failed", len(batch))
                for pending in batch:
                    pending.tokens.put_nowait(None)
                    if not pending.done.done():
                        pending.done.set_exception(exc)
                continue
            for pending, completion in zip(batch, completions, strict=True):
                # after the tokens the engine's thread queued: the stream ends behind them
                asyncio.get_running_loop().call_soon(pending.tokens.put_nowait, None)
                if not pending.done.done():
                    pending.done.set_result(completion)
