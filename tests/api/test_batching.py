"""Coalesced lookups (scaisend_api.batching): concurrent callers share one round trip, each gets
its own answer, a round trip only carries callers that arrived before it started, a failure
reaches every caller of its round trip, and a caller that goes away leaves the others alone."""

from __future__ import annotations

import asyncio

import pytest

from scaisend_api.batching import Batcher


class Recorder:
    """A fetch that records each batch and can be held open to let callers pile up."""

    def __init__(self) -> None:
        self.batches: list[list[int]] = []
        self.gate = asyncio.Event()
        self.gate.set()
        self.fail: Exception | None = None

    async def __call__(self, items: list[int]) -> list[int]:
        self.batches.append(list(items))
        await self.gate.wait()
        if self.fail is not None:
            raise self.fail
        return [item * 10 for item in items]


async def test_concurrent_callers_share_one_fetch_and_keep_their_own_results() -> None:
    fetch = Recorder()
    batcher: Batcher[int, int] = Batcher(fetch, "test")
    results = await asyncio.gather(*(batcher.run(i) for i in (3, 1, 3, 2)))
    assert results == [30, 10, 30, 20]
    assert fetch.batches == [[3, 1, 3, 2]]  # duplicates kept, arrival order kept


async def test_callers_arriving_during_a_round_trip_go_in_the_next_one() -> None:
    fetch = Recorder()
    fetch.gate.clear()
    batcher: Batcher[int, int] = Batcher(fetch, "test")
    first = asyncio.create_task(batcher.run(1))
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert fetch.batches == [[1]]  # in flight
    later = [asyncio.create_task(batcher.run(i)) for i in (2, 3)]
    await asyncio.sleep(0)
    assert fetch.batches == [[1]]  # not joined to the round trip that already started
    fetch.gate.set()
    assert await first == 10
    assert await asyncio.gather(*later) == [20, 30]
    assert fetch.batches == [[1], [2, 3]]


async def test_a_failure_reaches_every_caller_of_that_round_trip_only() -> None:
    fetch = Recorder()
    batcher: Batcher[int, int] = Batcher(fetch, "test")
    fetch.fail = RuntimeError("database went away")
    results = await asyncio.gather(batcher.run(1), batcher.run(2), return_exceptions=True)
    assert [str(r) for r in results] == ["database went away"] * 2
    fetch.fail = None
    assert await batcher.run(3) == 30


async def test_a_cancelled_caller_does_not_cancel_the_shared_round_trip() -> None:
    fetch = Recorder()
    fetch.gate.clear()
    batcher: Batcher[int, int] = Batcher(fetch, "test")
    leaving = asyncio.create_task(batcher.run(1))
    staying = asyncio.create_task(batcher.run(2))
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    leaving.cancel()
    await asyncio.sleep(0)
    fetch.gate.set()
    assert await staying == 20
    with pytest.raises(asyncio.CancelledError):
        await leaving


async def test_a_batch_is_capped_and_the_rest_follow() -> None:
    fetch = Recorder()
    batcher: Batcher[int, int] = Batcher(fetch, "test", max_batch=2)
    assert await asyncio.gather(*(batcher.run(i) for i in range(5))) == [0, 10, 20, 30, 40]
    assert fetch.batches == [[0, 1], [2, 3], [4]]


async def test_a_fetch_answering_the_wrong_number_of_items_fails_loudly() -> None:
    async def short(items: list[int]) -> list[int]:
        return items[:-1]

    batcher: Batcher[int, int] = Batcher(short, "short")
    with pytest.raises(RuntimeError, match="1 results for 2 items"):
        await asyncio.gather(batcher.run(1), batcher.run(2))
