"""API tokens: created once and shown once, stored as a sha256 hash, revocable."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable
from datetime import timedelta

from sqlalchemy import Select, and_, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from hushcut.core.db import end_read, transaction
from hushcut.core.errors import Forbidden, NotFound, Unauthenticated
from hushcut.core.models import ApiToken, Membership, utcnow
from hushcut.core.services.auth import (
    MANAGERS,
    Actor,
    by_workspace,
    one_workspace,
    own_memberships,
    require_member,
)
from hushcut.core.services.workspaces import clean_name

TOKEN_PREFIX = "hc_"  # noqa: S105 - a public marker, not a secret
#: Characters of the token kept in clear to tell tokens apart ("hc_" + 8).
SHOWN_PREFIX_LENGTH = 11
#: last_used_at is written at most this often per token, so busy clients do not turn
#: every authenticated request into a write.
LAST_USED_GRANULARITY_S = 60


def hash_token(token: str) -> str:
    # A plain hash is enough: the token has 256 bits of entropy, so there is nothing to
    # brute-force, and a fast hash lets every request look the token up by index.
    return hashlib.sha256(token.encode()).hexdigest()


async def create_api_token(
    session: AsyncSession, actor: Actor, workspace_id: str, name: str
) -> tuple[ApiToken, str]:
    """A new token for the actor in ``workspace_id``; returns the row and the plaintext.

    The plaintext is returned only here and is never stored.
    """
    token_name = clean_name(name, "token name")
    await require_member(session, actor, workspace_id)
    plaintext = TOKEN_PREFIX + secrets.token_urlsafe(32)
    async with transaction(session):
        token = ApiToken(
            workspace_id=workspace_id,
            user_id=actor.user_id,
            name=token_name,
            prefix=plaintext[:SHOWN_PREFIX_LENGTH],
            token_hash=hash_token(plaintext),
        )
        session.add(token)
        await session.flush()
        return token, plaintext


def live_tokens() -> Select[ApiToken]:
    """Tokens that still work: not revoked, and their user still a member of their workspace."""
    return (
        select(ApiToken)
        .join(
            Membership,
            (Membership.workspace_id == ApiToken.workspace_id)
            & (Membership.user_id == ApiToken.user_id),
        )
        .where(ApiToken.revoked_at.is_(None))
    )


async def verify_api_token(session: AsyncSession, token: str) -> Actor:
    """The Actor a bearer token stands for; Unauthenticated if unknown or revoked.

    The token's user must still be a member of the token's workspace.
    """
    if not token.startswith(TOKEN_PREFIX) or len(token) > 200:
        raise Unauthenticated("invalid API token")
    row = (
        await session.execute(
            live_tokens()
            .where(ApiToken.token_hash == hash_token(token))
            .execution_options(populate_existing=True)
        )
    ).scalar_one_or_none()
    await end_read(session)
    if row is None:
        raise Unauthenticated("invalid or revoked API token")
    now = utcnow()
    stale = now - timedelta(seconds=LAST_USED_GRANULARITY_S)
    if row.last_used_at is None or row.last_used_at <= stale:
        # Written only when stale, so most requests stay read-only.
        async with transaction(session):
            await session.execute(
                update(ApiToken)
                .where(
                    ApiToken.id == row.id,
                    or_(ApiToken.last_used_at.is_(None), ApiToken.last_used_at <= stale),
                )
                .values(last_used_at=now)
                .execution_options(synchronize_session=False)
            )
        # Not `row.last_used_at = now`: that would mark the row dirty, and its flush
        # would later run inside some read transaction (on SQLite, a read that turns
        # into a write fails at once with 'database is locked' when another writer is
        # active).
        set_committed_value(row, "last_used_at", now)
    return Actor(user_id=row.user_id, workspace_id=row.workspace_id, token_id=row.id)


async def api_tokens_by_workspace(
    session: AsyncSession, actor: Actor, workspace_ids: Iterable[str]
) -> dict[str, list[ApiToken]]:
    """Each reachable workspace's tokens, oldest first, in one query: all of them where
    the actor is an owner or admin, else the actor's own (other workspaces left out)."""
    rows = await session.execute(
        select(Membership.workspace_id, ApiToken)
        .select_from(Membership)
        .outerjoin(
            ApiToken,
            and_(
                ApiToken.workspace_id == Membership.workspace_id,
                or_(Membership.role.in_(MANAGERS), ApiToken.user_id == actor.user_id),
            ),
        )
        .where(own_memberships(actor, workspace_ids))
        .order_by(ApiToken.created_at)
    )
    found = by_workspace((key, row) for key, row in rows)
    await end_read(session)
    return found


async def list_api_tokens(session: AsyncSession, actor: Actor, workspace_id: str) -> list[ApiToken]:
    """The workspace's tokens: all of them for owners and admins, else the actor's own."""
    found = await api_tokens_by_workspace(session, actor, [workspace_id])
    return one_workspace(found, workspace_id)


async def revoke_api_token(session: AsyncSession, actor: Actor, token_id: str) -> ApiToken:
    """Revoke a token: its own user, or an owner or admin of its workspace, may do this.

    Revoking an already revoked token is a no-op that returns it unchanged.
    """
    token = await session.get(ApiToken, token_id)
    if token is None:
        raise NotFound("token not found")
    membership = await require_member(session, actor, token.workspace_id)
    if token.user_id != actor.user_id and membership.role not in MANAGERS:
        raise Forbidden("only an owner or admin can revoke another member's token")
    async with transaction(session):
        await session.execute(
            update(ApiToken)
            .where(ApiToken.id == token_id, ApiToken.revoked_at.is_(None))
            .values(revoked_at=utcnow())
            .execution_options(synchronize_session=False)
        )
        await session.refresh(token)
        return token
