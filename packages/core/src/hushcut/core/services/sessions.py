"""Browser sessions on the server: created at sign-in, checked on every request, ended at
sign-out (one browser, or all of them), so a copied cookie dies with its session."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable
from datetime import timedelta

from sqlalchemy import ColumnElement, delete, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from hushcut.core.db import end_read, transaction
from hushcut.core.errors import Unauthenticated
from hushcut.core.models import ApiToken, BrowserSession, User, utcnow
from hushcut.core.services.auth import Actor
from hushcut.core.services.tokens import live_tokens

SESSION_LIFETIME = timedelta(days=30)


def session_id_of(token: str) -> str:
    """The row id of a session token: its sha256, so the database never holds the token."""
    return hashlib.sha256(token.encode()).hexdigest()


async def start_session(
    session: AsyncSession,
    user_id: str,
    *,
    api_token_id: str | None = None,
    lifetime: timedelta = SESSION_LIFETIME,
) -> str:
    """A new session for the user; returns its token (for the cookie), shown only here.

    A session opened with an API token (``api_token_id``, the token already verified)
    reaches only that token's workspace and ends with the token: revoked, deleted, or
    its user no longer a member. The user's expired sessions are removed at the same time.
    """
    token = secrets.token_urlsafe(32)
    now = utcnow()
    async with transaction(session):
        await session.execute(
            delete(BrowserSession).where(
                BrowserSession.user_id == user_id, BrowserSession.expires_at <= now
            )
        )
        session.add(
            BrowserSession(
                id=session_id_of(token),
                user_id=user_id,
                api_token_id=api_token_id,
                created_at=now,
                expires_at=now + lifetime,
            )
        )
    return token


def _token_still_live() -> ColumnElement[bool]:
    """A session without a token, or whose token still works (see :func:`live_tokens`)."""
    live = live_tokens().with_only_columns(ApiToken.id).scalar_subquery()
    return or_(BrowserSession.api_token_id.is_(None), BrowserSession.api_token_id.in_(live))


async def verify_session(session: AsyncSession, token: str) -> Actor:
    """The signed-in user of a live session; Unauthenticated if it ended or expired, or
    if the API token it was opened with stopped working.

    A session opened with a token reaches only the token's workspace, like the token.
    """
    found = (
        await session.execute(
            select(BrowserSession.id, BrowserSession.user_id, ApiToken.workspace_id)
            .outerjoin(ApiToken, ApiToken.id == BrowserSession.api_token_id)
            .where(
                BrowserSession.id == session_id_of(token),
                BrowserSession.expires_at > utcnow(),
                _token_still_live(),
            )
        )
    ).one_or_none()
    await end_read(session)
    if found is None:
        raise Unauthenticated("your session has ended: sign in again")
    return Actor(user_id=found.user_id, workspace_id=found.workspace_id, session_id=found.id)


async def end_session(session: AsyncSession, token: str) -> bool:
    """Sign one browser out; False if its session had already ended."""
    async with transaction(session):
        result = await session.execute(
            delete(BrowserSession).where(BrowserSession.id == session_id_of(token))
        )
    return bool(getattr(result, "rowcount", 0))


async def end_all_sessions(session: AsyncSession, user_id: str) -> int:
    """Sign the user out of every browser ("sign out everywhere"); how many were ended."""
    async with transaction(session):
        result = await session.execute(
            delete(BrowserSession).where(BrowserSession.user_id == user_id)
        )
    return int(getattr(result, "rowcount", 0))


async def still_valid(session: AsyncSession, actor: Actor) -> bool:
    """Whether the actor's credential still holds: for long-lived connections, which
    authenticated once and must notice a revoked token, a member removed from the token's
    workspace, a session signed out or expired, or a deleted user."""
    return actor in await live_credentials(session, [actor])


async def live_credentials(session: AsyncSession, actors: Iterable[Actor]) -> set[Actor]:
    """The actors among ``actors`` whose credential still holds (see :func:`still_valid`),
    in at most one query per kind of credential, however many actors are asked about."""
    wanted = set(actors)
    now = utcnow()
    token_ids = {actor.token_id for actor in wanted if actor.token_id is not None}
    session_ids = {
        actor.session_id
        for actor in wanted
        if actor.token_id is None and actor.session_id is not None
    }
    bare_users = {
        actor.user_id for actor in wanted if actor.token_id is None and actor.session_id is None
    }
    tokens: set[str] = set()
    sessions: set[tuple[str, str]] = set()
    users: set[str] = set()
    if token_ids:
        query = live_tokens().with_only_columns(ApiToken.id).where(ApiToken.id.in_(token_ids))
        tokens = set((await session.scalars(query)).all())
    if session_ids:
        rows = await session.execute(
            select(BrowserSession.id, BrowserSession.user_id).where(
                BrowserSession.id.in_(session_ids),
                BrowserSession.expires_at > now,
                _token_still_live(),
            )
        )
        sessions = {(row.id, row.user_id) for row in rows}
    if bare_users:
        users = set((await session.scalars(select(User.id).where(User.id.in_(bare_users)))).all())
    await end_read(session)

    def holds(actor: Actor) -> bool:
        if actor.token_id is not None:
            return actor.token_id in tokens
        if actor.session_id is not None:
            return (actor.session_id, actor.user_id) in sessions
        return actor.user_id in users

    return {actor for actor in wanted if holds(actor)}
