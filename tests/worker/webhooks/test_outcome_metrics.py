"""Webhook attempts are counted by model and resulting status, the counter the
webhook-failure alert of troubleshooting-health-and-monitoring reads."""

from __future__ import annotations

from scaisend_core.config import CoreSettings
from scaisend_core.db import SessionFactory
from scaisend_core.events import EventType
from scaisend_core.metrics import WEBHOOK_DELIVERIES
from scaisend_core.models import Tenant
from scaisend_worker.webhooks.jobs import wake_due_webhooks
from tests.fixtures.http_receiver import Receiver, Reply
from tests.worker.webhooks.support import FakeClock, add_endpoint, emit, webhook_runtime


def _count(status: str) -> float:
    return WEBHOOK_DELIVERIES.labels("scaisend", status)._value.get()


async def test_delivered_and_retried_attempts_are_counted(
    core_settings: CoreSettings, sessions: SessionFactory, tenant: Tenant, http_receiver: Receiver
) -> None:
    http_receiver.respond("/ok", Reply(204, b""))
    http_receiver.respond("/down", Reply(503, b"down"))
    await add_endpoint(sessions, tenant.id, http_receiver.url("/ok"))
    await add_endpoint(sessions, tenant.id, http_receiver.url("/down"))
    succeeded, retrying = _count("succeeded"), _count("retrying")
    await emit(sessions, tenant.id, EventType.DELIVERED)
    async with webhook_runtime(core_settings, sessions, FakeClock(), timeout=1.0) as runtime:
        await wake_due_webhooks({"webhooks": runtime})
        await runtime.lanes.idle()
    assert _count("succeeded") == succeeded + 1
    assert _count("retrying") == retrying + 1
