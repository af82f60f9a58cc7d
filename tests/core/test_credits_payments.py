"""Credits and payments: the ledger applies every movement once and equals the balance."""

from __future__ import annotations

import asyncio
import contextlib
import random

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from hushcut.core.errors import BadUserInput, Conflict, InsufficientCredits, NotFound
from hushcut.core.models import CreditLedgerEntry, JobStatus, LedgerReason, Payment
from hushcut.core.runtime import Runtime
from hushcut.core.services import credits, jobs, payments
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
        entries = (await credits.list_ledger(session, actor, workspace_id)).items
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


async def test_ledger_stays_consistent_through_any_sequence(runtime: Runtime) -> None:
    """A seeded random walk over every credit-moving operation keeps three invariants:
    the balance equals the ledger sum and is never negative, and each job holds exactly
    one unrefunded charge while it is queued, running or completed, and none otherwise."""
    rng = random.Random(20240611)
    actor, workspace_id = await new_member(runtime, credits=3)
    job_ids: list[str] = []
    events = 0

    async def step(session: AsyncSession) -> None:
        nonlocal events
        operation = rng.choice(
            ["upload", "upload", "claim", "fail", "complete", "cancel", "retry", "pay"]
        )
        job_id = rng.choice(job_ids) if job_ids else None
        if operation == "upload" or job_id is None:
            job = await jobs.create_job(session, actor, workspace_id, "a.mp4", 1, "video/mp4")
            job_ids.append(job.id)
            await jobs.confirm_upload(session, actor, job.id, 1)
        elif operation == "claim":
            await jobs.claim_job(session, job_id, "w", 30, 10)
        elif operation == "fail":
            await jobs.fail_job(session, job_id, None, "failed")
        elif operation == "complete":
            await jobs.complete_job(session, job_id, "w", "out", 1.0, 1.0)
        elif operation == "cancel":
            await jobs.cancel_job(session, actor, job_id)
        elif operation == "retry":
            await jobs.retry_job(session, actor, job_id)
        else:
            events += 1
            # Some deliveries repeat an earlier event or payment.
            event = rng.randint(1, events)
            await payments.apply_payment(
                session,
                provider_event_id=f"evt_{event}",
                event_type="checkout.session.completed",
                workspace_id=workspace_id,
                credits=1,
                amount=100,
                currency="usd",
                payment_intent_id=f"pi_{rng.randint(1, event)}",
            )

    for _ in range(60):
        async with runtime.session() as session:
            with contextlib.suppress(Conflict, InsufficientCredits):
                await step(session)
        balance, ledger = await balance_and_ledger(runtime, workspace_id)
        assert balance == ledger
        assert balance >= 0

    async with runtime.session() as session:
        rows = (
            await session.execute(
                select(CreditLedgerEntry.reason, CreditLedgerEntry.reference).where(
                    CreditLedgerEntry.workspace_id == workspace_id
                )
            )
        ).all()
        for job_id in job_ids:
            job = await jobs.get_job(session, actor, job_id)
            charged = {ref for reason, ref in rows if reason is LedgerReason.JOB_CHARGE}
            refunded = {ref for reason, ref in rows if reason is LedgerReason.JOB_REFUND}
            mine = {f"{job_id}:{n}" for n in range(1, job.charges + 1)}
            assert mine <= charged
            held = mine - refunded
            live = {JobStatus.QUEUED, JobStatus.PROCESSING, JobStatus.COMPLETED}
            assert len(held) == (1 if job.status in live else 0), job.status
        page = await jobs.list_jobs(session, actor, workspace_id, first=100)
    # The walk really went everywhere it should.
    assert {job.status for job in page.items} >= {
        JobStatus.QUEUED,
        JobStatus.COMPLETED,
        JobStatus.FAILED,
        JobStatus.CANCELED,
    }
    assert {reason for reason, _ in rows} >= {
        LedgerReason.JOB_CHARGE,
        LedgerReason.JOB_REFUND,
        LedgerReason.PAYMENT,
    }
