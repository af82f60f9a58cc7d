"""Credits and payments: the ledger applies every movement once and equals the balance."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import select

from hushcut.core.errors import BadUserInput, InsufficientCredits, NotFound
from hushcut.core.models import CreditLedgerEntry, LedgerReason, Payment
from hushcut.core.runtime import Runtime
from hushcut.core.services import credits, payments
from tests.platform import balance_and_ledger, new_member


async def pay(runtime: Runtime, workspace_id: str, event_id: str, intent: str) -> Payment | None:
    async with runtime.session() as session:
        return await payments.apply_payment(
            session,
            provider_event_id=event_id,
            event_type="checkout.session.completed",
            workspace_id=workspace_id,
            credits=10,
            amount=900,
            currency="EUR",
            payment_intent_id=intent,
            checkout_session_id="cs_test_1",
        )


async def test_starter_credits_come_through_the_ledger(runtime: Runtime) -> None:
    actor, workspace_id = await new_member(runtime)
    async with runtime.session() as session:
        entries = await credits.list_ledger(session, actor, workspace_id)
    assert [(e.reason, e.delta) for e in entries] == [
        (LedgerReason.STARTER, runtime.settings.starter_credits)
    ]
    assert await balance_and_ledger(runtime, workspace_id) == (5, 5)


async def test_payment_event_applied_twice_credits_once(runtime: Runtime) -> None:
    _, workspace_id = await new_member(runtime, credits=0)
    first = await pay(runtime, workspace_id, "evt_1", "pi_1")
    assert first is not None
    assert (first.credits, first.amount, first.currency) == (10, 900, "eur")
    assert await pay(runtime, workspace_id, "evt_1", "pi_1") is None
    assert await balance_and_ledger(runtime, workspace_id) == (10, 10)


async def test_two_events_for_one_payment_credit_once(runtime: Runtime) -> None:
    """checkout.session.completed and payment_intent.succeeded name the same intent."""
    _, workspace_id = await new_member(runtime, credits=0)
    assert await pay(runtime, workspace_id, "evt_checkout", "pi_2") is not None
    assert await pay(runtime, workspace_id, "evt_intent", "pi_2") is None
    assert await pay(runtime, workspace_id, "evt_other", "pi_3") is not None
    assert await balance_and_ledger(runtime, workspace_id) == (20, 20)
    async with runtime.session() as session:
        rows = (await session.scalars(select(Payment.provider_payment_id))).all()
    assert sorted(rows) == ["pi_2", "pi_3"]


async def test_concurrent_deliveries_of_one_event_credit_once(runtime: Runtime) -> None:
    _, workspace_id = await new_member(runtime, credits=0)
    results = await asyncio.gather(
        *(pay(runtime, workspace_id, "evt_dup", "pi_dup") for _ in range(8))
    )
    assert sum(result is not None for result in results) == 1
    assert await balance_and_ledger(runtime, workspace_id) == (10, 10)


async def test_payment_for_unknown_workspace_is_refused(runtime: Runtime) -> None:
    with pytest.raises(NotFound):
        await pay(runtime, "00000000-0000-0000-0000-000000000000", "evt_x", "pi_x")
    # Refused as a whole: the event is not remembered, so a later redelivery can apply.
    _, workspace_id = await new_member(runtime, credits=0)
    assert await pay(runtime, workspace_id, "evt_x", "pi_x") is not None


async def test_payment_needs_credits(runtime: Runtime) -> None:
    _, workspace_id = await new_member(runtime)
    async with runtime.session() as session:
        with pytest.raises(BadUserInput):
            await payments.apply_payment(
                session,
                provider_event_id="e",
                event_type="t",
                workspace_id=workspace_id,
                credits=0,
                amount=1,
                currency="usd",
                payment_intent_id="pi",
            )


async def test_webhook_events_are_recorded_once(runtime: Runtime) -> None:
    async with runtime.session() as session:
        assert await payments.record_webhook_event(session, "stripe", "evt_9", "invoice.paid")
        assert not await payments.record_webhook_event(session, "stripe", "evt_9", "invoice.paid")
        assert await payments.record_webhook_event(session, "other", "evt_9", "invoice.paid")


async def test_refund_movement_applies_once(runtime: Runtime) -> None:
    _, workspace_id = await new_member(runtime, credits=1)
    async with runtime.session() as session:
        for _ in range(2):
            await credits.move_credits(session, workspace_id, 1, LedgerReason.JOB_REFUND, "job-1:1")
            await session.commit()
    assert await balance_and_ledger(runtime, workspace_id) == (2, 2)


async def test_balance_never_goes_negative(runtime: Runtime) -> None:
    _, workspace_id = await new_member(runtime, credits=1)
    async with runtime.session() as session:
        with pytest.raises(InsufficientCredits):
            await credits.adjust_credits(session, workspace_id, -2)
        assert await credits.adjust_credits(session, workspace_id, -1) == 0
        assert await credits.set_credits(session, workspace_id, 4) == 4
        with pytest.raises(BadUserInput):
            await credits.set_credits(session, workspace_id, -1)
        reasons = (
            await session.scalars(
                select(CreditLedgerEntry.reason).where(
                    CreditLedgerEntry.workspace_id == workspace_id
                )
            )
        ).all()
    assert sorted(reasons) == ["adjustment", "adjustment", "adjustment", "starter"]
    assert await balance_and_ledger(runtime, workspace_id) == (4, 4)


async def test_list_payments(runtime: Runtime) -> None:
    actor, workspace_id = await new_member(runtime, credits=0)
    await pay(runtime, workspace_id, "evt_a", "pi_a")
    async with runtime.session() as session:
        listed = await payments.list_payments(session, actor, workspace_id)
    assert [p.provider_payment_id for p in listed] == ["pi_a"]
