"""Batcher: callers that arrive together share one run."""

from __future__ import annotations

import asyncio

from scaisend_smtp.outbound.batch import Batcher


async def test_a_batch_that_must_not_repeat_fails_every_caller_once() -> None:
    runs: list[list[int]] = []

    async def run(items: list[int]) -> list[None]:
        runs.append(items)
        raise ConnectionError("redis went away")

    batcher: Batcher[int, None] = Batcher("once", run, linger=0, singly=False)
    results = await asyncio.gather(*(batcher.submit(n) for n in range(3)), return_exceptions=True)

    assert runs == [[0, 1, 2]]
    assert all(isinstance(r, ConnectionError) for r in results)
