"""The GraphQL layer in-process, on the server's database: DataLoaders read every workspace
a query names in one query each, what is read for the caller lives for one operation, and
unexpected errors reach clients masked but the log with the operation and the caller."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncGenerator, AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from types import SimpleNamespace
from typing import Any, cast

import pytest
from sqlalchemy import event

from hushcut.api.auth import Principal
from hushcut.api.graphql.context import Context
from hushcut.api.graphql.schema import build_schema
from hushcut.api.state import ApiState
from hushcut.core.errors import NotFound
from hushcut.core.models import Role
from hushcut.core.runtime import Runtime
from hushcut.core.services import payments, tokens, workspaces
from hushcut.core.services.auth import Actor
from tests.platform import new_member

WORKSPACE_TREE = """{ me { workspaces {
  name role members { email role } payments { credits } apiTokens { name }
} } }"""


def context_for(runtime: Runtime, actor: Actor, *, websocket: bool = False) -> Context:
    api = cast(ApiState, SimpleNamespace(runtime=runtime))
    return Context(api=api, principal=Principal(actor, False, True), short_sessions=websocket)


@contextmanager
def selects(runtime: Runtime) -> Iterator[list[str]]:
    """The SELECT statements sent to the database while the block runs."""
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            seen.append(statement)

    engine = runtime.engine.sync_engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


async def add_workspace(runtime: Runtime, owner: Actor, name: str) -> str:
    """A workspace of ``owner`` with a second member, a token and a payment."""
    async with runtime.session() as session:
        workspace = await workspaces.create_workspace(session, owner, name, starter_credits=0)
        await workspaces.add_member(session, owner, workspace.id, f"{name}-member@example.com")
        await tokens.create_api_token(session, owner, workspace.id, f"{name} token")
        await payments.apply_payment(
            session,
            provider_event_id=f"evt-{workspace.id}",
            event_type="checkout.session.completed",
            workspace_id=workspace.id,
            credits=10,
            amount=900,
            currency="eur",
            payment_intent_id=f"pi-{workspace.id}",
        )
    return workspace.id


async def test_loaders_read_any_number_of_workspaces_in_one_query_each(
    runtime: Runtime,
) -> None:
    schema = build_schema()
    solo, _ = await new_member(runtime)
    busy, _ = await new_member(runtime)
    for index in range(4):
        await add_workspace(runtime, busy, f"busy-{index}-{busy.user_id[:8]}")

    with selects(runtime) as for_one:
        one = await schema.execute(WORKSPACE_TREE, context_value=context_for(runtime, solo))
    with selects(runtime) as for_five:
        five = await schema.execute(WORKSPACE_TREE, context_value=context_for(runtime, busy))

    assert one.errors is None, one.errors
    assert five.errors is None, five.errors
    assert one.data is not None
    assert five.data is not None
    assert len(one.data["me"]["workspaces"]) == 1
    listed = five.data["me"]["workspaces"]
    assert len(listed) == 5
    for workspace in listed[1:]:
        assert workspace["role"] == "OWNER"
        assert [member["role"] for member in workspace["members"]] == ["OWNER", "MEMBER"]
        assert workspace["members"][1]["email"] == f"{workspace['name']}-member@example.com"
        assert workspace["payments"] == [{"credits": 10}]
        assert workspace["apiTokens"] == [{"name": f"{workspace['name']} token"}]
    # Members, payments, tokens and roles of five workspaces cost what one workspace's do.
    assert len(for_five) == len(for_one), "\n".join(for_five)


async def test_a_loader_batch_answers_each_workspace_on_its_own(runtime: Runtime) -> None:
    owner, mine = await new_member(runtime)
    stranger, theirs = await new_member(runtime)
    shared = await add_workspace(runtime, owner, f"shared-{owner.user_id[:8]}")
    async with runtime.session() as session:
        owner_email = (await workspaces.get_user(session, owner.user_id)).email
        await workspaces.add_member(session, stranger, theirs, owner_email)
        await tokens.create_api_token(session, stranger, theirs, "the stranger's")

    loaders = context_for(runtime, owner).loaders
    own, other, unknown = await asyncio.gather(
        loaders.members.load(mine),
        loaders.api_tokens.load(theirs),
        loaders.payments.load("no-such-workspace"),
        return_exceptions=True,
    )
    assert isinstance(own, list)
    assert [row.role for row, _user in own] == [Role.OWNER]
    # A plain member sees only their own tokens (none here) in a workspace they joined.
    assert other == []
    assert isinstance(unknown, NotFound)

    # A token reaches only its own workspace, whatever else its user belongs to.
    token_actor = Actor(owner.user_id, workspace_id=mine, token_id="t")
    token_loaders = context_for(runtime, token_actor).loaders
    reachable, beyond = await asyncio.gather(
        token_loaders.members.load(mine),
        token_loaders.members.load(shared),
        return_exceptions=True,
    )
    assert isinstance(reachable, list)
    assert len(reachable) == 1
    assert isinstance(beyond, NotFound)
    assert str(beyond) == str(unknown) == "workspace not found"


async def test_a_websocket_context_reads_the_caller_afresh_for_each_operation(
    runtime: Runtime,
) -> None:
    schema = build_schema()
    joiner, _ = await new_member(runtime)
    owner, workspace_id = await new_member(runtime)
    context = context_for(runtime, joiner, websocket=True)
    query = "{ me { workspaces { id role members { email } } } }"

    before = await schema.execute(query, context_value=context)
    assert before.errors is None
    assert before.data is not None
    assert len(before.data["me"]["workspaces"]) == 1
    async with runtime.session() as session:
        email = (await workspaces.get_user(session, joiner.user_id)).email
        await workspaces.add_member(session, owner, workspace_id, email, Role.ADMIN)

    after = await schema.execute(query, context_value=context)
    assert after.errors is None, after.errors
    assert after.data is not None
    joined = [w for w in after.data["me"]["workspaces"] if w["id"] == workspace_id]
    assert joined
    assert joined[0]["role"] == "ADMIN"
    assert len(joined[0]["members"]) == 2


class BrokenEvents:
    """An event bus whose every subscription fails, naming a secret in its message."""

    @asynccontextmanager
    async def subscribe(self, job_id: str) -> AsyncIterator[AsyncIterator[Any]]:
        raise RuntimeError("redis://:hunter2@cache refused the connection")
        yield  # pragma: no cover


async def test_unexpected_subscription_errors_are_masked_and_logged_with_context(
    caplog: pytest.LogCaptureFixture,
) -> None:
    api = cast(ApiState, SimpleNamespace(runtime=SimpleNamespace(events=BrokenEvents())))
    caller = Principal(Actor("user-7", token_id="token-3"), via_cookie=False, csrf_ok=True)
    context = Context(api=api, principal=caller)
    stream = await build_schema().subscribe(
        'subscription Follow { jobUpdates(jobId: "job-1") { id } }', context_value=context
    )
    assert isinstance(stream, AsyncGenerator), stream
    results = [result async for result in stream]
    assert len(results) == 1
    assert results[0].errors is not None
    error = results[0].errors[0].formatted
    assert error["extensions"] == {"code": "INTERNAL_SERVER_ERROR"}
    assert "hunter2" not in json.dumps(error)
    [record] = [r for r in caplog.records if r.name == "hushcut.api.graphql"]
    assert record.levelno == logging.ERROR
    assert record.exc_info is not None
    assert "hunter2" in str(record.exc_info[1])
    assert vars(record)["graphql_operation"] == "Follow"
    assert vars(record)["user_id"] == "user-7"
    assert vars(record)["token_id"] == "token-3"
