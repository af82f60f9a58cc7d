"""Rate limits cannot be dodged: one bucket per token however its header is spelt, one per
signed-in user across sessions, websocket operations counted, and X-Forwarded-For believed
only from the proxies named in TRUSTED_PROXIES."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import httpx
import pytest
from gql import Client, GraphQLRequest
from gql.transport.exceptions import TransportQueryError
from gql.transport.websockets import WebsocketsTransport

from hushcut.api.ratelimit import ClientAddresses
from hushcut.core.runtime import Runtime
from hushcut.core.settings import Settings
from tests.api.conftest import (
    Account,
    ApiServer,
    Fakes,
    error_codes,
    new_account,
    platform_settings,
    with_own_redis_database,
)
from tests.api.test_signin import sign_in

LIMIT = 6
#: Requests that exceed LIMIT a minute even when a minute boundary falls between them.
OVER_LIMIT = 2 * LIMIT + 2
PROXY = "127.0.0.2"  # a second loopback address: the test's "reverse proxy"
ME = {"query": "{ me { id } }"}


@pytest.fixture(scope="module")
def limited_server(
    tmp_path_factory: pytest.TempPathFactory,
    backend: str,
    request: pytest.FixtureRequest,
    fakes: Fakes,
) -> Iterator[ApiServer]:
    """`hushcut api` allowing LIMIT requests a minute, behind the trusted proxy PROXY."""
    settings = platform_settings(
        tmp_path_factory.mktemp("limited"),
        backend,
        request,
        fakes,
        rate_limit_per_minute=LIMIT,
        trusted_proxies=[PROXY],
    )
    started = ApiServer(with_own_redis_database(settings, 14), "api").start()
    yield started
    started.stop()


@pytest.fixture
async def account(limited_server: ApiServer) -> Account:
    runtime = await Runtime.start(limited_server.settings, upgrade=False)
    try:
        return await new_account(runtime)
    finally:
        await runtime.close()


def client_address() -> str:
    """A made-up client address (TEST-NET-3), different on every call."""
    return f"203.0.113.{uuid.uuid4().int % 250 + 1}, 198.51.100.{uuid.uuid4().int % 250 + 1}"


@pytest.fixture
async def via_proxy(limited_server: ApiServer) -> AsyncIterator[httpx.AsyncClient]:
    """Requests that reach the API from the trusted proxy's address."""
    transport = httpx.AsyncHTTPTransport(local_address=PROXY)
    async with httpx.AsyncClient(
        base_url=limited_server.url, transport=transport, timeout=30
    ) as http:
        yield http


async def statuses_of(send: Callable[[int], Awaitable[httpx.Response]]) -> list[int]:
    """OVER_LIMIT requests; each is either served or refused with RATE_LIMITED."""
    statuses = []
    for n in range(OVER_LIMIT):
        response = await send(n)
        statuses.append(response.status_code)
        if response.status_code == 429:
            assert error_codes(response.json()) == ["RATE_LIMITED"]
        else:
            assert response.status_code == 200, response.text
    return statuses


async def test_every_spelling_of_a_token_shares_its_bucket(
    via_proxy: httpx.AsyncClient, account: Account
) -> None:
    spellings = [
        f"Bearer {account.token}",
        f"bearer {account.token}",
        f"BEARER   {account.token}",
        f"bEaReR  {account.token}",
    ]

    async def send(n: int) -> httpx.Response:
        # From a new address each time: only the token's own bucket can fill up.
        headers = {"Authorization": spellings[n % 4], "X-Forwarded-For": client_address()}
        return await via_proxy.post("/graphql", json=ME, headers=headers)

    statuses = await statuses_of(send)
    assert 429 in statuses, statuses
    assert statuses[0] == 200
    await assert_only_the_principal_ran_out(via_proxy)


async def assert_only_the_principal_ran_out(via_proxy: httpx.AsyncClient) -> None:
    """An anonymous request from a new address is served: what ran out is not an address."""
    anonymous = await via_proxy.post(
        "/graphql", json={"query": "{ __typename }"}, headers={"X-Forwarded-For": client_address()}
    )
    assert anonymous.status_code == 200, anonymous.text


async def test_one_signed_in_user_is_one_bucket_across_sessions(
    limited_server: ApiServer, fakes: Fakes, via_proxy: httpx.AsyncClient
) -> None:
    fakes.oidc.next_identity = {
        "sub": uuid.uuid4().hex,
        "email": f"limited-{uuid.uuid4().hex[:8]}@example.com",
        "email_verified": True,
        "name": "Limited",
    }
    browsers = [
        httpx.AsyncClient(
            base_url=limited_server.url,
            transport=httpx.AsyncHTTPTransport(local_address=PROXY),
            headers={"X-Forwarded-For": client_address()},
            timeout=30,
        )
        for _ in range(2)
    ]
    try:
        for browser in browsers:  # two sessions (two devices) of the same person
            callback = await sign_in(browser)
            assert callback.status_code in (302, 303, 307), callback.text
        assert browsers[0].cookies["hushcut_session"] != browsers[1].cookies["hushcut_session"]

        async def send(n: int) -> httpx.Response:
            headers = {"X-Forwarded-For": client_address()}
            return await browsers[n % 2].post("/graphql", json=ME, headers=headers)

        statuses = await statuses_of(send)
    finally:
        for browser in browsers:
            await browser.aclose()
    assert 429 in statuses, statuses
    await assert_only_the_principal_ran_out(via_proxy)


async def test_forwarded_for_is_ignored_from_other_peers(limited_server: ApiServer) -> None:
    async with httpx.AsyncClient(base_url=limited_server.url, timeout=30) as direct:

        async def send(n: int) -> httpx.Response:
            # Not from the trusted proxy: a made-up address must not give a fresh bucket.
            headers = {"X-Forwarded-For": client_address()}
            return await direct.post("/graphql", json={"query": "{ __typename }"}, headers=headers)

        statuses = await statuses_of(send)
    assert 429 in statuses, statuses


async def test_the_trusted_proxy_names_the_client(via_proxy: httpx.AsyncClient) -> None:
    client = f"192.0.2.{uuid.uuid4().int % 250 + 1}"

    async def send(n: int) -> httpx.Response:
        # The client wrote whatever it liked on the left; the proxy appended its address.
        headers = {"X-Forwarded-For": f"{client_address()}, {client}"}
        return await via_proxy.post("/graphql", json={"query": "{ __typename }"}, headers=headers)

    statuses = await statuses_of(send)
    assert 429 in statuses, statuses
    another = await via_proxy.post(
        "/graphql", json={"query": "{ __typename }"}, headers={"X-Forwarded-For": "192.0.2.254"}
    )
    assert another.status_code == 200  # another client behind the same proxy is not limited


async def test_websocket_operations_are_counted(
    limited_server: ApiServer, account: Account, via_proxy: httpx.AsyncClient
) -> None:
    address = f"192.0.2.{uuid.uuid4().int % 250 + 1}"
    transport = WebsocketsTransport(
        url=limited_server.url.replace("http://", "ws://") + "/graphql",
        init_payload={"Authorization": f"Bearer {account.token}"},
        subprotocols=[WebsocketsTransport.GRAPHQLWS_SUBPROTOCOL],
        headers={"X-Forwarded-For": address},
        connect_args={"local_addr": (PROXY, 0)},
    )
    outcomes: list[Any] = []
    async with Client(transport=transport) as session:
        for _ in range(OVER_LIMIT):
            try:
                result = await session.execute(GraphQLRequest("{ me { id } }"))
            except TransportQueryError as refused:
                outcomes.append((refused.errors or [{}])[0].get("extensions", {}).get("code"))
            else:
                outcomes.append(result["me"]["id"])
    assert outcomes[0] == account.user_id
    assert "RATE_LIMITED" in outcomes, outcomes
    # They counted against the socket's client (named by the proxy), not the proxy itself.
    same_client = await via_proxy.post(
        "/graphql", json={"query": "{ __typename }"}, headers={"X-Forwarded-For": address}
    )
    assert same_client.status_code == 429
    await assert_only_the_principal_ran_out(via_proxy)


def test_client_addresses_read_forwarded_for_from_the_right() -> None:
    addresses = ClientAddresses(["10.0.0.0/8", "fd00::/8"])

    def client(peer: str, *forwarded: str) -> str:
        headers = [(b"x-forwarded-for", value.encode()) for value in forwarded]
        return addresses.client_of({"client": (peer, 1234), "headers": headers})  # type: ignore[typeddict-item]

    assert client("203.0.113.9", "1.2.3.4") == "203.0.113.9"  # not a proxy: ignored
    assert client("10.0.0.5") == "10.0.0.5"
    assert client("10.0.0.5", "1.2.3.4, 198.51.100.7") == "198.51.100.7"
    # Two proxies of ours in a row; repeated headers count as one list.
    assert client("10.0.0.5", "1.2.3.4, 198.51.100.7", "10.1.2.3") == "198.51.100.7"
    assert client("fd00::1", "2001:db8::5, fd00::2") == "2001:db8::5"
    assert client("10.0.0.5", "not-an-address") == "not-an-address"
    assert ClientAddresses().client_of({"client": ("10.0.0.5", 1), "headers": []}) == "10.0.0.5"  # type: ignore[typeddict-item]


def test_trusted_proxies_setting() -> None:
    settings = Settings(trusted_proxies=" 10.0.0.0/8 , 127.0.0.1,fd00::/8 ")  # type: ignore[arg-type]
    assert settings.trusted_proxies == ["10.0.0.0/8", "127.0.0.1", "fd00::/8"]
    assert Settings().trusted_proxies == []
    with pytest.raises(ValueError, match=r"proxy\.example\.com"):
        Settings(trusted_proxies="proxy.example.com")  # type: ignore[arg-type]
