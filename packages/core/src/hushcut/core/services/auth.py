"""Who is calling (an Actor) and which workspaces they may see or change."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from hushcut.core.db import end_read
from hushcut.core.errors import Forbidden, NotFound
from hushcut.core.models import Membership, Role


@dataclass(frozen=True, slots=True)
class Actor:
    """The caller of a service: a user, signed in with a browser session or a token.

    ``workspace_id`` is set for API tokens, which reach only the workspace they were
    created for; it is None for a browser session, which reaches every membership.
    ``token_id`` or ``session_id`` name the credential, so it can be checked again
    while a connection lives (see :func:`hushcut.core.services.sessions.still_valid`).
    """

    user_id: str
    workspace_id: str | None = None
    token_id: str | None = None
    session_id: str | None = None

    def can_reach(self, workspace_id: str) -> bool:
        return self.workspace_id is None or self.workspace_id == workspace_id


MANAGERS = frozenset({Role.OWNER, Role.ADMIN})


async def memberships_of(session: AsyncSession, actor: Actor) -> list[Membership]:
    """The actor's memberships, limited to the token's workspace for token callers."""
    query = select(Membership).where(Membership.user_id == actor.user_id)
    if actor.workspace_id is not None:
        query = query.where(Membership.workspace_id == actor.workspace_id)
    memberships = list((await session.scalars(query.order_by(Membership.created_at))).all())
    await end_read(session)
    return memberships


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
