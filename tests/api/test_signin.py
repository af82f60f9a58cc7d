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
