"""Sign-in identities: who an OpenID Connect provider vouches for, as a Hushcut user."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from hushcut.core.db import insert_once, transaction
from hushcut.core.errors import Unauthenticated
from hushcut.core.models import User, UserIdentity, utcnow
from hushcut.core.services.workspaces import ensure_user, normalise_email


async def sign_in_with_identity(
    session: AsyncSession,
    *,
    issuer: str,
    subject: str,
    email: str,
    email_verified: bool,
    name: str = "",
) -> User:
    """The user the provider's ``(issuer, subject)`` stands for, linked on first sign-in.

    A known identity signs in its user, whatever email the provider now reports. A new
    one is linked to the user with its email address (created if there is none) only
    when the provider says that address is verified: otherwise anyone who can make an
    account at the provider with someone else's address would sign in as them, or
    create the account its real owner would later be linked to.
    """
    address = normalise_email(email)
    async with transaction(session):
        identity = await _identity(session, issuer, subject)
        if identity is None:
            if not email_verified:
                raise Unauthenticated(
                    "the identity provider has not verified your email address: verify it "
                    "there, then sign in again"
                )
            linked = await ensure_user(session, address, name)
            # ON CONFLICT DO NOTHING: two first sign-ins at once still make one identity.
            await insert_once(
                session,
                UserIdentity,
                {"user_id": linked.id, "issuer": issuer, "subject": subject, "email": address},
            )
            identity = await _identity(session, issuer, subject)
            assert identity is not None
        identity.email = address
        identity.last_sign_in_at = utcnow()
        user = await session.get(User, identity.user_id, populate_existing=True)
        if user is None:  # deleted in between: the identity went with it (CASCADE)
            raise Unauthenticated("this account no longer exists")
        if name.strip() and not user.name:
            user.name = " ".join(name.split())
        return user


async def _identity(session: AsyncSession, issuer: str, subject: str) -> UserIdentity | None:
    return (
        await session.scalars(
            select(UserIdentity)
            .where(UserIdentity.issuer == issuer, UserIdentity.subject == subject)
            .execution_options(populate_existing=True)
        )
    ).one_or_none()
