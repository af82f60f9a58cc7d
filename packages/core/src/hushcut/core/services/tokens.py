"""API tokens: created once and shown once, stored as a sha256 hash, revocable."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from hushcut.core.db import end_read, transaction
from hushcut.core.errors import Forbidden, NotFound, Unauthenticated
from hushcut.core.models import ApiToken, Membership, utcnow
from hushcut.core.services.auth import MANAGERS, Actor, require_member
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


async def verify_api_token(session: AsyncSession, token: str) -> Actor:
    """The Actor a bearer token stands for; Unauthenticated if unknown or revoked.

    The token's user must still be a member of the token's workspace.
    """
    if not token.startswith(TOKEN_PREFIX) or len(token) > 200:
        raise Unauthenticated("invalid API token")
    row = (
        await session.execute(
            select(ApiToken)
            .join(
                Membership,
                (Membership.workspace_id == ApiToken.workspace_id)
                & (Membership.user_id == ApiToken.user_id),
            )
            .where(ApiToken.token_hash == hash_token(token), ApiToken.revoked_at.is_(None))
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


async def verify_api_token_id(session: AsyncSession, token_id: str, user_id: str) -> Actor:
    """The Actor of a browser session opened with the token ``token_id`` (``POST
    /auth/token``); Unauthenticated once the token is revoked or its user left the
    workspace, so the session ends with the token."""
    row = (
        await session.execute(
            select(ApiToken)
            .join(
                Membership,
                (Membership.workspace_id == ApiToken.workspace_id)
                & (Membership.user_id == ApiToken.user_id),
            )
            .where(
                ApiToken.id == token_id,
                ApiToken.user_id == user_id,
                ApiToken.revoked_at.is_(None),
            )
        )
    ).scalar_one_or_none()
    await end_read(session)
    if row is None:
        raise Unauthenticated("your session has ended (its API token was revoked): sign in again")
    return Actor(user_id=row.user_id, workspace_id=row.workspace_id, token_id=row.id)


async def list_api_tokens(session: AsyncSession, actor: Actor, workspace_id: str) -> list[ApiToken]:
    """The workspace's tokens: all of them for owners and admins, else the actor's own."""
    membership = await require_member(session, actor, workspace_id)
    query = select(ApiToken).where(ApiToken.workspace_id == workspace_id)
    if membership.role not in MANAGERS:
        query = query.where(ApiToken.user_id == actor.user_id)
    found = list((await session.scalars(query.order_by(ApiToken.created_at))).all())
    await end_read(session)
    return found


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
