"""Google sign-in against a local OIDC provider: PKCE, verified id_tokens, session cookies
and CSRF protection for cookie-authenticated mutations and websockets."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from gql import Client, GraphQLRequest
from gql.transport.websockets import WebsocketsTransport

from tests.api.conftest import ApiServer, Fakes, error_codes, graphql, ws_close_code

ME = "{ me { email name workspaces { name credits role } } }"
CREATE = 'mutation { createWorkspace(name: "Second") { id name credits } }'


@pytest.fixture
def oidc(fakes: Fakes) -> Iterator[Any]:
    fakes.oidc.next_identity = {
        "sub": uuid.uuid4().hex,
        "email": f"Creator-{uuid.uuid4().hex[:8]}@Example.com",
        "email_verified": True,
        "name": "Creator Person",
    }
    yield fakes.oidc
    fakes.oidc.tamper = {}
    fakes.oidc.bare_issuer = False


@pytest.fixture
async def browser(server: ApiServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
        yield http


async def sign_in(browser: httpx.AsyncClient) -> httpx.Response:
    """Walk the redirects like a browser would; returns the callback's response."""
    login = await browser.get("/auth/google/login", params={"next": "/after"})
    assert login.status_code in (302, 303, 307), login.text
    authorize = await browser.get(login.headers["location"])
    assert authorize.status_code == 302, authorize.text
    return await browser.get(authorize.headers["location"])


async def test_first_sign_in_creates_user_and_workspace(
    browser: httpx.AsyncClient, oidc: Any
) -> None:
    callback = await sign_in(browser)
    assert callback.status_code in (302, 303, 307), callback.text
    assert callback.headers["location"] == "/after"
    cookie_header = ";".join(callback.headers.get_list("set-cookie")).lower()
    assert "hushcut_session=" in cookie_header
    assert "httponly" in cookie_header
    assert "samesite=lax" in cookie_header
    me = await graphql(browser, ME)
    user = me["data"]["me"]
    assert user["email"] == oidc.next_identity["email"].lower()
    assert user["workspaces"] == [
        {"name": "Creator Person's workspace", "credits": 3, "role": "OWNER"}
    ]
    # Signing in again reuses the user and workspace.
    await sign_in(browser)
    again = await graphql(browser, ME)
    assert len(again["data"]["me"]["workspaces"]) == 1


async def test_cookie_mutations_need_the_csrf_token(browser: httpx.AsyncClient, oidc: Any) -> None:
    await sign_in(browser)
    refused = await graphql(browser, CREATE)
    assert error_codes(refused) == ["FORBIDDEN"]
    wrong = await graphql(browser, CREATE, headers={"X-CSRF-Token": "guess"})
    assert error_codes(wrong) == ["FORBIDDEN"]
    me = await graphql(browser, ME)
    assert len(me["data"]["me"]["workspaces"]) == 1
    csrf = browser.cookies["hushcut_csrf"]
    created = await graphql(browser, CREATE, headers={"X-CSRF-Token": csrf})
    assert created["data"]["createWorkspace"]["name"] == "Second", created


@pytest.mark.parametrize(
    "tamper",
    [
        {"aud": "someone-elses-client"},
        {"iss": "https://evil.example.com"},
        {"nonce": "replayed-nonce"},
        {"exp": int(time.time()) - 3600, "iat": int(time.time()) - 7200},
        {"email_verified": False},
    ],
    ids=["audience", "issuer", "nonce", "expired", "unverified-email"],
)
async def test_invalid_id_tokens_are_refused(
    browser: httpx.AsyncClient, oidc: Any, tamper: dict[str, Any]
) -> None:
    oidc.tamper = tamper
    callback = await sign_in(browser)
    assert callback.status_code == 400, callback.text
    assert "hushcut_session" not in browser.cookies
    assert error_codes(await graphql(browser, ME)) == ["UNAUTHENTICATED"]


async def test_issuer_without_scheme_is_accepted(browser: httpx.AsyncClient, oidc: Any) -> None:
    oidc.bare_issuer = True  # Google writes iss as "accounts.google.com" too
    callback = await sign_in(browser)
    assert callback.status_code in (302, 303, 307), callback.text
    assert (await graphql(browser, ME))["data"]["me"]["email"]


async def test_callback_with_another_browsers_state_is_refused(
    browser: httpx.AsyncClient, server: ApiServer, oidc: Any
) -> None:
    login = await browser.get("/auth/google/login")
    async with httpx.AsyncClient() as provider:
        authorize = await provider.get(login.headers["location"])
    target = authorize.headers["location"].replace("state=", "state=x")
    assert (await browser.get(target)).status_code == 400
    async with httpx.AsyncClient() as stranger:  # no oauth cookie at all
        assert (await stranger.get(authorize.headers["location"])).status_code == 400


async def test_websocket_cookie_auth_refuses_other_origins(
    browser: httpx.AsyncClient, server: ApiServer, oidc: Any
) -> None:
    await sign_in(browser)
    cookie = "; ".join(f"{name}={value}" for name, value in browser.cookies.items())
    url = server.url.replace("http://", "ws://") + "/graphql"

    def transport(origin: str) -> WebsocketsTransport:
        return WebsocketsTransport(
            url=url,
            headers={"Cookie": cookie, "Origin": origin},
            subprotocols=[WebsocketsTransport.GRAPHQLWS_SUBPROTOCOL],
        )

    async with Client(transport=transport(server.url)) as session:
        result = await session.execute(GraphQLRequest("{ me { email } }"))
    assert result["me"]["email"] == oidc.next_identity["email"].lower()
    with pytest.raises(Exception) as refused:
        async with Client(transport=transport("https://evil.example.com")) as session:
            await session.execute(GraphQLRequest("{ me { email } }"))
    assert ws_close_code(refused.value) in (403, 4403)  # refused at handshake or init


async def me_email(browser: httpx.AsyncClient) -> str | None:
    data = (await graphql(browser, "{ me { email } }")).get("data") or {}
    return (data.get("me") or {}).get("email")


@pytest.mark.parametrize(
    "claim", [{}, {"email_verified": "false"}, {"email_verified": "true"}, {"email_verified": 1}]
)
async def test_a_new_identity_is_linked_by_email_only_when_verified_is_true(
    server: ApiServer, oidc: Any, claim: dict[str, Any]
) -> None:
    owner = dict(oidc.next_identity)
    async with httpx.AsyncClient(base_url=server.url) as victim:
        await sign_in(victim)
        victim_id = (await graphql(victim, "{ me { id } }"))["data"]["me"]["id"]
    # Another account at the provider (another sub) claiming the same address, unverified.
    attacker = {key: value for key, value in owner.items() if key != "email_verified"}
    oidc.next_identity = {**attacker, "sub": uuid.uuid4().hex, **claim}
    async with httpx.AsyncClient(base_url=server.url) as intruder:
        callback = await sign_in(intruder)
        assert callback.status_code == 400, callback.text
        assert "verified" in callback.json()["error"]
        assert "hushcut_session" not in intruder.cookies
        assert error_codes(await graphql(intruder, "{ me { id } }")) == ["UNAUTHENTICATED"]
    # Verified by the provider, the same address is the same person: linked.
    oidc.next_identity = {**attacker, "sub": uuid.uuid4().hex, "email_verified": True}
    async with httpx.AsyncClient(base_url=server.url) as second_device:
        await sign_in(second_device)
        assert (await graphql(second_device, "{ me { id } }"))["data"]["me"]["id"] == victim_id


async def test_a_known_identity_signs_in_its_user_whatever_its_email_becomes(
    browser: httpx.AsyncClient, server: ApiServer, oidc: Any
) -> None:
    await sign_in(browser)
    first = (await graphql(browser, "{ me { id email } }"))["data"]["me"]
    # The person changed their address at the provider (not yet verified there).
    oidc.next_identity = {
        **oidc.next_identity,
        "email": f"renamed-{uuid.uuid4().hex[:6]}@example.com",
        "email_verified": False,
    }
    async with httpx.AsyncClient(base_url=server.url) as later:
        callback = await sign_in(later)
        assert callback.status_code in (302, 303, 307), callback.text
        assert (await graphql(later, "{ me { id email } }"))["data"]["me"] == first


async def test_sign_out_ends_the_session_on_the_server(
    browser: httpx.AsyncClient, server: ApiServer, oidc: Any
) -> None:
    await sign_in(browser)
    stolen = browser.cookies["hushcut_session"]  # a copy, as a thief or a backup would keep
    response = await browser.post("/auth/logout")
    assert response.status_code == 200
    assert "hushcut_session" not in browser.cookies
    async with httpx.AsyncClient(
        base_url=server.url, cookies={"hushcut_session": stolen}
    ) as replay:
        assert error_codes(await graphql(replay, "{ me { id } }")) == ["UNAUTHENTICATED"]
        url = server.url.replace("http://", "ws://") + "/graphql"
        transport = WebsocketsTransport(
            url=url,
            headers={"Cookie": f"hushcut_session={stolen}", "Origin": server.url},
            subprotocols=[WebsocketsTransport.GRAPHQLWS_SUBPROTOCOL],
        )
        with pytest.raises(Exception) as refused:
            async with Client(transport=transport) as session:
                await session.execute(GraphQLRequest("{ me { id } }"))
        assert ws_close_code(refused.value) == 4403
    assert (await browser.post("/auth/logout")).status_code == 200  # twice is harmless


async def test_sign_out_everywhere_ends_every_session_of_the_user(
    server: ApiServer, oidc: Any
) -> None:
    laptop = httpx.AsyncClient(base_url=server.url)
    phone = httpx.AsyncClient(base_url=server.url)
    bystander = httpx.AsyncClient(base_url=server.url)
    try:
        await sign_in(laptop)
        await sign_in(phone)
        someone = dict(oidc.next_identity)
        oidc.next_identity = {**someone, "sub": uuid.uuid4().hex, "email": "other@example.com"}
        await sign_in(bystander)
        assert await me_email(phone) == someone["email"].lower()

        no_csrf = await laptop.post("/auth/logout-everywhere")
        assert no_csrf.status_code == 403
        assert await me_email(phone) == someone["email"].lower()
        done = await laptop.post(
            "/auth/logout-everywhere", headers={"X-CSRF-Token": laptop.cookies["hushcut_csrf"]}
        )
        assert done.status_code == 200, done.text
        assert done.json() == {"status": "signed out everywhere", "sessions": 2}
        assert error_codes(await graphql(phone, "{ me { id } }")) == ["UNAUTHENTICATED"]
        assert error_codes(await graphql(laptop, "{ me { id } }")) == ["UNAUTHENTICATED"]
        assert await me_email(bystander) == "other@example.com"  # other people stay in
        again = await laptop.post("/auth/logout-everywhere")
        assert again.status_code == 401
    finally:
        for client in (laptop, phone, bystander):
            await client.aclose()
