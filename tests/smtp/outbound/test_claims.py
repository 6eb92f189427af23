"""Claims are group-committed: jobs that start together are claimed in one statement, and a
claim lost to a concurrent job (another replica, a duplicate) is a skip for that job alone."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from scaisend_core.db import SessionFactory
from scaisend_core.models import Tenant
from scaisend_core.queue import DeliverMessage
from scaisend_smtp.outbound import claims, store
from scaisend_smtp.outbound.claims import Claimed, Skip
from scaisend_smtp.outbound.context import Outbound
from tests.fixtures.rendered import RenderedFactory
from tests.smtp.support import DomainFixture, load


async def test_jobs_that_start_together_are_all_claimed_in_one_batch(
    outbound: Outbound, tenant: Tenant, sender_domain: DomainFixture,
    rendered_factory: RenderedFactory, sessions: SessionFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    messages = [await rendered_factory(tenant, [f"r{n}@inbox.test"]) for n in range(3)]

    got = await asyncio.gather(
        *(outbound.claimer.claim(DeliverMessage(message_id=m.id)) for m in messages)
    )

    assert all(isinstance(c, Claimed) for c in got)
    assert "retrying one by one" not in caplog.text  # the batch itself succeeded
    for message in messages:
        row, _ = await load(sessions, message.id)
        assert (row.status, row.attempts) == ("sending", 1)


async def test_a_claim_lost_to_another_replica_skips_only_that_job(
    outbound: Outbound, tenant: Tenant, sender_domain: DomainFixture,
    rendered_factory: RenderedFactory, sessions: SessionFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    lost = await rendered_factory(tenant, ["r0@inbox.test"])
    won = await rendered_factory(tenant, ["r1@inbox.test"])
    async with sessions() as session:  # what this replica read before the other one committed
        snapshot = await store.load_messages(session, [lost.id, won.id])
    other = claims.Claimer(sessions, outbound.claimer._domains, outbound.now)
    assert isinstance(await other.claim(DeliverMessage(message_id=lost.id)), Claimed)
    await other.close()

    async def stale(session: Any, ids: list[str]) -> Any:
        return {i: snapshot[i] for i in ids}

    monkeypatch.setattr(store, "load_messages", stale)
    got = await asyncio.gather(
        outbound.claimer.claim(DeliverMessage(message_id=lost.id)),
        outbound.claimer.claim(DeliverMessage(message_id=won.id)),
    )

    assert got[0] == Skip("skipped: claimed by another job")
    assert isinstance(got[1], Claimed)
    assert (await load(sessions, won.id))[0].attempts == 1
    assert (await load(sessions, lost.id))[0].attempts == 1  # claimed once, by the other
