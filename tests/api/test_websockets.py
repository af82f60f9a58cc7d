"""Websockets hold only while their credentials do: every operation a socket starts is
checked again, and running subscriptions end within seconds of a token being revoked, a
member removed or a session signed out. Malformed connection_init payloads are refused;
a cookie socket mutates only with the CSRF token; a refused socket is closed once."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from hushcut.core.runtime import Runtime
from hushcut.core.services import tokens, workspaces
from hushcut.core.services.auth import Actor
from tests.api.conftest import Account, ApiServer, graphql, new_account, new_job
from tests.api.test_flow import JOB_UPDATES
from tests.api.test_signin import sign_in

#: How long a revoked credential may go on serving a running subscription (docs/api.md).
ENDS_WITHIN_S = 5.0


def ws_url(server: ApiServer) -> str:
    return server.url.replace("http://", "ws://") + "/graphql"


@asynccontextmanager
async def socket_to(
    server: ApiServer, payload: dict[str, Any], headers: dict[str, str] | None = None
) -> AsyncIterator[ClientConnection]:
    """A graphql-transport-ws socket that sent connection_init with ``payload``."""
    async with connect(
        ws_url(server),
        subprotocols=["graphql-transport-ws"],  # type: ignore[list-item]
        additional_headers=headers or {},
    ) as socket:
        await socket.send(json.dumps({"type": "connection_init", "payload": payload}))
        yield socket


async def acknowledged(socket: ClientConnection) -> None:
    assert json.loads(await socket.recv())["type"] == "connection_ack"


async def subscribe(socket: ClientConnection, op: str, query: str, **variables: Any) -> None:
    message = {"id": op, "type": "subscribe", "payload": {"query": query, "variables": variables}}
    await socket.send(json.dumps(message))


async def receive(socket: ClientConnection, timeout: float = 15) -> dict[str, Any]:
    async with asyncio.timeout(timeout):
        message: dict[str, Any] = json.loads(await socket.recv())
    return message


async def close_code(socket: ClientConnection, timeout: float = 15) -> int | None:
    """The code the server closed the socket with (messages before it are skipped)."""
    async with asyncio.timeout(timeout):
        try:
            while True:
                await socket.recv()
        except ConnectionClosed as closed:
            return closed.rcvd.code if closed.rcvd is not None else None


def codes(message: dict[str, Any]) -> list[str]:
    """The error codes of a `next` or `error` message."""
    payload = message.get("payload")
    errors = payload if isinstance(payload, list) else (payload or {}).get("errors") or []
    return [error.get("extensions", {}).get("code") for error in errors]


@asynccontextmanager
async def browser_of(
    server: ApiServer, fakes: Any, email: str | None = None
) -> AsyncIterator[tuple[httpx.AsyncClient, str]]:
    """A browser signed in through the fake Google as a new person (or ``email``), and
    the Cookie header its sockets send."""
    fakes.oidc.next_identity = {
        "sub": uuid.uuid4().hex,
        "email": email or f"browser-{uuid.uuid4().hex[:8]}@example.com",
        "email_verified": True,
        "name": "Browser Person",
    }
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as browser:
        await sign_in(browser)
        yield browser, "; ".join(f"{name}={value}" for name, value in browser.cookies.items())


async def following(socket: ClientConnection, op: str, job_id: str) -> None:
    """Subscribe ``op`` to the job's updates and take its first state."""
    await subscribe(socket, op, JOB_UPDATES, id=job_id)
    first = await receive(socket)
    assert (first["id"], first["type"]) == (op, "next"), first
    assert first["payload"]["data"]["jobUpdates"]["status"] == "PENDING"


async def ended_with(socket: ClientConnection, op: str) -> tuple[list[str], float]:
    """The error codes the running subscription ``op`` ended with, and how long it took."""
    started = time.monotonic()
    message = await receive(socket, ENDS_WITHIN_S + 1)
    assert message["id"] == op, message
    took = time.monotonic() - started
    if message["type"] == "next":  # then completed
        assert await receive(socket) == {"id": op, "type": "complete"}
    return codes(message), took


async def test_revoking_a_token_ends_its_sockets_subscriptions_and_refuses_new_ones(
    server: ApiServer, runtime: Runtime, client: httpx.AsyncClient
) -> None:
    account = await new_account(runtime)
    other = await _second_token(runtime, account)
    job_id = await new_job(client, account)
    async with socket_to(server, {"Authorization": f"Bearer {account.token}"}) as socket:
        await acknowledged(socket)
        await following(socket, "1", job_id)
        revoked = await graphql(
            client,
            "mutation($id: ID!) { revokeApiToken(id: $id) { revokedAt } }",
            {"id": account.token_id},
            {"Authorization": f"Bearer {other}"},
        )
        assert revoked["data"]["revokeApiToken"]["revokedAt"]
        ended, took = await ended_with(socket, "1")
        assert ended == ["UNAUTHENTICATED"]
        assert took < ENDS_WITHIN_S
        # A job created after the revocation: the socket may not start anything more.
        later = await new_job(client, Account(**{**vars(account), "token": other}))
        await subscribe(socket, "2", JOB_UPDATES, id=later)
        refusal = await receive(socket)
        assert (refusal["id"], refusal["type"], codes(refusal)) == (
            "2",
            "error",
            ["UNAUTHENTICATED"],
        )
        assert await close_code(socket) == 4403
    assert "unhandled error" not in server.output


async def test_removing_a_member_ends_their_subscriptions(
    server: ApiServer, runtime: Runtime, client: httpx.AsyncClient
) -> None:
    owner = await new_account(runtime)
    member = await new_account(runtime)
    async with runtime.session() as session:
        await workspaces.add_member(session, Actor(owner.user_id), owner.workspace_id, member.email)
        _row, member_token = await tokens.create_api_token(
            session, Actor(member.user_id), owner.workspace_id, "member"
        )
    job_id = await new_job(client, owner)
    async with socket_to(server, {"Authorization": member_token}) as socket:
        await acknowledged(socket)
        await following(socket, "1", job_id)
        async with runtime.session() as session:
            await workspaces.remove_member(
                session, Actor(owner.user_id), owner.workspace_id, member.user_id
            )
        ended, took = await ended_with(socket, "1")
        # The token belonged to the workspace it no longer reaches: it is dead.
        assert ended == ["UNAUTHENTICATED"]
        assert took < ENDS_WITHIN_S


async def test_signing_out_or_losing_the_workspace_ends_a_browsers_subscriptions(
    server: ApiServer, runtime: Runtime, client: httpx.AsyncClient, fakes: Any
) -> None:
    owner = await new_account(runtime)
    email = f"browser-{uuid.uuid4().hex[:8]}@example.com"
    async with browser_of(server, fakes, email) as (browser, cookie):
        async with runtime.session() as session:
            await workspaces.add_member(session, Actor(owner.user_id), owner.workspace_id, email)
        me = await graphql(browser, "{ me { id } }")
        user_id = me["data"]["me"]["id"]
        headers = {"Cookie": cookie, "Origin": server.url}
        first, second = await new_job(client, owner), await new_job(client, owner)

        # Removed from the workspace (the session itself lives on): NOT_FOUND.
        async with socket_to(server, {}, headers) as socket:
            await acknowledged(socket)
            await following(socket, "1", first)
            async with runtime.session() as session:
                await workspaces.remove_member(
                    session, Actor(owner.user_id), owner.workspace_id, user_id
                )
            ended, took = await ended_with(socket, "1")
            assert ended == ["NOT_FOUND"]
            assert took < ENDS_WITHIN_S

        async with runtime.session() as session:
            await workspaces.add_member(session, Actor(owner.user_id), owner.workspace_id, email)
        # Signed out (on another tab): UNAUTHENTICATED.
        async with socket_to(server, {}, headers) as socket:
            await acknowledged(socket)
            await following(socket, "1", second)
            assert (await browser.post("/auth/logout")).status_code == 200
            ended, took = await ended_with(socket, "1")
            assert ended == ["UNAUTHENTICATED"]
            assert took < ENDS_WITHIN_S


async def _second_token(runtime: Runtime, account: Account) -> str:
    async with runtime.session() as session:
        _row, plaintext = await tokens.create_api_token(
            session, Actor(account.user_id), account.workspace_id, "second"
        )
    return plaintext


# --- connection_init ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "payload",
    [
        {"Authorization": True},
        {"Authorization": 1},
        {"Authorization": ["Bearer x"]},
        {"Authorization": {"token": "x"}},
        {"Authorization": "Bearer a", "authorization": "Bearer b"},
        {"X-CSRF-Token": 5},
    ],
    ids=["true", "number", "list", "object", "twice", "csrf-number"],
)
async def test_malformed_connection_init_payloads_are_refused(
    server: ApiServer, fakes: Any, payload: dict[str, Any]
) -> None:
    # A signed-in browser's cookie: a non-string Authorization used to skip Hushcut's
    # origin check and authenticate by the cookie.
    async with browser_of(server, fakes) as (_, cookie):
        pass
    for headers in ({"Cookie": cookie, "Origin": server.url}, {"Cookie": cookie}):
        async with socket_to(server, payload, headers) as socket:
            assert await close_code(socket) == 4400


async def test_a_cookie_socket_mutates_only_with_the_csrf_token(
    server: ApiServer, fakes: Any
) -> None:
    create = 'mutation { createWorkspace(name: "From a socket") { name } }'
    async with browser_of(server, fakes) as (browser, cookie):
        csrf = browser.cookies["hushcut_csrf"]
        headers = {"Cookie": cookie, "Origin": server.url}
        for payload, expected in (
            ({}, ["FORBIDDEN"]),
            ({"X-CSRF-Token": "guessed"}, ["FORBIDDEN"]),
            ({"X-CSRF-Token": csrf}, []),
        ):
            async with socket_to(server, payload, headers) as socket:
                await acknowledged(socket)
                await subscribe(socket, "q", "{ me { email } }")
                read = await receive(socket)
                assert read["payload"]["data"]["me"]["email"], read  # reads need no token
                await receive(socket)  # complete
                await subscribe(socket, "m", create)
                answer = await receive(socket)
                assert codes(answer) == expected, (payload, answer)
        names = await graphql(browser, "{ me { workspaces { name } } }")
    made = [w["name"] for w in names["data"]["me"]["workspaces"] if w["name"] == "From a socket"]
    assert made == ["From a socket"]


async def test_a_refused_socket_is_closed_once_whatever_the_client_sends_next(
    server: ApiServer,
) -> None:
    before = server.output.count("unhandled error") + server.output.count("Unexpected ASGI")
    for _ in range(3):
        async with connect(ws_url(server), subprotocols=["graphql-transport-ws"]) as socket:  # type: ignore[list-item]
            init = {"type": "connection_init", "payload": {"Authorization": "hc_forged"}}
            await socket.send(json.dumps(init))
            await socket.send(b"\x00binary after the refusal")
            assert await close_code(socket) == 4403

    # A second close is logged while the socket closes; a request after it is served
    # once the server has handled everything those sockets sent.
    async with httpx.AsyncClient(base_url=server.url) as http:
        assert (await http.get("/api/health")).status_code == 200
    after = server.output.count("unhandled error") + server.output.count("Unexpected ASGI")
    assert after == before, server.output[-3000:]
