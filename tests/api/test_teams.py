"""Teams over the API: invitations (single-use, expiring, for the invited address only),
roles, leaving and renaming, the credit ledger; every operation scoped to its workspace."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select, update

from hushcut.core.models import EmailOutbox, Invitation, Role, utcnow
from hushcut.core.runtime import Runtime
from hushcut.core.services import tokens, workspaces
from hushcut.core.services.auth import Actor
from tests.api.conftest import Account, ApiServer, Fakes, error_codes, graphql, new_account
from tests.api.test_signin import sign_in

INVITE = """mutation($ws: ID!, $email: String!, $role: Role!) {
  inviteMember(workspaceId: $ws, email: $email, role: $role) { id email role expiresAt }
}"""
INVITATIONS = "query($ws: ID!) { workspace(id: $ws) { invitations { id email role } } }"
REVOKE = "mutation($id: ID!) { revokeInvitation(id: $id) { id revokedAt } }"
ACCEPT = "mutation($token: String!) { acceptInvitation(token: $token) { id name role } }"
MEMBERS = "query($ws: ID!) { workspace(id: $ws) { name members { userId email role } } }"
CHANGE = """mutation($ws: ID!, $user: ID!, $role: Role!) {
  changeMemberRole(workspaceId: $ws, userId: $user, role: $role) { userId email role }
}"""
REMOVE = """mutation($ws: ID!, $user: ID!) {
  removeMember(workspaceId: $ws, userId: $user) { id members { userId } }
}"""
LEAVE = "mutation($ws: ID!) { leaveWorkspace(workspaceId: $ws) }"
RENAME = "mutation($ws: ID!, $name: String!) { renameWorkspace(id: $ws, name: $name) { id name } }"
LEDGER = """query($ws: ID!, $first: Int!, $after: String) {
  workspace(id: $ws) {
    credits
    ledger(first: $first, after: $after) {
      edges { cursor node {
        id amount reason note balanceAfter createdAt jobId job { id } payment { id credits }
      } }
      pageInfo { hasNextPage endCursor }
    }
  }
}"""
LINK = re.compile(r"/invite/(hci_[\w-]+)")


async def member(runtime: Runtime, owner: Account, role: Role = Role.MEMBER) -> Account:
    """A new person added to ``owner``'s workspace with ``role``, with a token for it."""
    email = f"member-{uuid.uuid4().hex[:10]}@example.com"
    async with runtime.session() as session:
        row = await workspaces.add_member(
            session, Actor(owner.user_id), owner.workspace_id, email, role
        )
        token, plaintext = await tokens.create_api_token(
            session, Actor(row.user_id), owner.workspace_id, "member"
        )
    return Account(row.user_id, email, owner.workspace_id, plaintext, token.id)


async def invite(
    client: httpx.AsyncClient,
    runtime: Runtime,
    inviter: Account,
    email: str,
    role: str = "MEMBER",
) -> tuple[str, str]:
    """Invite ``email``; the invitation's id and the token from the link emailed."""
    result = await graphql(
        client,
        INVITE,
        {"ws": inviter.workspace_id, "email": email, "role": role},
        inviter.headers,
    )
    assert "errors" not in result, result
    invitation = result["data"]["inviteMember"]
    assert (invitation["email"], invitation["role"]) == (email.lower(), role)
    async with runtime.session() as session:
        mail = (
            await session.scalars(
                select(EmailOutbox).where(
                    EmailOutbox.idempotency_key == f"invitation-{invitation['id']}"
                )
            )
        ).one()
    assert mail.to_address == email.lower()
    found = LINK.search(mail.text)
    assert found is not None, mail.text
    assert f"{runtime.settings.app_url}/invite/{found.group(1)}" in mail.text
    return invitation["id"], found.group(1)


@asynccontextmanager
async def browser_of(
    server: ApiServer, fakes: Fakes, email: str
) -> AsyncIterator[httpx.AsyncClient]:
    """A browser signed in with Google as ``email`` (verified); it sends no CSRF header."""
    fakes.oidc.next_identity = {
        "sub": uuid.uuid4().hex,
        "email": email,
        "email_verified": True,
        "name": "Invited Person",
    }
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as browser:
        callback = await sign_in(browser)
        assert callback.status_code in (302, 303, 307), callback.text
        yield browser


def csrf(browser: httpx.AsyncClient) -> dict[str, str]:
    return {"X-CSRF-Token": browser.cookies["hushcut_csrf"]}


async def test_an_invited_colleague_joins_by_the_emailed_link(
    server: ApiServer, fakes: Fakes, runtime: Runtime, client: httpx.AsyncClient
) -> None:
    owner = await new_account(runtime)
    address = f"Colleague-{uuid.uuid4().hex[:8]}@Example.com"
    invitation_id, token = await invite(client, runtime, owner, address, "ADMIN")
    listed = await graphql(client, INVITATIONS, {"ws": owner.workspace_id}, owner.headers)
    assert listed["data"]["workspace"]["invitations"] == [
        {"id": invitation_id, "email": address.lower(), "role": "ADMIN"}
    ]
    async with browser_of(server, fakes, address.upper()) as browser:
        # A cookie session must send the CSRF token with a mutation; refused, not consumed.
        refused = await graphql(browser, ACCEPT, {"token": token})
        assert error_codes(refused) == ["FORBIDDEN"]
        joined = await graphql(browser, ACCEPT, {"token": token}, csrf(browser))
        assert "errors" not in joined, joined
        assert joined["data"]["acceptInvitation"]["id"] == owner.workspace_id
        assert joined["data"]["acceptInvitation"]["role"] == "ADMIN"
        mine = await graphql(browser, MEMBERS, {"ws": owner.workspace_id})
        assert address.lower() in [m["email"] for m in mine["data"]["workspace"]["members"]]
    listed = await graphql(client, INVITATIONS, {"ws": owner.workspace_id}, owner.headers)
    assert listed["data"]["workspace"]["invitations"] == []


async def test_invitation_tokens_work_once_until_they_expire_for_their_address_only(
    server: ApiServer, fakes: Fakes, runtime: Runtime, client: httpx.AsyncClient
) -> None:
    owner = await new_account(runtime)
    address = f"invited-{uuid.uuid4().hex[:8]}@example.com"
    _, token = await invite(client, runtime, owner, address)
    _, expiring = await invite(client, runtime, owner, f"late-{uuid.uuid4().hex[:8]}@example.com")
    async with runtime.session() as session:
        await session.execute(
            update(Invitation)
            .where(Invitation.email.like("late-%"), Invitation.workspace_id == owner.workspace_id)
            .values(expires_at=utcnow() - timedelta(minutes=1))
        )
        await session.commit()
    refusals: list[dict[str, Any]] = []
    async with browser_of(server, fakes, f"someone-{uuid.uuid4().hex[:8]}@example.com") as other:
        for candidate in (token, expiring, token[:-3] + "abc", "hci_" + "x" * 43, "nonsense"):
            refusals.append(await graphql(other, ACCEPT, {"token": candidate}, csrf(other)))
    async with browser_of(server, fakes, address) as invited:
        # The right person with an API token (of their own workspace) cannot accept.
        me = await graphql(invited, "{ me { id workspaces { id } } }")
        person = Actor(me["data"]["me"]["id"])
        async with runtime.session() as session:
            _, plaintext = await tokens.create_api_token(
                session, person, me["data"]["me"]["workspaces"][0]["id"], "prog"
            )
        by_token = await graphql(
            client, ACCEPT, {"token": token}, {"Authorization": f"Bearer {plaintext}"}
        )
        assert error_codes(by_token) == ["FORBIDDEN"]
        accepted = await graphql(invited, ACCEPT, {"token": token}, csrf(invited))
        assert accepted["data"]["acceptInvitation"]["id"] == owner.workspace_id
        refusals.append(await graphql(invited, ACCEPT, {"token": token}, csrf(invited)))
    async with browser_of(server, fakes, address.replace("invited", "late")) as late:
        refusals.append(await graphql(late, ACCEPT, {"token": expiring}, csrf(late)))
    assert [error_codes(result) for result in refusals] == [["NOT_FOUND"]] * len(refusals)
    # One message for every reason: used, expired, altered, unknown, another address.
    assert len({result["errors"][0]["message"] for result in refusals}) == 1


async def test_revoking_and_reinviting_kill_the_old_links(
    server: ApiServer, fakes: Fakes, runtime: Runtime, client: httpx.AsyncClient
) -> None:
    owner = await new_account(runtime)
    address = f"again-{uuid.uuid4().hex[:8]}@example.com"
    _, first = await invite(client, runtime, owner, address)
    second_id, second = await invite(client, runtime, owner, address)
    revoked = await graphql(client, REVOKE, {"id": second_id}, owner.headers)
    assert revoked["data"]["revokeInvitation"]["revokedAt"]
    async with browser_of(server, fakes, address) as invited:
        for token in (first, second):
            result = await graphql(invited, ACCEPT, {"token": token}, csrf(invited))
            assert error_codes(result) == ["NOT_FOUND"]


async def test_roles_rules(runtime: Runtime, client: httpx.AsyncClient) -> None:
    owner = await new_account(runtime)
    admin = await member(runtime, owner, Role.ADMIN)
    plain = await member(runtime, owner)
    ws = owner.workspace_id

    async def call(who: Account, query: str, **values: Any) -> dict[str, Any]:
        return await graphql(client, query, {"ws": ws, **values}, who.headers)

    email = f"x-{uuid.uuid4().hex[:8]}@example.com"
    assert error_codes(await call(admin, INVITE, email=email, role="OWNER")) == ["FORBIDDEN"]
    assert error_codes(await call(plain, INVITE, email=email, role="MEMBER")) == ["FORBIDDEN"]
    assert error_codes(await call(plain, INVITATIONS)) == ["FORBIDDEN"]
    assert "errors" not in await call(admin, INVITE, email=email, role="ADMIN")
    assert error_codes(await call(owner, INVITE, email=plain.email, role="ADMIN")) == ["CONFLICT"]
    assert error_codes(await call(owner, INVITE, email="nope", role="ADMIN")) == ["BAD_USER_INPUT"]

    assert error_codes(await call(plain, CHANGE, user=plain.user_id, role="ADMIN")) == ["FORBIDDEN"]
    assert error_codes(await call(admin, CHANGE, user=plain.user_id, role="OWNER")) == ["FORBIDDEN"]
    assert error_codes(await call(admin, CHANGE, user=owner.user_id, role="MEMBER")) == [
        "FORBIDDEN"
    ]
    assert error_codes(await call(owner, CHANGE, user=owner.user_id, role="ADMIN")) == ["CONFLICT"]
    changed = await call(admin, CHANGE, user=plain.user_id, role="ADMIN")
    assert changed["data"]["changeMemberRole"] == {
        "userId": plain.user_id,
        "email": plain.email,
        "role": "ADMIN",
    }
    assert error_codes(await call(owner, CHANGE, user=str(uuid.uuid4()), role="ADMIN")) == [
        "NOT_FOUND"
    ]

    assert error_codes(await call(admin, RENAME, name="Mine")) == []
    assert error_codes(await call(owner, RENAME, name="  ")) == ["BAD_USER_INPUT"]
    assert error_codes(await call(admin, REMOVE, user=owner.user_id)) == ["FORBIDDEN"]
    assert error_codes(await call(owner, REMOVE, user=owner.user_id)) == ["BAD_USER_INPUT"]
    assert error_codes(await call(owner, LEAVE)) == ["CONFLICT"]  # the last owner
    removed = await call(admin, REMOVE, user=plain.user_id)
    assert plain.user_id not in [m["userId"] for m in removed["data"]["removeMember"]["members"]]
    # A removed member's token stops working at once.
    assert error_codes(await call(plain, MEMBERS)) == ["UNAUTHENTICATED"]
    left = await call(admin, LEAVE)
    assert left["data"]["leaveWorkspace"] is True
    assert error_codes(await call(admin, MEMBERS)) == ["UNAUTHENTICATED"]
    final = await call(owner, MEMBERS)
    assert final["data"]["workspace"]["name"] == "Mine"
    assert [m["userId"] for m in final["data"]["workspace"]["members"]] == [owner.user_id]


async def test_the_ledger_pages_newest_first_with_balances(
    runtime: Runtime, client: httpx.AsyncClient
) -> None:
    from tests.api.test_flow import REQUEST_UPLOAD

    account = await new_account(runtime, credits=4)
    ticket = await graphql(
        client,
        REQUEST_UPLOAD,
        {"ws": account.workspace_id, "name": "a.mp4", "size": 10, "type": "video/mp4"},
        account.headers,
    )
    job_id = ticket["data"]["requestUpload"]["job"]["id"]
    async with runtime.session() as session:
        from hushcut.core.services import jobs

        await jobs.confirm_upload(session, Actor(account.user_id), job_id, 10)
        await jobs.cancel_job(session, Actor(account.user_id), job_id)

    nodes: list[dict[str, Any]] = []
    after = None
    while True:
        page = await graphql(
            client,
            LEDGER,
            {"ws": account.workspace_id, "first": 2, "after": after},
            account.headers,
        )
        ledger = page["data"]["workspace"]["ledger"]
        nodes += [edge["node"] for edge in ledger["edges"]]
        if not ledger["pageInfo"]["hasNextPage"]:
            break
        after = ledger["pageInfo"]["endCursor"]
    assert [(n["reason"], n["amount"], n["balanceAfter"]) for n in nodes] == [
        ("JOB_REFUND", 1, 4),
        ("JOB_CHARGE", -1, 3),
        ("ADJUSTMENT", 1, 4),
        ("STARTER", 3, 3),
    ]
    assert [n["jobId"] for n in nodes[:2]] == [job_id, job_id]
    assert [n["job"] for n in nodes[:2]] == [{"id": job_id}, {"id": job_id}]
    assert page["data"]["workspace"]["credits"] == nodes[0]["balanceAfter"]
    for variables, code in [
        ({"first": 101, "after": None}, "BAD_USER_INPUT"),
        ({"first": 2, "after": "not-a-cursor"}, "BAD_USER_INPUT"),
    ]:
        result = await graphql(
            client, LEDGER, {"ws": account.workspace_id, **variables}, account.headers
        )
        assert error_codes(result) == [code]


@pytest.fixture
async def team(runtime: Runtime, client: httpx.AsyncClient) -> dict[str, Any]:
    """A workspace with a member, a pending invitation and a finished job."""
    from tests.api.test_flow import REQUEST_UPLOAD

    owner = await new_account(runtime, credits=3)
    colleague = await member(runtime, owner)
    invitation_id, _ = await invite(client, runtime, owner, f"p-{uuid.uuid4().hex[:8]}@example.com")
    ticket = await graphql(
        client,
        REQUEST_UPLOAD,
        {"ws": owner.workspace_id, "name": "a.mp4", "size": 10, "type": "video/mp4"},
        owner.headers,
    )
    job_id = ticket["data"]["requestUpload"]["job"]["id"]
    canceled = await graphql(
        client,
        "mutation($id: ID!) { cancelJob(jobId: $id) { status } }",
        {"id": job_id},
        owner.headers,
    )
    assert canceled["data"]["cancelJob"]["status"] == "CANCELED"
    return {"owner": owner, "colleague": colleague, "invitation": invitation_id, "job": job_id}


OPERATIONS = {
    "inviteMember": (INVITE, {"email": "eve@example.com", "role": "MEMBER"}),
    "invitations": (INVITATIONS, {}),
    "revokeInvitation": (REVOKE, {}),
    "changeMemberRole": (CHANGE, {"role": "OWNER"}),
    "removeMember": (REMOVE, {}),
    "leaveWorkspace": (LEAVE, {}),
    "renameWorkspace": (RENAME, {"name": "Taken"}),
    "ledger": (LEDGER, {"first": 5, "after": None}),
    "deletionPreview": ("query($ws: ID!) { workspace(id: $ws) { deletionPreview { jobs } } }", {}),
    "deleteJob": ("mutation($job: ID!) { deleteJob(jobId: $job) }", {}),
    "deleteWorkspace": (
        'mutation($ws: ID!) { deleteWorkspace(id: $ws, confirmName: "Test workspace") }',
        {},
    ),
}


def operation_variables(query: str, extra: dict[str, Any], team: dict[str, Any]) -> dict[str, Any]:
    values = {
        "ws": team["owner"].workspace_id,
        "id": team["invitation"],
        "user": team["colleague"].user_id,
        "job": team["job"],
        **extra,
    }
    return {key: value for key, value in values.items() if f"${key}" in query}


@pytest.mark.parametrize("operation", list(OPERATIONS))
async def test_another_workspaces_member_gets_not_found_and_changes_nothing(
    operation: str, team: dict[str, Any], runtime: Runtime, client: httpx.AsyncClient
) -> None:
    query, extra = OPERATIONS[operation]
    intruder = await new_account(runtime)
    result = await graphql(client, query, operation_variables(query, extra, team), intruder.headers)
    assert error_codes(result) == ["NOT_FOUND"], result
    anonymous = await graphql(client, query, operation_variables(query, extra, team))
    assert error_codes(anonymous) == ["UNAUTHENTICATED"]
    owner: Account = team["owner"]
    state = await graphql(
        client,
        """query($ws: ID!, $job: ID!) {
          workspace(id: $ws) { name members { userId } invitations { id } }
          job(id: $job) { id }
        }""",
        {"ws": owner.workspace_id, "job": team["job"]},
        owner.headers,
    )
    assert "errors" not in state, state
    assert state["data"]["workspace"]["name"] == "Test workspace"
    assert len(state["data"]["workspace"]["members"]) == 2
    assert [i["id"] for i in state["data"]["workspace"]["invitations"]] == [team["invitation"]]
    assert state["data"]["job"]["id"] == team["job"]
