"""Payments: credits bought through Stripe, applied once per event and once per payment."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import and_, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from hushcut.core.db import end_read, insert_once, transaction
from hushcut.core.errors import BadUserInput, NotFound
from hushcut.core.models import LedgerReason, Membership, Payment, WebhookEvent, Workspace
from hushcut.core.services.auth import Actor, by_workspace, one_workspace, own_memberships
from hushcut.core.services.credits import move_credits


async def record_webhook_event(
    session: AsyncSession, provider: str, event_id: str, event_type: str
) -> bool:
    """Remember a webhook event that needs no other action; False if seen before."""
    async with transaction(session):
        return await _remember_event(session, provider, event_id, event_type)


async def _remember_event(
    session: AsyncSession, provider: str, event_id: str, event_type: str
) -> bool:
    return await insert_once(
        session,
        WebhookEvent,
        {"provider": provider, "event_id": event_id, "event_type": event_type},
    )


async def apply_payment(
    session: AsyncSession,
    *,
    provider_event_id: str,
    event_type: str,
    workspace_id: str,
    credits: int,
    amount: int,
    currency: str,
    payment_intent_id: str,
    checkout_session_id: str | None = None,
    provider: str = "stripe",
) -> Payment | None:
    """Add the credits of a completed payment; returns the new Payment, or None if the
    event or the payment was already applied.

    Two dedupe keys: the provider's event id (Stripe redelivers events) and the payment
    intent id (checkout.session.completed and payment_intent.succeeded describe the same
    payment and must credit it once). The ledger's unique (payment, intent id) is the
    last guard.
    """
    if credits <= 0:
        raise BadUserInput("a payment must buy at least one credit")
    if not payment_intent_id:
        raise BadUserInput("a payment needs the provider's payment id")
    async with transaction(session):
        if not await _remember_event(session, provider, provider_event_id, event_type):
            return None
        if await session.get(Workspace, workspace_id) is None:
            raise NotFound(f"workspace {workspace_id} not found")
        inserted = await insert_once(
            session,
            Payment,
            {
                "workspace_id": workspace_id,
                "provider": provider,
                "provider_payment_id": payment_intent_id,
                "checkout_session_id": checkout_session_id,
                "credits": credits,
                "amount": amount,
                "currency": currency.lower(),
            },
        )
        if not inserted:
            return None
        payment = (
            await session.scalars(
                select(Payment).where(Payment.provider_payment_id == payment_intent_id)
            )
        ).one()
        await move_credits(
            session,
            workspace_id,
            credits,
            LedgerReason.PAYMENT,
            payment_intent_id,
            f"{credits} credits bought ({amount} {currency.lower()})",
            payment_id=payment.id,
        )
        return payment


async def payments_by_workspace(
    session: AsyncSession, actor: Actor, workspace_ids: Iterable[str], limit: int = 100
) -> dict[str, list[Payment]]:
    """Each reachable workspace's payments, newest first, at most ``limit`` (1..100) per
    workspace, in one query (members only; other workspaces are left out)."""
    newest = (
        func.row_number()
        .over(
            partition_by=Payment.workspace_id,
            order_by=(Payment.created_at.desc(), Payment.id.desc()),
        )
        .label("newest")
    )
    ranked = (
        select(Payment, newest)
        .where(Payment.workspace_id.in_(actor.reachable(workspace_ids)))
        .subquery()
    )
    payment = aliased(Payment, ranked)
    rows = await session.execute(
        select(Membership.workspace_id, payment)
        .select_from(Membership)
        .outerjoin(
            payment,
            and_(
                payment.workspace_id == Membership.workspace_id,
                ranked.c.newest <= max(1, min(limit, 100)),
            ),
        )
        .where(own_memberships(actor, workspace_ids))
        .order_by(ranked.c.newest)
    )
    found = by_workspace((key, row) for key, row in rows)
    await end_read(session)
    return found


async def list_payments(
    session: AsyncSession, actor: Actor, workspace_id: str, limit: int = 100
) -> list[Payment]:
    """The workspace's payments, newest first (members only)."""
    found = await payments_by_workspace(session, actor, [workspace_id], limit)
    return one_workspace(found, workspace_id)
