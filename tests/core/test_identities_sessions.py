"""Sign-in identities by (issuer, subject), linked by email only when verified; browser
sessions that live on the server and end there; credentials checked again later."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from hushcut.core.errors import Unauthenticated
from hushcut.core.models import BrowserSession, User, UserIdentity
from hushcut.core.runtime import Runtime
from hushcut.core.services import identities, sessions, tokens, workspaces
from hushcut.core.services.auth import Actor, memberships_held
from tests.platform import new_member

ISSUER = "https://accounts.google.com"


async def sign_in(
    runtime: Runtime, subject: str, email: str, *, verified: bool = True, issuer: str = ISSUER
) -> User:
    async with runtime.session() as session:
        return await identities.sign_in_with_identity(
            session,
            issuer=issuer,
            subject=subject,
            email=email,
            email_verified=verified,
            name="Someone",
        )


async def test_identities_link_by_verified_email_and_stay_with_their_subject(
    runtime: Runtime,
) -> None:
    email = f"ada-{uuid.uuid4().hex[:6]}@example.com"
    actor, _ = await new_member(runtime, email)  # made by an invitation or the CLI
    with pytest.raises(Unauthenticated, match="not verified"):
        await sign_in(runtime, "sub-unverified", email, verified=False)
    linked = await sign_in(runtime, "sub-1", email.upper())
    assert linked.id == actor.user_id
    # Known now: its subject signs in the same user whatever address it reports.
    assert (await sign_in(runtime, "sub-1", "new@example.com", verified=False)).id == linked.id
    # The same subject at another issuer is another identity (and here another person).
    other = await sign_in(
        runtime, "sub-1", f"x-{uuid.uuid4().hex[:6]}@example.com", issuer="https://idp.example"
    )
    assert other.id != linked.id
    async with runtime.session() as session:
        rows = (
            await session.scalars(select(UserIdentity).where(UserIdentity.user_id == linked.id))
        ).all()
    assert [(row.issuer, row.subject, row.email) for row in rows] == [
        (ISSUER, "sub-1", "new@example.com")
    ]


async def test_two_first_sign_ins_at_once_make_one_user_and_one_identity(
    runtime: Runtime,
) -> None:
    email = f"twice-{uuid.uuid4().hex[:6]}@example.com"
    first, second = await asyncio.gather(
        sign_in(runtime, "sub-race", email), sign_in(runtime, "sub-race", email)
    )
    assert first.id == second.id
    async with runtime.session() as session:
        count = await session.scalar(
            select(func.count()).select_from(UserIdentity).where(UserIdentity.subject == "sub-race")
        )
    assert count == 1


async def test_sessions_end_on_sign_out_everywhere_and_on_expiry(runtime: Runtime) -> None:
    actor, _ = await new_member(runtime)
    other, _ = await new_member(runtime)
    async with runtime.session() as session:
        laptop = await sessions.start_session(session, actor.user_id)
        phone = await sessions.start_session(session, actor.user_id)
        elsewhere = await sessions.start_session(session, other.user_id)
        signed_in = await sessions.verify_session(session, laptop)
        assert (signed_in.user_id, signed_in.session_id) == (
            actor.user_id,
            sessions.session_id_of(laptop),
        )
        assert await sessions.still_valid(session, signed_in)

        assert await sessions.end_session(session, laptop)
        assert not await sessions.end_session(session, laptop)
        with pytest.raises(Unauthenticated, match="sign in again"):
            await sessions.verify_session(session, laptop)
        assert not await sessions.still_valid(session, signed_in)
        assert (await sessions.verify_session(session, phone)).user_id == actor.user_id

        assert await sessions.end_all_sessions(session, actor.user_id) == 1
        with pytest.raises(Unauthenticated):
            await sessions.verify_session(session, phone)
        assert (await sessions.verify_session(session, elsewhere)).user_id == other.user_id

        stale = await sessions.start_session(session, actor.user_id, lifetime=timedelta(0))
        with pytest.raises(Unauthenticated):
            await sessions.verify_session(session, stale)
        # The next sign-in clears the user's expired sessions away.
        await sessions.start_session(session, actor.user_id)
        left = await session.scalar(
            select(func.count())
            .select_from(BrowserSession)
            .where(BrowserSession.user_id == actor.user_id)
        )
    assert left == 1


async def test_still_valid_notices_revoked_tokens_removed_members_and_deleted_users(
    runtime: Runtime,
) -> None:
    owner, workspace_id = await new_member(runtime)
    member, _ = await new_member(runtime)
    async with runtime.session() as session:
        await workspaces.add_member(session, owner, workspace_id, await _email(runtime, member))
        _row, plaintext = await tokens.create_api_token(session, member, workspace_id, "ci")
        token_actor = await tokens.verify_api_token(session, plaintext)
        assert await sessions.still_valid(session, token_actor)
        await workspaces.remove_member(session, owner, workspace_id, member.user_id)
        assert not await sessions.still_valid(session, token_actor)

        own_row, own_plaintext = await tokens.create_api_token(session, owner, workspace_id, "x")
        own_actor = await tokens.verify_api_token(session, own_plaintext)
        await tokens.revoke_api_token(session, owner, own_row.id)
        assert not await sessions.still_valid(session, own_actor)

        cookie = await sessions.start_session(session, member.user_id)
        browser = await sessions.verify_session(session, cookie)
        assert await sessions.still_valid(session, Actor(member.user_id))
        await session.delete(await session.get(User, member.user_id))
        await session.commit()
        assert not await sessions.still_valid(session, browser)
        assert not await sessions.still_valid(session, Actor(member.user_id))


async def _email(runtime: Runtime, actor: Actor) -> str:
    async with runtime.session() as session:
        return (await workspaces.get_user(session, actor.user_id)).email


async def test_a_session_opened_with_a_token_reaches_its_workspace_and_ends_with_it(
    runtime: Runtime,
) -> None:
    owner, workspace_id = await new_member(runtime)
    member, own_workspace = await new_member(runtime)
    async with runtime.session() as session:
        await workspaces.add_member(session, owner, workspace_id, await _email(runtime, member))
        row, plaintext = await tokens.create_api_token(session, member, workspace_id, "browser")
        token_actor = await tokens.verify_api_token(session, plaintext)
        cookie = await sessions.start_session(
            session, member.user_id, api_token_id=token_actor.token_id
        )
        browser = await sessions.verify_session(session, cookie)
        # The token's reach, not the person's: their own workspace is out of it.
        assert browser.workspace_id == workspace_id
        assert browser.session_id == sessions.session_id_of(cookie)
        assert not browser.can_reach(own_workspace)
        assert await sessions.still_valid(session, browser)
        assert [w.id for w in await workspaces.list_workspaces(session, browser)] == [workspace_id]

        # Revoking the token ends the session, however long it had left.
        await tokens.revoke_api_token(session, member, row.id)
        assert not await sessions.still_valid(session, browser)
        with pytest.raises(Unauthenticated, match="sign in again"):
            await sessions.verify_session(session, cookie)

        # So does leaving the token's workspace (the token stops working).
        _row, again = await tokens.create_api_token(session, member, workspace_id, "again")
        second = await sessions.start_session(
            session,
            member.user_id,
            api_token_id=(await tokens.verify_api_token(session, again)).token_id,
        )
        assert (await sessions.verify_session(session, second)).workspace_id == workspace_id
        await workspaces.remove_member(session, owner, workspace_id, member.user_id)
        with pytest.raises(Unauthenticated):
            await sessions.verify_session(session, second)

        # A session signed in without a token still reaches every membership.
        person = await sessions.verify_session(
            session, await sessions.start_session(session, member.user_id)
        )
        assert person.workspace_id is None


async def test_many_credentials_and_memberships_are_checked_in_one_go(runtime: Runtime) -> None:
    owner, workspace_id = await new_member(runtime)
    member, _ = await new_member(runtime)
    async with runtime.session() as session:
        await workspaces.add_member(session, owner, workspace_id, await _email(runtime, member))
        kept_row, kept = await tokens.create_api_token(session, owner, workspace_id, "kept")
        gone_row, gone = await tokens.create_api_token(session, owner, workspace_id, "gone")
        kept_actor = await tokens.verify_api_token(session, kept)
        gone_actor = await tokens.verify_api_token(session, gone)
        await tokens.revoke_api_token(session, owner, gone_row.id)
        live_browser = await sessions.verify_session(
            session, await sessions.start_session(session, member.user_id)
        )
        ended_cookie = await sessions.start_session(session, member.user_id)
        ended_browser = await sessions.verify_session(session, ended_cookie)
        await sessions.end_session(session, ended_cookie)
        nobody = Actor(str(uuid.uuid4()))
        asked = [kept_actor, gone_actor, live_browser, ended_browser, owner, nobody]
        assert await sessions.live_credentials(session, asked) == {
            kept_actor,
            live_browser,
            owner,
        }
        assert await sessions.live_credentials(session, []) == set()

        pairs = {(owner.user_id, workspace_id), (member.user_id, workspace_id)}
        assert await memberships_held(session, pairs) == pairs
        await workspaces.remove_member(session, owner, workspace_id, member.user_id)
        assert await memberships_held(session, pairs | {(nobody.user_id, workspace_id)}) == {
            (owner.user_id, workspace_id)
        }
    assert kept_row.id != gone_row.id
