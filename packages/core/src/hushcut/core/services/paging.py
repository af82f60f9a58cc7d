"""Newest-first listings paged by position (keyset): jobs, credit movements."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, Self, TypeVar

from sqlalchemy import Select, and_, or_
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from hushcut.core.db import end_read

#: A model a listing can page over: one with ``created_at`` and ``id`` columns.
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Position:
    """Where a listing stands: the last row seen (listings are newest first).

    Clients see it as an opaque cursor; encoding it is the API's business.
    """

    created_at: datetime
    id: str

    @classmethod
    def of(cls, row: Any) -> Self:
        """The position of ``row``, a model with ``created_at`` and ``id``."""
        return cls(row.created_at, row.id)


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """One page of a listing, newest first."""

    items: list[T]
    #: The position after the last item (``after`` for the next page), or None if empty.
    end: Position | None
    has_next: bool


async def newest_first(
    session: AsyncSession,
    query: Select[T],
    model: Any,
    first: int,
    after: Position | None,
) -> Page[T]:
    """Run ``query`` (rows of ``model``) for the ``first`` rows after ``after``, newest
    first, ties broken by id; ends the read transaction."""
    created: InstrumentedAttribute[datetime] = model.created_at
    key: InstrumentedAttribute[str] = model.id
    if after is not None:
        query = query.where(
            or_(created < after.created_at, and_(created == after.created_at, key < after.id))
        )
    query = (
        query.order_by(created.desc(), key.desc())
        .limit(first + 1)
        .execution_options(populate_existing=True)
    )
    rows = list((await session.scalars(query)).all())
    await end_read(session)
    items = rows[:first]
    return Page(
        items=items, end=Position.of(items[-1]) if items else after, has_next=len(rows) > first
    )
