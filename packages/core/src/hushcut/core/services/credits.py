"""Credits: every movement is a ledger row, unique per (reason, reference), applied once."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from hushcut.core.db import end_read, insert_once, transaction
from hushcut.core.errors import BadUserInput, InsufficientCredits, NotFound
from hushcut.core.models import CreditLedgerEntry, LedgerReason, Workspace
from hushcut.core.services.auth import Actor, require_member


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
) -> Movement:
    """Record ``delta`` in the ledger and the workspace balance, once per (reason, reference).

    Runs inside the caller's transaction and does not commit. A movement whose key is
    already in the ledger changes nothing (``applied`` False). A debit the balance
    cannot cover raises InsufficientCredits; the caller's transaction must then be
    rolled back, which also removes the ledger row written here.
    """
    inserted = await insert_once(
        session,
        CreditLedgerEntry,
        {
            "workspace_id": workspace_id,
            "delta": delta,
            "reason": reason,
            "reference": reference,
            "note": note,
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


async def list_ledger(
    session: AsyncSession, actor: Actor, workspace_id: str, limit: int = 100
) -> list[CreditLedgerEntry]:
    """The workspace's latest credit movements, newest first (members only)."""
    await require_member(session, actor, workspace_id)
    query = (
        select(CreditLedgerEntry)
        .where(CreditLedgerEntry.workspace_id == workspace_id)
        .order_by(CreditLedgerEntry.created_at.desc(), CreditLedgerEntry.id.desc())
        .limit(max(1, min(limit, 100)))
    )
    entries = list((await session.scalars(query)).all())
    await end_read(session)
    return entries
