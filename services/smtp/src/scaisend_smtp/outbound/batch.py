"""Group commit for the database steps of delivery: callers that arrive within a few
milliseconds of one another share one transaction (one checkout, one commit and log flush,
shared lookups). A batch that fails is retried item by item, so one bad row cannot sink the
others; each caller gets its own result or exception. (With `singly=False` a failed batch fails
every caller with its exception instead: for work that cannot fail for one item alone, and must
not be sent twice.)"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

log = logging.getLogger(__name__)
MAX_BATCH = 64
# Seconds a batch waits for company. Deliveries queue for a pooled connection far longer, and
# the cost of a claim or a write is mostly per batch, so a fuller batch is worth the wait.
LINGER = 0.03

T = TypeVar("T")
R = TypeVar("R")


class Batcher(Generic[T, R]):
    def __init__(
        self,
        name: str,
        run: Callable[[list[T]], Awaitable[list[R]]],
        *,
        max_batch: int = MAX_BATCH,
        linger: float = LINGER,
        singly: bool = True,
    ) -> None:
        self._name = name
        self._run = run
        self._max_batch = max_batch
        self._linger = linger
        self._singly = singly
        self._pending: list[tuple[T, asyncio.Future[R]]] = []
        self._drainer: asyncio.Task[None] | None = None

    async def submit(self, item: T) -> R:
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._pending.append((item, future))
        if self._drainer is None or self._drainer.done():
            self._drainer = asyncio.create_task(self._drain(), name=f"smtp-{self._name}")
        # A caller cancelled while waiting (shutdown) does not cancel the others' batch.
        return await asyncio.shield(future)

    async def close(self) -> None:
        if self._drainer is not None:
            with contextlib.suppress(Exception):
                await self._drainer

    async def _drain(self) -> None:
        await asyncio.sleep(self._linger)
        while self._pending:
            batch = self._pending[: self._max_batch]
            del self._pending[: self._max_batch]
            await self._settle(batch)

    async def _settle(self, batch: list[tuple[T, asyncio.Future[R]]]) -> None:
        try:
            results = await self._run([item for item, _ in batch])
        except Exception as exc:
            if len(batch) == 1 or not self._singly:
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                return
            log.warning("%s: a batch of %d failed; retrying one by one", self._name, len(batch))
            for pending in batch:
                await self._settle([pending])
            return
        for (_, future), result in zip(batch, results, strict=True):
            if not future.done():
                future.set_result(result)
