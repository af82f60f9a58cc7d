"""GraphQL requests are bounded before they are parsed: a byte limit on every transport
(comments count), a limit on what a document selects, and a cache that keeps only
valid, small documents, so the server's memory stays flat however many large documents
it is sent."""

from __future__ import annotations

import asyncio
import json
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import AsyncIterator
from urllib.parse import urlencode

import httpx
import psutil
import pytest

from hushcut.api.graphql.view import query_string_over_limit
from hushcut.core.runtime import Runtime
from tests.api.conftest import ApiServer, error_codes, graphql, new_account
from tests.api.test_websockets import acknowledged, close_code, socket_to

LIMIT = 64 * 1024


def padded(query: str, size: int) -> str:
    """``query`` after a comment that makes the whole text ``size`` characters long."""
    comment = "# " + "x" * max(0, size - len(query) - 3) + "\n"
    return comment + query


async def test_requests_over_the_byte_limit_are_refused_before_parsing(
    server: ApiServer, client: httpx.AsyncClient
) -> None:
    assert server.settings.graphql_max_request_bytes == LIMIT
    fits = padded("{ __typename }", LIMIT - 100)
    assert (await graphql(client, fits))["data"] == {"__typename": "Query"}

    # A comment counts like any other byte.
    over = padded("{ __typename }", LIMIT + 10)
    response = await client.post("/graphql", json={"query": over})
    assert response.status_code == 413, response.text
    assert error_codes(response.json()) == ["BAD_USER_INPUT"]
    assert str(LIMIT) in response.json()["errors"][0]["message"]

    # Variables count too.
    variables = {"pad": "x" * LIMIT}
    response = await client.post(
        "/graphql", json={"query": "{ __typename }", "variables": variables}
    )
    assert response.status_code == 413

    # Without a Content-Length (chunked), the body is cut off as soon as it is too long.
    async def chunks() -> AsyncIterator[bytes]:
        body = json.dumps({"query": over}).encode()
        for start in range(0, len(body), 8192):
            yield body[start : start + 8192]

    response = await client.post(
        "/graphql", content=chunks(), headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 413

    # GET (GraphiQL and cacheable queries): the decoded query string. Past 64 KiB of
    # URL uvicorn itself refuses the request (400); below, the API's own check (413).
    fits_in_url = padded("{ __typename }", 20_000)
    assert (await client.get("/graphql", params={"query": fits_in_url})).status_code == 200
    status, body = await asyncio.to_thread(
        get, f"{server.url}/graphql?" + urlencode({"query": over})
    )
    assert status in (400, 413), body
    assert "unhandled error" not in server.output


async def test_a_websocket_message_over_the_byte_limit_closes_the_socket(
    server: ApiServer, runtime: Runtime
) -> None:
    account = await new_account(runtime)
    payload = {"Authorization": f"Bearer {account.token}"}
    async with socket_to(server, payload) as socket:
        await acknowledged(socket)
        small = {
            "id": "1",
            "type": "subscribe",
            "payload": {"query": padded("{ __typename }", 1000)},
        }
        await socket.send(json.dumps(small))
        assert json.loads(await socket.recv())["payload"]["data"] == {"__typename": "Query"}
        big = {
            "id": "2",
            "type": "subscribe",
            "payload": {"query": padded("{ __typename }", LIMIT)},
        }
        await socket.send(json.dumps(big))
        assert await close_code(socket) == 1009  # message too big


async def test_documents_selecting_too_much_are_refused(client: httpx.AsyncClient) -> None:
    many = "{ " + " ".join(f"a{n}: __typename" for n in range(25)) + " }"
    assert "errors" not in await graphql(client, many)
    repeated = "{ __schema { types { " + "name " * 400 + "} } }"
    result = await graphql(client, repeated)
    assert error_codes(result) == ["GRAPHQL_VALIDATION_FAILED"]
    assert "at most 200" in result["errors"][0]["message"]
    syntax = "{ __typename " + " " * 10_000 + "((("
    assert error_codes(await graphql(client, syntax)) == ["GRAPHQL_VALIDATION_FAILED"]


def get(url: str) -> tuple[int, bytes]:
    """A GET with urllib: httpx refuses URLs as long as these."""
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            return int(response.status), response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def rss(server: ApiServer) -> int:
    assert server.process is not None
    return int(psutil.Process(server.process.pid).memory_info().rss)


@pytest.mark.embedded  # the API process parses alike on every backend: once is enough
async def test_memory_stays_flat_under_many_distinct_large_documents(
    server: ApiServer, client: httpx.AsyncClient
) -> None:
    """1,000 distinct valid documents of 4 to 60 KiB (a client making every query unique,
    or an attacker): what the cache keeps of them is bounded, the rest is freed."""

    async def send(count: int) -> list[float]:
        queue: asyncio.Queue[int] = asyncio.Queue()
        for n in range(count):
            queue.put_nowait(n)
        health: list[float] = []

        async def sender() -> None:
            while not queue.empty():
                n = queue.get_nowait()
                size = 4096 * (1 + n % 15)
                query = padded(f"query Q{uuid.uuid4().hex} {{ __typename }}", size)
                result = await graphql(client, query)
                assert result["data"] == {"__typename": "Query"}, (n, result)

        async def monitor(done: asyncio.Event) -> None:
            async with httpx.AsyncClient(base_url=server.url, timeout=10) as probe:
                while not done.is_set():
                    started = time.monotonic()
                    assert (await probe.get("/api/health")).status_code == 200
                    health.append(time.monotonic() - started)
                    await asyncio.sleep(0.2)

        done = asyncio.Event()
        watching = asyncio.create_task(monitor(done))
        await asyncio.gather(*(sender() for _ in range(4)))
        done.set()
        await watching
        return health

    await send(100)  # warm up: allocator arenas, thread pool, connections
    before = rss(server)
    health = await send(1000)
    grown = rss(server) - before
    print(
        f"RSS {before / 2**20:.0f} MiB -> +{grown / 2**20:.1f} MiB after 1000 documents of "
        f"4-60 KiB; /api/health max {max(health) * 1000:.0f} ms over {len(health)}"
    )
    assert grown < 25 * 2**20, f"the server grew by {grown / 2**20:.0f} MiB"


def test_the_get_limit_counts_decoded_bytes() -> None:
    assert not query_string_over_limit(b"query=" + b"x" * 1000, 2048)
    assert query_string_over_limit(b"query=" + b"x" * 3000, 2048)
    # Percent-encoding makes a query string longer than what it says.
    encoded = urlencode({"query": "{ __typename }" + " \u00e9" * 500}).encode()
    assert len(encoded) > 2048
    assert not query_string_over_limit(encoded, 2048)
    assert query_string_over_limit(encoded + b"&variables=" + b"1" * 1000, 2048)
    assert query_string_over_limit(b"x" * 7000, 2048)


async def test_only_valid_small_documents_are_kept_parsed_within_a_budget() -> None:
    from hushcut.api.graphql.schema import build_schema

    schema = build_schema()
    cache = schema.documents
    assert cache is not None
    assert len(cache) == 0
    assert (await schema.execute("{ __typename }")).data == {"__typename": "Query"}
    assert len(cache) == 1
    assert (await schema.execute("{ nope }")).errors  # invalid: not kept
    assert (await schema.execute("{ __typename " + " " * 20_000 + "}")).errors is None
    assert len(cache) == 1  # valid, but too large to keep
    for n in range(400):  # 400 distinct valid documents of ~1 KiB
        assert not (await schema.execute(f"query Q{n} {{ __typename }}" + " " * 1000)).errors
    assert cache.chars <= cache.max_chars
    assert len(cache) < 400
