"""Credits: every movement is a ledger row, unique per (reason, reference), applied once."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from hushcut.core.db import end_read, insert_once, transaction
from hushcut.core.errors import BadUserInput, InsufficientCredits, NotFound
from hushcut.core.models import CreditLedgerEntry, LedgerReason, Workspace, new_id, utcnow
from hushcut.core.services.auth import Actor, require_member
from hushcut.core.services.paging import Page, Position, newest_first


@dataclass(frozen=True, slots=True)
class Movement:
    """The outcome of :func:`move_credits`: whether it applied and the balance after."""

    applied: bool
    balance: int | None


async def move_credits(
    session: AsyncSession,
    workspace_id: str,
    delta: int,
    reason: LedgerReason,
    reference: str,
    note: str | None = None,
    *,
    job_id: str | None = None,
    payment_id: str | None = None,
) -> Movement:
    """Record ``delta`` in the ledger and the workspace balance, once per (reason, reference).

    Runs inside the caller's transaction and does not commit. A movement whose key is
    already in the ledger changes nothing (``applied`` False). A debit the balance
    cannot cover raises InsufficientCredits; the caller's transaction must then be
    rolled back, which also removes the ledger row written here. ``job_id`` and
    ``payment_id`` name what the movement is for, for people reading the ledger.
    """
    entry_id = new_id()
    inserted = await insert_once(
        session,
        CreditLedgerEntry,
        {
            "id": entry_id,
            "workspace_id": workspace_id,
            "delta": delta,
            "reason": reason,
            "reference": reference,
            "note": note,
            # Set below, once the balance is known; the row is invisible until commit.
            "balance_after": 0,
            "job_id": job_id,
            "payment_id": payment_id,
        },
    )
    if not inserted:
        return Movement(applied=False, balance=None)
    # One conditional UPDATE: concurrent callers serialise on the workspace row and each
    # re-checks the balance, so credits never go below zero whatever the interleaving.
    statement = (
        update(Workspace)
        .where(Workspace.id == workspace_id)
        .values(credits=Workspace.credits + delta)
        .returning(Workspace.credits)
        .execution_options(synchronize_session=False)
    )
    if delta < 0:
        statement = statement.where(Workspace.credits >= -delta)
    balance = (await session.execute(statement)).scalar_one_or_none()
    if balance is None:
        if await session.get(Workspace, workspace_id) is None:
            raise NotFound("workspace not found")
        raise InsufficientCredits("the workspace has no credits left: buy a credit pack")
    await session.execute(
        update(CreditLedgerEntry)
        .where(CreditLedgerEntry.id == entry_id)
        # Stamped now, while the workspace row is locked: movements of one workspace are
        # then ordered in time exactly as their balances follow one another.
        .values(balance_after=balance, created_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    return Movement(applied=True, balance=balance)


async def adjust_credits(
    session: AsyncSession,
    workspace_id: str,
    delta: int,
    *,
    note: str | None = None,
    reference: str | None = None,
) -> int:
    """An operator's correction of a workspace balance by ``delta``; returns the balance."""
    async with transaction(session):
        movement = await move_credits(
            session,
            workspace_id,
            delta,
            LedgerReason.ADJUSTMENT,
            reference or f"adjustment:{uuid.uuid4()}",
            note,
        )
        if movement.balance is None:
            return await get_balance(session, workspace_id)
        return movement.balance


async def set_credits(
    session: AsyncSession, workspace_id: str, balance: int, *, note: str | None = None
) -> int:
    """Set a workspace balance to ``balance`` through one adjustment in the ledger."""
    if balance < 0:
        raise BadUserInput("credits cannot be negative")
    async with transaction(session):
        current = (
            await session.execute(
                select(Workspace.credits).where(Workspace.id == workspace_id).with_for_update()
            )
        ).scalar_one_or_none()
        if current is None:
            raise NotFound("workspace not found")
        if balance != current:
            await move_credits(
                session,
                workspace_id,
                balance - current,
                LedgerReason.ADJUSTMENT,
                f"adjustment:{uuid.uuid4()}",
                note,
            )
        return balance


async def get_balance(session: AsyncSession, workspace_id: str) -> int:
    balance = await session.scalar(select(Workspace.credits).where(Workspace.id == workspace_id))
    await end_read(session)
    if balance is None:
        raise NotFound("workspace not found")
    return balance


async def ledger_sum(session: AsyncSession, workspace_id: str) -> int:
    """The sum of the workspace's ledger, which always equals its balance."""
    total = await session.scalar(
        select(func.coalesce(func.sum(CreditLedgerEntry.delta), 0)).where(
            CreditLedgerEntry.workspace_id == workspace_id
        )
    )
    await end_read(session)
    return int(total or 0)


#: Ledger entries per page at most, and when the caller names no page size.
MAX_LEDGER_PAGE = 100
DEFAULT_LEDGER_PAGE = 20


#: One page of a workspace's credit movements, newest first.
LedgerPage = Page[CreditLedgerEntry]


async def list_ledger(
    session: AsyncSession,
    actor: Actor,
    workspace_id: str,
    first: int = DEFAULT_LEDGER_PAGE,
    after: Position | None = None,
) -> LedgerPage:
    """The workspace's credit movements, newest first, after ``after`` (members only).

    Each entry has its amount, reason, job or payment, and the balance after it.
    """
    await require_member(session, actor, workspace_id)
    if first < 0:
        raise BadUserInput("first must not be negative")
    if first > MAX_LEDGER_PAGE:
        raise BadUserInput(f"first must be at most {MAX_LEDGER_PAGE}")
    query = (
        select(CreditLedgerEntry)
        .where(CreditLedgerEntry.workspace_id == workspace_id)
        # What each movement was for, in one query each for the page.
        .options(selectinload(CreditLedgerEntry.job), selectinload(CreditLedgerEntry.payment))
    )
    return await newest_first(session, query, CreditLedgerEntry, first, after)
