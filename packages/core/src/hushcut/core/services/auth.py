"""Who is calling (an Actor) and which workspaces they may see or change."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TypeVar

from sqlalchemy import ColumnElement, and_, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from hushcut.core.db import end_read
from hushcut.core.errors import Forbidden, NotFound
from hushcut.core.models import Membership, Role


@dataclass(frozen=True, slots=True)
class Actor:
    """The caller of a service: a user, signed in with a browser session or a token.

    ``workspace_id`` is set for API tokens, which reach only the workspace they were
    created for, and for a browser session opened with one (``POST /auth/token``); it is
    None for a person signed in (Google), who reaches every membership.
    ``token_id`` or ``session_id`` name the credential, so it can be checked again
    while a connection lives (see :func:`hushcut.core.services.sessions.still_valid`).
    """

    user_id: str
    workspace_id: str | None = None
    token_id: str | None = None
    session_id: str | None = None

    def can_reach(self, workspace_id: str) -> bool:
        return self.workspace_id is None or self.workspace_id == workspace_id

    def reachable(self, workspace_ids: Iterable[str]) -> list[str]:
        """The distinct ids among ``workspace_ids`` that these credentials can reach."""
        return [key for key in dict.fromkeys(workspace_ids) if self.can_reach(key)]


MANAGERS = frozenset({Role.OWNER, Role.ADMIN})
T = TypeVar("T")


def own_memberships(actor: Actor, workspace_ids: Iterable[str]) -> ColumnElement[bool]:
    """Selects the actor's memberships of ``workspace_ids`` that the actor can reach.

    Batch reads join what they list to these rows, so a workspace the caller is not a
    member of simply drops out of the answer, in the same query.
    """
    return and_(
        Membership.user_id == actor.user_id,
        Membership.workspace_id.in_(actor.reachable(workspace_ids)),
    )


async def roles_by_workspace(
    session: AsyncSession, actor: Actor, workspace_ids: Iterable[str]
) -> dict[str, Role]:
    """The actor's role in each of ``workspace_ids`` they reach, in one query."""
    rows = await session.execute(
        select(Membership.workspace_id, Membership.role).where(
            own_memberships(actor, workspace_ids)
        )
    )
    roles = {workspace_id: role for workspace_id, role in rows}
    await end_read(session)
    return roles


async def memberships_held(
    session: AsyncSession, pairs: Iterable[tuple[str, str]]
) -> set[tuple[str, str]]:
    """The ``(user_id, workspace_id)`` pairs among ``pairs`` that are memberships now, in
    one query (for connections that must notice a member removed while they live)."""
    wanted = set(pairs)
    if not wanted:
        return set()
    rows = await session.execute(
        select(Membership.user_id, Membership.workspace_id).where(
            tuple_(Membership.user_id, Membership.workspace_id).in_(sorted(wanted))
        )
    )
    held = {(user_id, workspace_id) for user_id, workspace_id in rows}
    await end_read(session)
    return held


def by_workspace(rows: Iterable[tuple[str, T | None]]) -> dict[str, list[T]]:
    """Rows of a batch read grouped by workspace, in order; a None row (from an outer
    join) keeps its workspace in the answer with nothing listed."""
    found: dict[str, list[T]] = {}
    for workspace_id, row in rows:
        listed = found.setdefault(workspace_id, [])
        if row is not None:
            listed.append(row)
    return found


def one_workspace(found: Mapping[str, T], workspace_id: str) -> T:
    """A batch read's answer for one workspace; NotFound when the caller cannot reach it."""
    if workspace_id not in found:
        raise NotFound("workspace not found")
    return found[workspace_id]


async def require_member(
    session: AsyncSession,
    actor: Actor,
    workspace_id: str,
    roles: Iterable[Role] | None = None,
) -> Membership:
    """The actor's membership of ``workspace_id``.

    Raises NotFound when the actor is not a member (or holds a token for another
    workspace), so nobody learns that a workspace exists; Forbidden only when the actor
    is a member whose role is not in ``roles``.
    """
    allowed = frozenset(roles) if roles is not None else None
    membership = None
    if actor.can_reach(workspace_id):
        membership = await session.get(Membership, (workspace_id, actor.user_id))
    if membership is None:
        raise NotFound("workspace not found")
    if allowed is not None and membership.role not in allowed:
        needed = " or ".join(sorted(role.value for role in allowed))
        raise Forbidden(f"this needs the {needed} role in the workspace")
    return membership
