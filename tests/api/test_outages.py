"""A Redis outage degrades the API instead of taking it down: requests keep being served,
rate limits fall back to per-process counting and recover, health says `degraded`; only
a lost database makes health answer 503."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import httpx
import pytest
import redis

from hushcut.api.app import log_unhandled
from hushcut.core.runtime import Runtime
from tests.api.conftest import ApiServer, Fakes, error_codes, new_account, platform_settings
from tests.conftest import Services
from tests.platform import drop_database, wait_until
from tests.servers import RedisServer

LIMIT = 8
ME = {"query": "{ me { id } }"}


@pytest.fixture(scope="module")
def own_redis() -> Iterator[RedisServer]:
    """A Redis of this module's own: the tests stop and restart it."""
    server = RedisServer().start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def redis_server(
    tmp_path_factory: pytest.TempPathFactory,
    request: pytest.FixtureRequest,
    fakes: Fakes,
    own_redis: RedisServer,
) -> Iterator[ApiServer]:
    """`hushcut api` on PostgreSQL, the bucket and ``own_redis``, LIMIT requests a minute."""
    settings = platform_settings(
        tmp_path_factory.mktemp("outage"),
        "services",
        request,
        fakes,
        redis_url=own_redis.url,
        rate_limit_per_minute=LIMIT,
    )
    started = ApiServer(settings, "api").start()
    yield started
    started.stop()


def rate_limit_keys(server: RedisServer) -> list[bytes]:
    client = redis.Redis.from_url(server.url)
    try:
        return list(client.scan_iter("hushcut:rl:*"))
    finally:
        client.close()


@pytest.mark.services
async def test_redis_outage_degrades_and_recovers(
    redis_server: ApiServer, own_redis: RedisServer, services: Services
) -> None:
    runtime = await Runtime.start(redis_server.settings, upgrade=False)
    try:
        account = await new_account(runtime)
    finally:
        await runtime.close()
    async with httpx.AsyncClient(base_url=redis_server.url, timeout=30) as http:
        health = await http.get("/api/health")
        assert (health.status_code, health.json()["status"]) == (200, "up")

        own_redis.kill()
        health = await http.get("/api/health")
        assert health.status_code == 200  # keep the instance in the load balancer
        assert health.json()["status"] == "degraded"
        assert health.json()["failing"] == ["queue"]

        # Reads keep working; the limits are now counted in the process: 2 * LIMIT + 2
        # requests exceed LIMIT a minute even if a minute boundary falls between.
        statuses = []
        for _ in range(2 * LIMIT + 2):
            response = await http.post("/graphql", json=ME, headers=account.headers)
            statuses.append(response.status_code)
            if response.status_code == 200:
                assert response.json()["data"]["me"]["id"] == account.user_id
            else:
                assert error_codes(response.json()) == ["RATE_LIMITED"]
        assert set(statuses) == {200, 429}, statuses
        assert statuses[0] == 200
        assert "unhandled error" not in redis_server.output
        assert "rate limits are counted per process" in redis_server.output

        own_redis.start()  # back, and empty

        async def recovered() -> bool:
            response = await http.get("/api/health")
            # Any request reaching the limiter again counts in Redis once it is back.
            await http.post("/graphql", json=ME)
            return response.json()["status"] == "up" and bool(rate_limit_keys(own_redis))

        await wait_until(recovered, timeout=20, message="recovered", interval=0.5)
        assert "rate limits are shared again" in redis_server.output

        # Without its database an instance can serve nothing: out of rotation.
        assert redis_server.settings.database_url is not None
        drop_database(services, redis_server.settings.database_url)
        health = await http.get("/api/health")
        assert health.status_code == 503
        assert (health.json()["status"], health.json()["failing"]) == ("down", ["database"])


async def test_log_unhandled_copes_with_exceptions_whose_status_is_not_a_number(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Redis errors carry status_code=None; the hook must log them, not crash on them.
    error = redis.exceptions.ConnectionError("Connection refused")
    assert error.status_code is None  # type: ignore[attr-defined]
    with caplog.at_level(logging.ERROR, logger="hushcut.api"):
        await log_unhandled(error, {"type": "http", "method": "POST", "path": "/graphql"})  # type: ignore[arg-type]
    assert "unhandled error in POST /graphql" in caplog.text
