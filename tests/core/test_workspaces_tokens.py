"""Users, workspaces, members and API tokens; nothing crosses workspace boundaries."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import update

from hushcut.core.errors import (
    BadUserInput,
    Conflict,
    Forbidden,
    NotFound,
    ServiceError,
    Unauthenticated,
)
from hushcut.core.models import ApiToken, Role, utcnow
from hushcut.core.runtime import Runtime
from hushcut.core.services import (
    credits,
    deletion,
    invitations,
    jobs,
    payments,
    tokens,
    workspaces,
)
from hushcut.core.services.auth import Actor
from hushcut.core.services.retention import RetentionPolicy
from tests.platform import new_member


async def test_users_are_unique_by_email(runtime: Runtime) -> None:
    async with runtime.session() as session:
        first = await workspaces.get_or_create_user(session, "Ada@Example.com", "Ada")
        again = await workspaces.get_or_create_user(session, " ada@example.COM ")
        assert first.id == again.id
        assert again.email == "ada@example.com"
        assert again.name == "Ada"
        with pytest.raises(BadUserInput):
            await workspaces.get_or_create_user(session, "not-an-email")


async def test_workspace_creation(runtime: Runtime) -> None:
    actor, first_id = await new_member(runtime)
    async with runtime.session() as session:
        second = await workspaces.create_workspace(
            session, actor, "  Second   team ", starter_credits=0
        )
        assert second.name == "Second team"
        assert (second.credits, second.priority) == (0, 0)
        listed = await workspaces.list_workspaces(session, actor)
        assert [w.id for w in listed] == [first_id, second.id]
        with pytest.raises(BadUserInput):
            await workspaces.create_workspace(session, actor, "  ", starter_credits=1)
        with pytest.raises(Forbidden):
            await workspaces.create_workspace(
                session, Actor(actor.user_id, first_id), "From a token", starter_credits=1
            )


async def test_members_and_roles(runtime: Runtime) -> None:
    owner, workspace_id = await new_member(runtime)
    async with runtime.session() as session:
        admin_row = await workspaces.add_member(
            session, owner, workspace_id, "admin@example.com", Role.ADMIN
        )
        member_row = await workspaces.add_member(session, owner, workspace_id, "m@example.com")
        admin, member = Actor(admin_row.user_id), Actor(member_row.user_id)
        assert member_row.role is Role.MEMBER
        # Members see the workspace but cannot manage it.
        assert (await workspaces.get_workspace(session, member, workspace_id)).id == workspace_id
        with pytest.raises(Forbidden):
            await workspaces.add_member(session, member, workspace_id, "x@example.com")
        with pytest.raises(Forbidden):
            await workspaces.remove_member(session, member, workspace_id, admin.user_id)
        # Admins manage members but not owners.
        with pytest.raises(Forbidden):
            await workspaces.add_member(session, admin, workspace_id, "o2@example.com", Role.OWNER)
        with pytest.raises(Forbidden):
            await workspaces.remove_member(session, admin, workspace_id, owner.user_id)
        await workspaces.remove_member(session, admin, workspace_id, member.user_id)
        with pytest.raises(NotFound):
            await workspaces.get_workspace(session, member, workspace_id)
        # The last owner stays.
        with pytest.raises(Conflict):
            await workspaces.remove_member(session, owner, workspace_id, owner.user_id)
        members = await workspaces.list_members(session, owner, workspace_id)
        assert sorted(m.role.value for m, _ in members) == ["admin", "owner"]
        # Anyone may leave.
        await workspaces.remove_member(session, admin, workspace_id, admin.user_id)
        assert await workspaces.list_workspaces(session, admin) == []


async def test_token_lifecycle(runtime: Runtime) -> None:
    actor, workspace_id = await new_member(runtime)
    async with runtime.session() as session:
        row, plaintext = await tokens.create_api_token(session, actor, workspace_id, "CI")
        assert plaintext.startswith("hc_")
        assert row.prefix == plaintext[: len(row.prefix)]
        assert plaintext not in (row.token_hash, row.prefix)
        assert row.last_used_at is None
        caller = await tokens.verify_api_token(session, plaintext)
        assert caller == Actor(actor.user_id, workspace_id, row.id)
        listed = await tokens.list_api_tokens(session, actor, workspace_id)
        assert [t.id for t in listed] == [row.id]
        assert listed[0].last_used_at is not None
        for bad in ("", "hc_nope", plaintext + "x", plaintext[:-1]):
            with pytest.raises(Unauthenticated):
                await tokens.verify_api_token(session, bad)
        revoked = await tokens.revoke_api_token(session, actor, row.id)
        assert revoked.revoked_at is not None
        with pytest.raises(Unauthenticated):
            await tokens.verify_api_token(session, plaintext)


async def test_last_used_is_updated(runtime: Runtime) -> None:
    actor, workspace_id = await new_member(runtime)
    async with runtime.session() as session:
        row, plaintext = await tokens.create_api_token(session, actor, workspace_id, "CI")
        long_ago = utcnow() - timedelta(days=3)
        await session.execute(
            update(ApiToken).where(ApiToken.id == row.id).values(last_used_at=long_ago)
        )
        await session.commit()
        await tokens.verify_api_token(session, plaintext)
        # Nothing is left for a later flush: on SQLite such a write inside the next read
        # transaction failed requests with 'database is locked' while a job was running.
        assert not session.dirty
        assert not session.in_transaction()
        refreshed = (await tokens.list_api_tokens(session, actor, workspace_id))[0]
    assert refreshed.last_used_at is not None
    assert refreshed.last_used_at > long_ago + timedelta(days=2)


async def test_token_stops_working_when_its_user_leaves(runtime: Runtime) -> None:
    owner, workspace_id = await new_member(runtime)
    async with runtime.session() as session:
        membership = await workspaces.add_member(session, owner, workspace_id, "m@example.com")
        member = Actor(membership.user_id)
        _, plaintext = await tokens.create_api_token(session, member, workspace_id, "laptop")
        await tokens.verify_api_token(session, plaintext)
        await workspaces.remove_member(session, owner, workspace_id, member.user_id)
        with pytest.raises(Unauthenticated):
            await tokens.verify_api_token(session, plaintext)


async def test_token_reaches_only_its_workspace(runtime: Runtime) -> None:
    actor, first = await new_member(runtime)
    async with runtime.session() as session:
        second = await workspaces.create_workspace(session, actor, "Second", starter_credits=1)
        _, plaintext = await tokens.create_api_token(session, actor, first, "CI")
        caller = await tokens.verify_api_token(session, plaintext)
        assert [w.id for w in await workspaces.list_workspaces(session, caller)] == [first]
        with pytest.raises(NotFound):
            await workspaces.get_workspace(session, caller, second.id)
        with pytest.raises(NotFound):
            await jobs.create_job(session, caller, second.id, "a.mp4", 1, "video/mp4")


async def test_revoking_others_tokens(runtime: Runtime) -> None:
    owner, workspace_id = await new_member(runtime)
    async with runtime.session() as session:
        m = await workspaces.add_member(session, owner, workspace_id, "m@example.com")
        member = Actor(m.user_id)
        owners_token, _ = await tokens.create_api_token(session, owner, workspace_id, "o")
        members_token, members_plain = await tokens.create_api_token(
            session, member, workspace_id, "m"
        )
        assert [t.id for t in await tokens.list_api_tokens(session, member, workspace_id)] == [
            members_token.id
        ]
        with pytest.raises(Forbidden):
            await tokens.revoke_api_token(session, member, owners_token.id)
        await tokens.revoke_api_token(session, owner, members_token.id)
        with pytest.raises(Unauthenticated):
            await tokens.verify_api_token(session, members_plain)


async def test_nothing_of_another_workspace_is_reachable(runtime: Runtime) -> None:
    """A member of workspace A can neither read nor change anything of workspace B."""
    alice, a_id = await new_member(runtime, "alice@example.com")
    bob, b_id = await new_member(runtime, "bob@example.com", credits=3)
    async with runtime.session() as session:
        b_job = await jobs.create_job(session, bob, b_id, "b.mp4", 10, "video/mp4")
        b_done = await jobs.create_job(session, bob, b_id, "c.mp4", 10, "video/mp4")
        await jobs.confirm_upload(session, bob, b_done.id, 10)
        b_token, _ = await tokens.create_api_token(session, bob, b_id, "b")
        await payments.apply_payment(
            session,
            provider_event_id="evt_b",
            event_type="checkout.session.completed",
            workspace_id=b_id,
            credits=1,
            amount=100,
            currency="usd",
            payment_intent_id="pi_b",
        )
        _, a_token_plain = await tokens.create_api_token(session, alice, a_id, "a")
        alice_token = await tokens.verify_api_token(session, a_token_plain)
        b_invite = await invitations.invite_member(
            session,
            bob,
            b_id,
            "carol@example.com",
            Role.MEMBER,
            sender=runtime.email,
            app_url=runtime.settings.app_url,
            ttl_hours=1,
        )
    policy = RetentionPolicy.from_settings(runtime.settings)

    attempts = {
        "get_workspace": lambda s, who: workspaces.get_workspace(s, who, b_id),
        "list_members": lambda s, who: workspaces.list_members(s, who, b_id),
        "add_member": lambda s, who: workspaces.add_member(s, who, b_id, "eve@example.com"),
        "remove_member": lambda s, who: workspaces.remove_member(s, who, b_id, bob.user_id),
        "get_job": lambda s, who: jobs.get_job(s, who, b_job.id),
        "list_jobs": lambda s, who: jobs.list_jobs(s, who, b_id),
        "create_job": lambda s, who: jobs.create_job(s, who, b_id, "x.mp4", 1, "video/mp4"),
        "confirm_upload": lambda s, who: jobs.confirm_upload(s, who, b_job.id, 10),
        "cancel_job": lambda s, who: jobs.cancel_job(s, who, b_done.id),
        "retry_job": lambda s, who: jobs.retry_job(s, who, b_done.id),
        "create_api_token": lambda s, who: tokens.create_api_token(s, who, b_id, "x"),
        "list_api_tokens": lambda s, who: tokens.list_api_tokens(s, who, b_id),
        "revoke_api_token": lambda s, who: tokens.revoke_api_token(s, who, b_token.id),
        "list_ledger": lambda s, who: credits.list_ledger(s, who, b_id),
        "list_payments": lambda s, who: payments.list_payments(s, who, b_id),
        "change_member_role": lambda s, who: workspaces.change_member_role(
            s, who, b_id, bob.user_id, Role.MEMBER
        ),
        "leave_workspace": lambda s, who: workspaces.leave_workspace(s, who, b_id),
        "rename_workspace": lambda s, who: workspaces.rename_workspace(s, who, b_id, "Mine"),
        "invite_member": lambda s, who: invitations.invite_member(
            s,
            who,
            b_id,
            "eve@example.com",
            Role.OWNER,
            sender=runtime.email,
            app_url=runtime.settings.app_url,
            ttl_hours=1,
        ),
        "list_invitations": lambda s, who: invitations.list_invitations(s, who, b_id),
        "revoke_invitation": lambda s, who: invitations.revoke_invitation(s, who, b_invite.id),
        "delete_job": lambda s, who: deletion.delete_job(
            s, who, b_done.id, storage=runtime.storage, policy=policy
        ),
        "delete_workspace": lambda s, who: deletion.delete_workspace(
            s, who, b_id, "Test workspace", storage=runtime.storage, policy=policy
        ),
        "preview_workspace_deletion": lambda s, who: deletion.preview_workspace_deletion(
            s, who, b_id
        ),
    }
    for who in (alice, alice_token):
        for name, attempt in attempts.items():
            async with runtime.session() as session:
                with pytest.raises(ServiceError) as refused:
                    await attempt(session, who)
                assert isinstance(refused.value, NotFound), name
        async with runtime.session() as session:
            assert [w.id for w in await workspaces.list_workspaces(session, who)] == [a_id]

    async with runtime.session() as session:
        assert (await jobs.get_job(session, bob, b_job.id)).status.value == "PENDING"
        assert (await jobs.get_job(session, bob, b_done.id)).status.value == "QUEUED"
        assert len(await workspaces.list_members(session, bob, b_id)) == 1
        assert await credits.get_balance(session, b_id) == 3
        assert await credits.ledger_sum(session, b_id) == 3
        assert (await tokens.list_api_tokens(session, bob, b_id))[0].revoked_at is None
        assert (await workspaces.get_workspace(session, bob, b_id)).name == "Test workspace"
        assert [i.id for i in await invitations.list_invitations(session, bob, b_id)] == [
            b_invite.id
        ]
