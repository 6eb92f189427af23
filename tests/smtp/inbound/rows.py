"""Plain async factories for the rows an inbound report points at."""

from __future__ import annotations

from sqlmodel import col, select

from scaisend_core.db import SessionFactory
from scaisend_core.models import (
    EmailMessage,
    MessageEvent,
    MessageRecipient,
    SenderDomain,
    Suppression,
    Tenant,
)
from tests.smtp.inbound.goldens import GoldenMessage


async def sent_message(
    sessions: SessionFactory,
    tenant: Tenant,
    golden: GoldenMessage,
    *,
    status: str = "delivered",
    recipient_status: str = "delivered",
) -> None:
    async with sessions() as session:
        session.add(
            EmailMessage(
                id=golden.message_id,
                tenant_id=tenant.id,
                status=status,
                from_email="billing@acme.example",
                subject=golden.subject,
                message_id_header=golden.message_id_header,
            )
        )
        await session.flush()
        for r in golden.recipients:
            session.add(
                MessageRecipient(
                    id=r.id,
                    tenant_id=tenant.id,
                    message_id=golden.message_id,
                    email=r.email,
                    status=recipient_status,
                )
            )
        await session.commit()


async def sender_domain(
    sessions: SessionFactory, tenant: Tenant, domain: str, return_path_host: str
) -> None:
    async with sessions() as session:
        session.add(
            SenderDomain(
                id=f"dom_{domain.replace('.', '').upper()[:26]:0<26}",
                tenant_id=tenant.id,
                domain=domain,
                return_path_host=return_path_host,
                dkim_private_key="unused",
                dkim_public_key="unused",
            )
        )
        await session.commit()


async def events(sessions: SessionFactory, message_id: str) -> list[MessageEvent]:
    async with sessions() as session:
        statement = (
            select(MessageEvent)
            .where(col(MessageEvent.message_id) == message_id)
            .order_by(col(MessageEvent.occurred_at), col(MessageEvent.id))
        )
        return list((await session.exec(statement)).all())


async def suppressions(sessions: SessionFactory) -> list[Suppression]:
    async with sessions() as session:
        statement = select(Suppression).order_by(col(Suppression.email))
        return list((await session.exec(statement)).all())


async def message(sessions: SessionFactory, message_id: str) -> EmailMessage:
    async with sessions() as session:
        row = await session.get(EmailMessage, message_id)
        assert row is not None
        return row


async def recipients(sessions: SessionFactory, message_id: str) -> dict[str, MessageRecipient]:
    async with sessions() as session:
        statement = select(MessageRecipient).where(col(MessageRecipient.message_id) == message_id)
        return {r.email: r for r in (await session.exec(statement)).all()}
