"""Pooled MX connections as the recipient MX sees them: reused across messages, reset after
an aborted transaction, probed after a quiet spell, retired after enough transactions."""

from __future__ import annotations

from typing import Any

import pytest

from scaisend_core.db import SessionFactory
from scaisend_core.models import Tenant
from scaisend_smtp.outbound.context import Outbound
from tests.fixtures.dns import Zone
from tests.fixtures.mx import MxFleet
from tests.fixtures.rendered import RenderedFactory
from tests.smtp.support import DomainFixture, events_of, kinds, route, run


@pytest.fixture
def inbox(dns: Zone, mx: MxFleet) -> MxFleet:
    route(dns, "inbox.test", (10, mx[0].address))
    dns.mx("other.test", (10, "mx1.inbox.test"))  # a second domain on the same MX host
    return mx


async def test_several_messages_share_one_connection(
    outbound: Outbound, inbox: MxFleet, tenant: Tenant, sender_domain: DomainFixture,
    rendered_factory: RenderedFactory,
) -> None:  # fmt: skip
    for address in ("a@inbox.test", "b@inbox.test", "c@other.test"):
        await run(outbound, await rendered_factory(tenant, [address]))

    assert len(inbox[0].received) == 3
    assert inbox[0].connections == 1
    assert outbound.pools.open_connections("mx1.inbox.test", inbox.port) == 1


async def test_a_connection_is_reset_after_a_transaction_with_no_accepted_recipient(
    outbound: Outbound, inbox: MxFleet, tenant: Tenant, sender_domain: DomainFixture,
    rendered_factory: RenderedFactory, sessions: SessionFactory,
) -> None:  # fmt: skip
    inbox[0].script.rcpt["gone@inbox.test"] = ["550 5.1.1 User unknown"]
    await run(outbound, await rendered_factory(tenant, ["gone@inbox.test"]))
    second = await rendered_factory(tenant, ["ada@inbox.test"])

    await run(outbound, second)

    assert inbox[0].commands == ["RSET"]
    assert inbox[0].connections == 1
    assert kinds(await events_of(sessions, second.id)) == ["delivered"]


class TestSmallPools:
    @pytest.fixture
    def smtp_overrides(self) -> dict[str, Any]:
        return {"smtp_pool_max_messages": 2, "smtp_pool_probe_after": 0.0}

    async def test_an_idle_connection_is_probed_with_noop_before_reuse(
        self, outbound: Outbound, inbox: MxFleet, tenant: Tenant, sender_domain: DomainFixture,
        rendered_factory: RenderedFactory,
    ) -> None:  # fmt: skip
        await run(outbound, await rendered_factory(tenant, ["a@inbox.test"]))
        await run(outbound, await rendered_factory(tenant, ["b@inbox.test"]))
        assert inbox[0].commands == ["NOOP", "QUIT"]  # probed, then retired after two

    async def test_a_connection_is_retired_after_max_messages(
        self, outbound: Outbound, inbox: MxFleet, tenant: Tenant, sender_domain: DomainFixture,
        rendered_factory: RenderedFactory,
    ) -> None:  # fmt: skip
        for address in ("a@inbox.test", "b@inbox.test", "c@inbox.test"):
            await run(outbound, await rendered_factory(tenant, [address]))
        assert inbox[0].connections == 2
        assert "QUIT" in inbox[0].commands
