"""Signing a browser in with an API token (POST /auth/token): a session cookie that
reaches only the token's workspace and ends with the token."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from hushcut.core.runtime import Runtime
from tests.api.conftest import ApiServer, error_codes, graphql, new_account

ME = "{ me { email workspaces { id } } }"
REVOKE = "mutation($id: ID!) { revokeApiToken(id: $id) { id revokedAt } }"


@pytest.fixture
async def browser(server: ApiServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
        yield http


async def test_a_token_becomes_a_session_of_its_workspace(
    browser: httpx.AsyncClient, runtime: Runtime
) -> None:
    account = await new_account(runtime)
    other = await new_account(runtime)
    signed_in = await browser.post("/auth/token", json={"token": account.token})
    assert signed_in.status_code == 200, signed_in.text
    cookies = ";".join(signed_in.headers.get_list("set-cookie")).lower()
    assert "hushcut_session=" in cookies
    assert "httponly" in cookies
    assert account.token not in signed_in.text + cookies  # the token itself is not echoed
    me = await graphql(browser, ME)
    assert me["data"]["me"] == {
        "email": account.email,
        "workspaces": [{"id": account.workspace_id}],
    }
    # Like the token: another workspace is out of reach, and mutations need the CSRF token.
    hidden = await graphql(
        browser, "query($id: ID!) { workspace(id: $id) { id } }", {"id": other.workspace_id}
    )
    assert error_codes(hidden) == ["NOT_FOUND"]
    create = 'mutation($ws: ID!) { createApiToken(workspaceId: $ws, name: "x") { token } }'
    refused = await graphql(browser, create, {"ws": account.workspace_id})
    assert error_codes(refused) == ["FORBIDDEN"]
    csrf = {"X-CSRF-Token": browser.cookies["hushcut_csrf"]}
    made = await graphql(browser, create, {"ws": account.workspace_id}, headers=csrf)
    assert made["data"]["createApiToken"]["token"].startswith("hc_")


async def test_revoking_the_token_ends_the_session(
    browser: httpx.AsyncClient, client: httpx.AsyncClient, runtime: Runtime
) -> None:
    account = await new_account(runtime)
    assert (await browser.post("/auth/token", json={"token": account.token})).status_code == 200
    assert "errors" not in await graphql(browser, ME)
    revoked = await graphql(client, REVOKE, {"id": account.token_id}, headers=account.headers)
    assert revoked["data"]["revokeApiToken"]["revokedAt"]
    assert error_codes(await graphql(browser, ME)) == ["UNAUTHENTICATED"]
    again = await browser.post("/auth/token", json={"token": account.token})
    assert again.status_code == 401
    assert "revoked" in again.json()["error"]


async def test_a_token_session_signs_out_on_the_server_and_cannot_manage_the_account(
    browser: httpx.AsyncClient, server: ApiServer, runtime: Runtime
) -> None:
    account = await new_account(runtime)
    assert (await browser.post("/auth/token", json={"token": account.token})).status_code == 200
    csrf = {"X-CSRF-Token": browser.cookies["hushcut_csrf"]}
    # Reaching one workspace, like the token, it may not delete the person's account.
    refused = await graphql(
        browser,
        "mutation($email: String!) { deleteAccount(confirmEmail: $email) }",
        {"email": account.email},
        headers=csrf,
    )
    assert error_codes(refused) == ["FORBIDDEN"]
    assert "errors" not in await graphql(browser, ME)
    copy = browser.cookies["hushcut_session"]
    assert (await browser.post("/auth/logout")).status_code == 200
    async with httpx.AsyncClient(base_url=server.url, cookies={"hushcut_session": copy}) as replay:
        assert error_codes(await graphql(replay, ME)) == ["UNAUTHENTICATED"]
    # The token itself still works: signing a browser out is not revoking the token.
    assert (await browser.post("/auth/token", json={"token": account.token})).status_code == 200


@pytest.mark.parametrize(
    ("body", "headers", "status"),
    [
        ({"token": "hc_not-a-real-token"}, {}, 401),
        ({"token": ""}, {}, 400),
        ({"tok": "x"}, {}, 400),
        ({"token": "TOKEN"}, {"Origin": "https://evil.example"}, 403),
    ],
)
async def test_bad_sign_in_attempts_are_refused(
    browser: httpx.AsyncClient,
    runtime: Runtime,
    body: dict[str, str],
    headers: dict[str, str],
    status: int,
) -> None:
    account = await new_account(runtime)
    if body.get("token") == "TOKEN":
        body = {"token": account.token}
    answer = await browser.post("/auth/token", json=body, headers=headers)
    assert answer.status_code == status, answer.text
    assert answer.json()["error"]
    assert "hushcut_session" not in browser.cookies


async def test_a_body_that_is_not_json_is_refused(browser: httpx.AsyncClient) -> None:
    headers = {"Content-Type": "application/json"}
    answer = await browser.post("/auth/token", content=b"{not json", headers=headers)
    assert answer.status_code == 400
    huge = await browser.post("/auth/token", content=b" " * 10_000 + b"{}", headers=headers)
    assert huge.status_code == 413


async def test_a_form_post_cannot_sign_in(browser: httpx.AsyncClient, runtime: Runtime) -> None:
    # A cross-site form can send urlencoded bodies without a preflight; JSON only.
    account = await new_account(runtime)
    answer = await browser.post("/auth/token", data={"token": account.token})
    assert answer.status_code == 415
    assert "hushcut_session" not in browser.cookies


async def test_sign_in_methods(browser: httpx.AsyncClient) -> None:
    # The test server has Google configured (a local OIDC fake).
    answer = await browser.get("/auth/methods")
    assert answer.json() == {"google": True, "token": True}
