"""Users, workspaces and memberships."""

from __future__ import annotations

import re
from collections.abc import Iterable

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from hushcut.core.db import end_read, insert_once, transaction
from hushcut.core.errors import BadUserInput, Conflict, Forbidden, NotFound
from hushcut.core.models import (
    ApiToken,
    LedgerReason,
    Membership,
    Role,
    User,
    Workspace,
    utcnow,
)
from hushcut.core.services.auth import (
    MANAGERS,
    Actor,
    by_workspace,
    one_workspace,
    own_memberships,
    require_member,
)
from hushcut.core.services.credits import move_credits

# Deliberately loose: one @, no spaces, a dot in the domain. Deliverability is the mail
# provider's business; this only rejects what is clearly not an address.
EMAIL_PATTERN = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
MAX_NAME_LENGTH = 200


def normalise_email(email: str) -> str:
    address = email.strip().lower()
    if len(address) > 320 or not EMAIL_PATTERN.match(address):
        raise BadUserInput(f"not an email address: {email!r}")
    return address


def clean_name(name: str, what: str = "name") -> str:
    cleaned = " ".join(name.split())
    if not cleaned:
        raise BadUserInput(f"{what} must not be empty")
    if len(cleaned) > MAX_NAME_LENGTH:
        raise BadUserInput(f"{what} must be at most {MAX_NAME_LENGTH} characters")
    return cleaned


async def get_or_create_user(session: AsyncSession, email: str, name: str = "") -> User:
    """The user with this email (case-insensitive), created if there is none."""
    address = normalise_email(email)
    async with transaction(session):
        return await ensure_user(session, address, name)


async def ensure_user(session: AsyncSession, address: str, name: str = "") -> User:
    """Inside a transaction: the user with this normalised address, created if new."""
    # INSERT ... ON CONFLICT: two first sign-ins at once still make one user.
    await insert_once(session, User, {"email": address, "name": " ".join(name.split())})
    user = (
        await session.scalars(
            select(User).where(User.email == address).execution_options(populate_existing=True)
        )
    ).one()
    if name and not user.name:
        user.name = " ".join(name.split())
    return user


async def get_user(session: AsyncSession, user_id: str) -> User:
    user = await session.get(User, user_id)
    await end_read(session)
    if user is None:
        raise NotFound("user not found")
    return user


async def create_workspace(
    session: AsyncSession, actor: Actor, name: str, *, starter_credits: int
) -> Workspace:
    """A new workspace owned by the actor, with ``starter_credits`` through the ledger."""
    if actor.workspace_id is not None:
        # A token reaches one workspace; a workspace it made would be out of its reach.
        raise Forbidden("an API token cannot create workspaces: sign in to do that")
    workspace_name = clean_name(name, "workspace name")
    async with transaction(session):
        workspace = Workspace(name=workspace_name, credits=0, priority=0)
        session.add(workspace)
        await session.flush()
        session.add(Membership(workspace_id=workspace.id, user_id=actor.user_id, role=Role.OWNER))
        await session.flush()
        if starter_credits > 0:
            await move_credits(
                session, workspace.id, starter_credits, LedgerReason.STARTER, workspace.id
            )
        await session.refresh(workspace)
        return workspace


async def get_workspace(session: AsyncSession, actor: Actor, workspace_id: str) -> Workspace:
    """The workspace, if the actor is a member (NotFound otherwise)."""
    await require_member(session, actor, workspace_id)
    workspace = await session.get(Workspace, workspace_id, populate_existing=True)
    await end_read(session)
    if workspace is None:
        raise NotFound("workspace not found")
    return workspace


async def list_workspaces(session: AsyncSession, actor: Actor) -> list[Workspace]:
    """The actor's workspaces (only the token's own one for API tokens), oldest first."""
    query = (
        select(Workspace)
        .join(Membership, Membership.workspace_id == Workspace.id)
        .where(Membership.user_id == actor.user_id)
        .order_by(Workspace.created_at, Workspace.id)
        .execution_options(populate_existing=True)
    )
    if actor.workspace_id is not None:
        query = query.where(Workspace.id == actor.workspace_id)
    found = list((await session.scalars(query)).all())
    await end_read(session)
    return found


async def find_workspace_by_name(
    session: AsyncSession, actor: Actor, name: str
) -> Workspace | None:
    """The actor's oldest workspace called ``name`` (used by the CLI), or None."""
    for workspace in await list_workspaces(session, actor):
        if workspace.name == " ".join(name.split()):
            return workspace
    return None


async def members_by_workspace(
    session: AsyncSession, actor: Actor, workspace_ids: Iterable[str]
) -> dict[str, list[tuple[Membership, User]]]:
    """The members of each workspace the actor belongs to, in one query; workspaces the
    actor cannot reach are left out."""
    member = aliased(Membership)
    rows = await session.execute(
        select(Membership.workspace_id, member, User)
        .select_from(Membership)
        .join(member, member.workspace_id == Membership.workspace_id)
        .join(User, User.id == member.user_id)
        .where(own_memberships(actor, workspace_ids))
        .order_by(member.created_at, User.email)
    )
    found = by_workspace((key, (row, user)) for key, row, user in rows)
    await end_read(session)
    return found


async def list_members(
    session: AsyncSession, actor: Actor, workspace_id: str
) -> list[tuple[Membership, User]]:
    return one_workspace(await members_by_workspace(session, actor, [workspace_id]), workspace_id)


async def add_member(
    session: AsyncSession,
    actor: Actor,
    workspace_id: str,
    email: str,
    role: Role = Role.MEMBER,
) -> Membership:
    """Add a user (created if new) to the workspace; owners and admins only.

    Only an owner can make another owner. Adding an existing member changes their role.
    """
    caller = await require_member(session, actor, workspace_id, MANAGERS)
    if role is Role.OWNER and caller.role is not Role.OWNER:
        raise Forbidden("only an owner can add another owner")
    user = await get_or_create_user(session, email)
    async with transaction(session):
        membership = await session.get(Membership, (workspace_id, user.id))
        if membership is None:
            membership = Membership(workspace_id=workspace_id, user_id=user.id, role=role)
            session.add(membership)
        else:
            if membership.role is Role.OWNER and role is not Role.OWNER:
                await _keep_an_owner(session, workspace_id, user.id)
            membership.role = role
        await session.flush()
        return membership


async def remove_member(
    session: AsyncSession, actor: Actor, workspace_id: str, user_id: str
) -> None:
    """Remove a member; owners and admins only, or any member removing themselves.

    The last owner cannot be removed, and only an owner can remove another owner. The
    member's API tokens for the workspace are revoked with the membership, so they stay
    dead if the person is invited back.
    """
    if user_id == actor.user_id:
        caller = await require_member(session, actor, workspace_id)
    else:
        caller = await require_member(session, actor, workspace_id, MANAGERS)
    async with transaction(session):
        target = await session.get(
            Membership, (workspace_id, user_id), with_for_update=True, populate_existing=True
        )
        if target is None:
            raise NotFound("member not found")
        if target.role is Role.OWNER:
            if caller.role is not Role.OWNER:
                raise Forbidden("only an owner can remove an owner")
            await _keep_an_owner(session, workspace_id, user_id)
        await session.execute(
            delete(Membership).where(
                Membership.workspace_id == workspace_id, Membership.user_id == user_id
            )
        )
        await session.execute(
            update(ApiToken)
            .where(
                ApiToken.workspace_id == workspace_id,
                ApiToken.user_id == user_id,
                ApiToken.revoked_at.is_(None),
            )
            .values(revoked_at=utcnow())
            .execution_options(synchronize_session=False)
        )


async def leave_workspace(session: AsyncSession, actor: Actor, workspace_id: str) -> None:
    """The actor leaves the workspace (Conflict for its last owner: delete it instead)."""
    try:
        await remove_member(session, actor, workspace_id, actor.user_id)
    except Conflict:
        raise Conflict(
            "you are the workspace's last owner: make another member an owner first, "
            "or delete the workspace"
        ) from None


async def change_member_role(
    session: AsyncSession, actor: Actor, workspace_id: str, user_id: str, role: Role
) -> Membership:
    """Give a member another role; owners and admins only.

    Only an owner makes an owner or changes an owner's role, and the workspace keeps at
    least one owner.
    """
    caller = await require_member(session, actor, workspace_id, MANAGERS)
    if role is Role.OWNER and caller.role is not Role.OWNER:
        raise Forbidden("only an owner can make another member an owner")
    async with transaction(session):
        target = await session.get(
            Membership, (workspace_id, user_id), with_for_update=True, populate_existing=True
        )
        if target is None:
            raise NotFound("member not found")
        if target.role is Role.OWNER and role is not Role.OWNER:
            if caller.role is not Role.OWNER:
                raise Forbidden("only an owner can change an owner's role")
            await _keep_an_owner(session, workspace_id, user_id)
        target.role = role
        await session.flush()
        return target


async def rename_workspace(
    session: AsyncSession, actor: Actor, workspace_id: str, name: str
) -> Workspace:
    """Give the workspace a new name; owners and admins only."""
    await require_member(session, actor, workspace_id, MANAGERS)
    workspace_name = clean_name(name, "workspace name")
    async with transaction(session):
        workspace = await session.get(
            Workspace, workspace_id, with_for_update=True, populate_existing=True
        )
        if workspace is None:
            raise NotFound("workspace not found")
        workspace.name = workspace_name
        await session.flush()
        return workspace


async def _keep_an_owner(session: AsyncSession, workspace_id: str, leaving: str) -> None:
    # The owners' rows are locked so two owners leaving at once cannot both succeed.
    owners = (
        await session.scalars(
            select(Membership.user_id)
            .where(Membership.workspace_id == workspace_id, Membership.role == Role.OWNER)
            .with_for_update()
        )
    ).all()
    if not [owner for owner in owners if owner != leaving]:
        raise Conflict("a workspace needs at least one owner")
