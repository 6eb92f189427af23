"""Coalescing of per-request lookups: requests that arrive while a round trip is in flight wait
and go together in the next one (the group-commit pattern, for reads and counters).

Every request still gets its own answer from a round trip that *starts after it arrived*, so
nothing is served from a cache: a key revoked before the request came in is seen as revoked.
Under load this turns 32 concurrent API-key lookups (or rate-limit counts) into one query (or
one pipeline), which saves the driver's CPU per round trip in this process and the server's in
MySQL or Redis. Idle, a request pays one extra event-loop turn, nothing more."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")

MAX_BATCH = 256  # a bound on one statement's size; more waiters go in the next round trip


class Batcher(Generic[Item, Result]):
    """`await batcher.run(item)` -> that item's result from `fetch(items)`, which gets every
    item waiting (duplicates included, in arrival order) and returns one result per item in
    the same order. An exception from `fetch` is raised to every waiter of that batch."""

    def __init__(
        self,
        fetch: Callable[[list[Item]], Awaitable[Sequence[Result]]],
        name: str,
        max_batch: int = MAX_BATCH,
    ) -> None:
        self._fetch = fetch
        self._name = name
        self._max_batch = max_batch
        self._waiting: list[tuple[Item, asyncio.Future[Result]]] = []
        self._runner: asyncio.Task[None] | None = None

    async def run(self, item: Item) -> Result:
        future: asyncio.Future[Result] = asyncio.get_running_loop().create_future()
        self._waiting.append((item, future))
        if self._runner is None:
            self._runner = asyncio.create_task(self._drain(), name=self._name)
        # Each waiter owns its future: a caller that goes away (client hung up) cancels only
        # its own wait, never the round trip the others share.
        return await future

    async def _drain(self) -> None:
        try:
            while self._waiting:
                batch = self._waiting[: self._max_batch]
                del self._waiting[: self._max_batch]
                await self._answer(batch)
        finally:
            self._runner = None

    async def _answer(self, batch: list[tuple[Item, asyncio.Future[Result]]]) -> None:
        try:
            results = await self._fetch([item for item, _ in batch])
            if len(results) != len(batch):
                raise RuntimeError(f"{self._name}: {len(results)} results for {len(batch)} items")
        except asyncio.CancelledError:  # shutdown: nobody will answer these waiters now
            for _, future in batch:
                future.cancel()
            raise
        except Exception as exc:  # every waiter of this round trip sees its failure
            for _, future in batch:
                if not future.done():
                    future.set_exception(exc)
            return
        for (_, future), result in zip(batch, results, strict=True):
            if not future.done():
                future.set_result(result)
