"""Invitations: bringing a colleague into a workspace by email, with a single-use link.

The link ``APP_URL/invite/<token>`` holds a secret token; only its sha256 is stored.
A token works once, until it expires (``INVITATION_TTL_HOURS``), unless revoked, and
only for a person signed in with the invited address. Every other attempt gets the same
refusal, so nobody learns whether a token exists.
"""

from __future__ import annotations

import html as html_lib
import logging
import secrets
from collections.abc import Iterable
from datetime import datetime, timedelta

from sqlalchemy import and_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from hushcut.core.db import end_read, transaction
from hushcut.core.email import EmailError, EmailSender
from hushcut.core.errors import Conflict, EmailUnavailable, Forbidden, NotFound
from hushcut.core.models import Invitation, Membership, Role, User, Workspace, utcnow
from hushcut.core.services.auth import (
    MANAGERS,
    Actor,
    by_workspace,
    own_memberships,
    require_member,
)
from hushcut.core.services.tokens import hash_token
from hushcut.core.services.workspaces import normalise_email

log = logging.getLogger(__name__)

TOKEN_PREFIX = "hci_"  # noqa: S105 - a public marker, not a secret
#: Tokens longer than this are refused before any lookup.
MAX_TOKEN_LENGTH = 200
#: The one answer to a token that cannot be accepted, whatever the reason.
REFUSAL = (
    "this invitation link is invalid, expired or already used, or it was sent to another "
    "email address than the one you are signed in with"
)


def hash_invitation_token(token: str) -> str:
    # 256 random bits: a plain hash is enough and lets the lookup use the unique index.
    return hash_token(token)


def invitation_link(app_url: str, token: str) -> str:
    """The page where the invited person accepts: ``APP_URL/invite/<token>``."""
    return f"{app_url.rstrip('/')}/invite/{token}"


async def invite_member(
    session: AsyncSession,
    actor: Actor,
    workspace_id: str,
    email: str,
    role: Role,
    *,
    sender: EmailSender,
    app_url: str,
    ttl_hours: float,
) -> Invitation:
    """Invite ``email`` to the workspace with ``role`` and email them the link.

    Owners and admins only; only an owner can invite an owner. Inviting an address
    again replaces its pending invitation (the old link stops working). If the email
    cannot be sent, the invitation is withdrawn and EmailUnavailable raised: a link
    nobody received must not stay valid.
    """
    caller = await require_member(session, actor, workspace_id, MANAGERS)
    if role is Role.OWNER and caller.role is not Role.OWNER:
        raise Forbidden("only an owner can invite another owner")
    address = normalise_email(email)
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    now = utcnow()
    async with transaction(session):
        workspace = await session.get(Workspace, workspace_id, populate_existing=True)
        if workspace is None:
            raise NotFound("workspace not found")
        already = await session.scalar(
            select(Membership.user_id)
            .join(User, User.id == Membership.user_id)
            .where(Membership.workspace_id == workspace_id, User.email == address)
        )
        if already is not None:
            raise Conflict(f"{address} is already a member of this workspace")
        await session.execute(
            update(Invitation)
            .where(
                Invitation.workspace_id == workspace_id,
                Invitation.email == address,
                Invitation.accepted_at.is_(None),
                Invitation.revoked_at.is_(None),
            )
            .values(revoked_at=now)
            .execution_options(synchronize_session=False)
        )
        invitation = Invitation(
            workspace_id=workspace_id,
            email=address,
            role=role,
            token_hash=hash_invitation_token(token),
            invited_by=actor.user_id,
            created_at=now,
            expires_at=now + timedelta(hours=ttl_hours),
        )
        session.add(invitation)
        await session.flush()
        inviter = await session.get(User, actor.user_id)
        inviter_name = (inviter.name or inviter.email) if inviter is not None else "Someone"
        workspace_name = workspace.name
    subject, text, body = invitation_message(
        inviter_name, workspace_name, role, invitation_link(app_url, token), invitation.expires_at
    )
    try:
        await sender.send(
            address, subject, text, body, idempotency_key=f"invitation-{invitation.id}"
        )
    except EmailError as exc:
        log.warning("invitation %s: email not sent (%s); withdrawn", invitation.id, exc)
        async with transaction(session):
            await session.execute(
                update(Invitation)
                .where(Invitation.id == invitation.id)
                .values(revoked_at=utcnow())
                .execution_options(synchronize_session=False)
            )
        raise EmailUnavailable(
            "the invitation email could not be sent; nothing was kept, try again shortly"
        ) from exc
    log.info("invitation %s to workspace %s sent", invitation.id, workspace_id)
    return invitation


def invitation_message(
    inviter: str, workspace: str, role: Role, link: str, expires_at: datetime
) -> tuple[str, str, str]:
    """Subject, text and HTML of the invitation email."""
    subject = f"{inviter} invited you to {workspace} on Hushcut"
    lines = [
        f"{inviter} invited you to join the workspace {workspace} on Hushcut as {role.value}.",
        f"Accept the invitation: {link}",
        f"Sign in with this email address to accept. The link works once and expires on "
        f"{expires_at:%Y-%m-%d %H:%M} UTC.",
        "If you did not expect this invitation, ignore this email.",
    ]
    text = "\n\n".join(lines) + "\n"
    body = "".join(f"<p>{html_lib.escape(line)}</p>" for line in lines)
    return subject, text, body


async def invitations_by_workspace(
    session: AsyncSession, actor: Actor, workspace_ids: Iterable[str]
) -> dict[str, list[Invitation]]:
    """The pending invitations of each workspace where the actor is an owner or admin,
    newest first, in one query; other workspaces are left out."""
    rows = await session.execute(
        select(Membership.workspace_id, Invitation)
        .select_from(Membership)
        .outerjoin(
            Invitation,
            and_(
                Invitation.workspace_id == Membership.workspace_id,
                Invitation.accepted_at.is_(None),
                Invitation.revoked_at.is_(None),
                Invitation.expires_at > utcnow(),
            ),
        )
        .where(own_memberships(actor, workspace_ids), Membership.role.in_(MANAGERS))
        .order_by(Invitation.created_at.desc(), Invitation.id.desc())
        .execution_options(populate_existing=True)
    )
    found = by_workspace((key, row) for key, row in rows)
    await end_read(session)
    return found


async def list_invitations(
    session: AsyncSession, actor: Actor, workspace_id: str
) -> list[Invitation]:
    """The workspace's pending invitations, newest first; owners and admins only."""
    await require_member(session, actor, workspace_id, MANAGERS)
    found = await invitations_by_workspace(session, actor, [workspace_id])
    return found.get(workspace_id, [])


async def revoke_invitation(session: AsyncSession, actor: Actor, invitation_id: str) -> Invitation:
    """Withdraw a pending invitation; owners and admins of its workspace only.

    Revoking it again is a no-op; an invitation already accepted is a Conflict (remove
    the member instead).
    """
    invitation = await session.get(Invitation, invitation_id, populate_existing=True)
    if invitation is None:
        raise NotFound("invitation not found")
    try:
        await require_member(session, actor, invitation.workspace_id, MANAGERS)
    except NotFound:
        raise NotFound("invitation not found") from None
    async with transaction(session):
        await session.execute(
            update(Invitation)
            .where(
                Invitation.id == invitation_id,
                Invitation.accepted_at.is_(None),
                Invitation.revoked_at.is_(None),
            )
            .values(revoked_at=utcnow())
            .execution_options(synchronize_session=False)
        )
        current = await session.get(Invitation, invitation_id, populate_existing=True)
        if current is None:
            raise NotFound("invitation not found")
        if current.accepted_at is not None:
            raise Conflict("this invitation was already accepted: remove the member instead")
        return current


async def accept_invitation(session: AsyncSession, actor: Actor, token: str) -> Workspace:
    """Join the workspace an invitation is for, with its role; returns the workspace.

    Only a person signed in (a browser session, not an API token) with the invited
    address may accept, once, before the invitation expires. Any other case is refused
    with the same NotFound, so the answer never tells whether the token exists. Someone
    already a member keeps their role.
    """
    if actor.workspace_id is not None:
        raise Forbidden(
            "sign in with your account to accept an invitation: an API token, or a browser "
            "session opened with one, reaches only its workspace"
        )
    if not token.startswith(TOKEN_PREFIX) or len(token) > MAX_TOKEN_LENGTH:
        raise NotFound(REFUSAL)
    now = utcnow()
    async with transaction(session):
        user = await session.get(User, actor.user_id, populate_existing=True)
        if user is None:
            raise NotFound(REFUSAL)
        # The conditional UPDATE is the single use: of two acceptances at once, one
        # matches the row and the other finds it already accepted.
        accepted = (
            await session.scalars(
                update(Invitation)
                .where(
                    Invitation.token_hash == hash_invitation_token(token),
                    Invitation.email == user.email.lower(),
                    Invitation.accepted_at.is_(None),
                    Invitation.revoked_at.is_(None),
                    Invitation.expires_at > now,
                )
                .values(accepted_at=now, accepted_by=user.id)
                .returning(Invitation)
                .execution_options(synchronize_session=False, populate_existing=True)
            )
        ).one_or_none()
        if accepted is None:
            raise NotFound(REFUSAL)
        workspace = await session.get(Workspace, accepted.workspace_id, populate_existing=True)
        if workspace is None:
            raise NotFound(REFUSAL)
        if await session.get(Membership, (workspace.id, user.id)) is None:
            session.add(Membership(workspace_id=workspace.id, user_id=user.id, role=accepted.role))
            await session.flush()
        log.info("invitation %s accepted", accepted.id)
        return workspace
