"""Teams: invitations by email with single-use links, roles, leaving, renaming, the ledger."""

from __future__ import annotations

import asyncio
import re
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from hushcut.core.email import EmailError
from hushcut.core.errors import (
    BadUserInput,
    Conflict,
    EmailUnavailable,
    Forbidden,
    NotFound,
    Unauthenticated,
)
from hushcut.core.models import EmailOutbox, Invitation, LedgerReason, Role, utcnow
from hushcut.core.runtime import Runtime
from hushcut.core.services import credits, invitations, jobs, payments, tokens, workspaces
from hushcut.core.services.auth import Actor
from hushcut.core.services.paging import Position
from tests.platform import new_member

LINK = re.compile(r"(https?://\S+/invite/(hci_[\w-]+))")


async def invite(
    runtime: Runtime, actor: Actor, workspace_id: str, email: str, role: Role = Role.MEMBER
) -> tuple[Invitation, str]:
    """Invite ``email``; returns the invitation and the token from the email sent."""
    async with runtime.session() as session:
        invitation = await invitations.invite_member(
            session,
            actor,
            workspace_id,
            email,
            role,
            sender=runtime.email,
            app_url=runtime.settings.app_url,
            ttl_hours=runtime.settings.invitation_ttl_hours,
        )
        mail = (
            await session.scalars(
                select(EmailOutbox).where(
                    EmailOutbox.idempotency_key == f"invitation-{invitation.id}"
                )
            )
        ).one()
    assert mail.to_address == email.strip().lower()
    found = LINK.search(mail.text)
    assert found is not None, mail.text
    assert found.group(1).startswith(runtime.settings.app_url.rstrip("/") + "/invite/")
    assert mail.html is not None
    assert found.group(1) in mail.html
    return invitation, found.group(2)


async def signed_in(runtime: Runtime, email: str) -> Actor:
    async with runtime.session() as session:
        user = await workspaces.get_or_create_user(session, email)
    return Actor(user.id)


async def accept(runtime: Runtime, actor: Actor, token: str) -> str:
    async with runtime.session() as session:
        return (await invitations.accept_invitation(session, actor, token)).id


async def test_an_invited_person_joins_with_the_role_by_the_emailed_link(runtime: Runtime) -> None:
    owner, workspace_id = await new_member(runtime)
    invitation, token = await invite(
        runtime, owner, workspace_id, "Colleague@Example.com", Role.ADMIN
    )
    assert invitation.email == "colleague@example.com"
    # Stored hashed: the token appears nowhere in the database.
    async with runtime.session() as session:
        row = await session.get(Invitation, invitation.id)
        assert row is not None
        assert token not in (row.token_hash, row.email)
        assert row.token_hash == invitations.hash_invitation_token(token)
        assert [i.id for i in await invitations.list_invitations(session, owner, workspace_id)] == [
            invitation.id
        ]
    # Accepted by the invited address, whatever its case at sign-in.
    colleague = await signed_in(runtime, "COLLEAGUE@example.com")
    assert await accept(runtime, colleague, token) == workspace_id
    async with runtime.session() as session:
        members = await workspaces.list_members(session, owner, workspace_id)
        assert {(m.role, u.email) for m, u in members} == {
            (Role.OWNER, members[0][1].email),
            (Role.ADMIN, "colleague@example.com"),
        }
        # No longer pending.
        assert await invitations.list_invitations(session, owner, workspace_id) == []


async def test_a_token_works_once_until_it_expires_and_only_for_its_address(
    runtime: Runtime,
) -> None:
    owner, workspace_id = await new_member(runtime)
    _, token = await invite(runtime, owner, workspace_id, "invited@example.com")
    other = await signed_in(runtime, "someone-else@example.com")
    invited = await signed_in(runtime, "invited@example.com")
    refusals: list[str] = []

    async def refused(actor: Actor, candidate: str) -> None:
        with pytest.raises(NotFound) as error:
            await accept(runtime, actor, candidate)
        refusals.append(error.value.message)

    await refused(other, token)  # another person: refused, and the token still works
    await refused(invited, token[:-2] + "xx")  # not a token that exists
    await refused(invited, "not-even-a-token")
    assert await accept(runtime, invited, token) == workspace_id
    await refused(invited, token)  # used
    await refused(other, token)
    # Every refusal reads the same: nobody learns whether a token exists.
    assert len(set(refusals)) == 1

    # Expired: refused the same way, even for the right person.
    _, late = await invite(runtime, owner, workspace_id, "late@example.com")
    late_person = await signed_in(runtime, "late@example.com")
    async with runtime.session() as session:
        await session.execute(
            update(Invitation)
            .where(Invitation.email == "late@example.com")
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
        await session.commit()
        assert await invitations.list_invitations(session, owner, workspace_id) == []
    await refused(late_person, late)
    assert len(set(refusals)) == 1
    async with runtime.session() as session:
        with pytest.raises(NotFound):
            await workspaces.get_workspace(session, late_person, workspace_id)


async def test_two_acceptances_at_once_make_one_membership(runtime: Runtime) -> None:
    owner, workspace_id = await new_member(runtime)
    _, token = await invite(runtime, owner, workspace_id, "twice@example.com")
    person = await signed_in(runtime, "twice@example.com")
    results = await asyncio.gather(
        accept(runtime, person, token), accept(runtime, person, token), return_exceptions=True
    )
    assert sorted(type(result).__name__ for result in results) == ["NotFound", "str"]
    async with runtime.session() as session:
        assert len(await workspaces.list_members(session, owner, workspace_id)) == 2


async def test_invitation_rules(runtime: Runtime) -> None:
    owner, workspace_id = await new_member(runtime, "owner@example.com")
    async with runtime.session() as session:
        admin_row = await workspaces.add_member(
            session, owner, workspace_id, "admin@example.com", Role.ADMIN
        )
        member_row = await workspaces.add_member(session, owner, workspace_id, "m@example.com")
    admin, member = Actor(admin_row.user_id), Actor(member_row.user_id)
    # Owners and admins invite; an admin cannot make an owner; members cannot invite.
    await invite(runtime, admin, workspace_id, "new@example.com", Role.ADMIN)
    with pytest.raises(Forbidden):
        await invite(runtime, admin, workspace_id, "boss@example.com", Role.OWNER)
    with pytest.raises(Forbidden):
        await invite(runtime, member, workspace_id, "friend@example.com")
    await invite(runtime, owner, workspace_id, "co-owner@example.com", Role.OWNER)
    async with runtime.session() as session:
        with pytest.raises(Forbidden):
            await invitations.list_invitations(session, member, workspace_id)
        # Already a member; not an address.
        for address, error in [("M@example.com", Conflict), ("nope", BadUserInput)]:
            with pytest.raises(error):
                await invitations.invite_member(
                    session,
                    owner,
                    workspace_id,
                    address,
                    Role.MEMBER,
                    sender=runtime.email,
                    app_url=runtime.settings.app_url,
                    ttl_hours=1,
                )


async def test_inviting_again_replaces_the_link_and_revoking_kills_it(runtime: Runtime) -> None:
    owner, workspace_id = await new_member(runtime)
    first, old_token = await invite(runtime, owner, workspace_id, "again@example.com")
    second, new_token = await invite(runtime, owner, workspace_id, "again@example.com")
    person = await signed_in(runtime, "again@example.com")
    with pytest.raises(NotFound):
        await accept(runtime, person, old_token)
    async with runtime.session() as session:
        pending = await invitations.list_invitations(session, owner, workspace_id)
        assert [i.id for i in pending] == [second.id]
        revoked = await invitations.revoke_invitation(session, owner, second.id)
        assert revoked.revoked_at is not None
        again = await invitations.revoke_invitation(session, owner, second.id)  # no-op
        assert again.revoked_at == revoked.revoked_at
        assert await invitations.list_invitations(session, owner, workspace_id) == []
    with pytest.raises(NotFound):
        await accept(runtime, person, new_token)
    # An accepted invitation cannot be revoked (remove the member instead).
    third, token = await invite(runtime, owner, workspace_id, "again@example.com")
    await accept(runtime, person, token)
    async with runtime.session() as session:
        with pytest.raises(Conflict):
            await invitations.revoke_invitation(session, owner, third.id)
        assert first.id != second.id != third.id


async def test_accepting_needs_a_signed_in_person_not_a_token(runtime: Runtime) -> None:
    owner, workspace_id = await new_member(runtime)
    _, token = await invite(runtime, owner, workspace_id, "prog@example.com")
    person, own_workspace = await new_member(runtime, "prog@example.com")
    with pytest.raises(Forbidden):
        await accept(runtime, Actor(person.user_id, own_workspace), token)
    assert await accept(runtime, person, token) == workspace_id


class BrokenSender:
    async def send(self, *args: object, **kwargs: object) -> bool:
        raise EmailError("Resend refused the email: HTTP 500")

    async def close(self) -> None:
        return None


async def test_an_invitation_whose_email_failed_is_withdrawn(runtime: Runtime) -> None:
    owner, workspace_id = await new_member(runtime)
    async with runtime.session() as session:
        with pytest.raises(EmailUnavailable):
            await invitations.invite_member(
                session,
                owner,
                workspace_id,
                "unlucky@example.com",
                Role.MEMBER,
                sender=BrokenSender(),
                app_url=runtime.settings.app_url,
                ttl_hours=1,
            )
        assert await invitations.list_invitations(session, owner, workspace_id) == []


async def test_roles_change_within_the_rules_and_a_workspace_keeps_an_owner(
    runtime: Runtime,
) -> None:
    owner, workspace_id = await new_member(runtime, "o@example.com")
    async with runtime.session() as session:
        admin = Actor(
            (
                await workspaces.add_member(
                    session, owner, workspace_id, "a@example.com", Role.ADMIN
                )
            ).user_id
        )
        member = Actor(
            (await workspaces.add_member(session, owner, workspace_id, "m@example.com")).user_id
        )
        change = workspaces.change_member_role
        with pytest.raises(Forbidden):
            await change(session, member, workspace_id, member.user_id, Role.ADMIN)
        with pytest.raises(Forbidden):  # an admin cannot make an owner
            await change(session, admin, workspace_id, member.user_id, Role.OWNER)
        with pytest.raises(Forbidden):  # nor demote one
            await change(session, admin, workspace_id, owner.user_id, Role.MEMBER)
        assert (
            await change(session, admin, workspace_id, member.user_id, Role.ADMIN)
        ).role is Role.ADMIN
        with pytest.raises(Conflict):  # the last owner cannot step down
            await change(session, owner, workspace_id, owner.user_id, Role.ADMIN)
        with pytest.raises(NotFound):
            await change(session, owner, workspace_id, "no-such-user", Role.ADMIN)
        await change(session, owner, workspace_id, admin.user_id, Role.OWNER)
        # Two owners now: one may step down.
        assert (
            await change(session, owner, workspace_id, owner.user_id, Role.MEMBER)
        ).role is Role.MEMBER
        roles = {
            u.email: m.role for m, u in await workspaces.list_members(session, admin, workspace_id)
        }
        assert roles == {
            "o@example.com": Role.MEMBER,
            "a@example.com": Role.OWNER,
            "m@example.com": Role.ADMIN,
        }


async def test_leaving_removing_and_renaming(runtime: Runtime) -> None:
    owner, workspace_id = await new_member(runtime)
    async with runtime.session() as session:
        member = Actor(
            (await workspaces.add_member(session, owner, workspace_id, "m@example.com")).user_id
        )
        _, member_token = await tokens.create_api_token(session, member, workspace_id, "laptop")
        with pytest.raises(Conflict):
            await workspaces.leave_workspace(session, owner, workspace_id)
        with pytest.raises(Forbidden):
            await workspaces.rename_workspace(session, member, workspace_id, "Mine now")
        with pytest.raises(BadUserInput):
            await workspaces.rename_workspace(session, owner, workspace_id, "   ")
        renamed = await workspaces.rename_workspace(session, owner, workspace_id, "  Video   team ")
        assert renamed.name == "Video team"
        assert (await workspaces.get_workspace(session, member, workspace_id)).name == "Video team"
        # Removing a member ends their tokens, and they stay dead if the member returns.
        await workspaces.remove_member(session, owner, workspace_id, member.user_id)
        with pytest.raises(NotFound):
            await workspaces.get_workspace(session, member, workspace_id)
        await workspaces.add_member(session, owner, workspace_id, "m@example.com")
        with pytest.raises(Unauthenticated):
            await tokens.verify_api_token(session, member_token)
        await workspaces.leave_workspace(session, member, workspace_id)
        assert await workspaces.list_workspaces(session, member) == []


async def test_the_ledger_lists_movements_newest_first_with_balances_and_links(
    runtime: Runtime,
) -> None:
    actor, workspace_id = await new_member(runtime, credits=2)
    async with runtime.session() as session:
        job = await jobs.create_job(session, actor, workspace_id, "a.mp4", 10, "video/mp4")
        await jobs.confirm_upload(session, actor, job.id, 10)
        await jobs.cancel_job(session, actor, job.id)
        payment = await payments.apply_payment(
            session,
            provider_event_id="evt_1",
            event_type="checkout.session.completed",
            workspace_id=workspace_id,
            credits=10,
            amount=900,
            currency="eur",
            payment_intent_id="pi_1",
        )
        assert payment is not None
        everything = await credits.list_ledger(session, actor, workspace_id, first=100)
        assert [(e.reason, e.delta, e.balance_after) for e in everything.items] == [
            (LedgerReason.PAYMENT, 10, 12),
            (LedgerReason.JOB_REFUND, 1, 2),
            (LedgerReason.JOB_CHARGE, -1, 1),
            (LedgerReason.ADJUSTMENT, -3, 2),
            (LedgerReason.STARTER, 5, 5),
        ]
        assert [(e.job_id, e.payment_id) for e in everything.items[:3]] == [
            (None, payment.id),
            (job.id, None),
            (job.id, None),
        ]
        assert not everything.has_next
        # Pages of two, following the position of each page's end.
        seen: list[str] = []
        after: Position | None = None
        while True:
            page = await credits.list_ledger(session, actor, workspace_id, first=2, after=after)
            seen += [e.id for e in page.items]
            if not page.has_next:
                break
            after = page.end
        assert seen == [e.id for e in everything.items]
        with pytest.raises(BadUserInput):
            await credits.list_ledger(session, actor, workspace_id, first=101)
