"""A Redis outage degrades the API instead of taking it down: requests keep being served,
rate limits fall back to per-process counting and recover, health says `degraded`; only
a lost database makes health answer 503."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import redis
import redis.asyncio as aioredis

from hushcut.api.app import log_unhandled
from hushcut.core.events import CHANNEL_PREFIX
from hushcut.core.runtime import Runtime
from hushcut.pipeline.testing import SampleMedia
from tests.api.conftest import (
    ApiServer,
    Fakes,
    error_codes,
    graphql,
    new_account,
    new_job,
    platform_settings,
    subscribe_all,
)
from tests.api.test_flow import CONFIRM, JOB_UPDATES, upload
from tests.api.test_subscriptions import CANCEL
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


@pytest.fixture(scope="module")
def live_server(
    tmp_path_factory: pytest.TempPathFactory,
    request: pytest.FixtureRequest,
    fakes: Fakes,
    own_redis: RedisServer,
) -> Iterator[ApiServer]:
    """`hushcut api` on ``own_redis`` (a database of its own), with generous limits."""
    settings = platform_settings(
        tmp_path_factory.mktemp("live"),
        "services",
        request,
        fakes,
        redis_url=own_redis.url.rsplit("/", 1)[0] + "/1",
    )
    started = ApiServer(settings, "api").start()
    yield started
    started.stop()


async def numsub(server: RedisServer, database: int, job_id: str) -> int:
    client = aioredis.Redis.from_url(server.url.rsplit("/", 1)[0] + f"/{database}")
    try:
        counts = await client.pubsub_numsub(CHANNEL_PREFIX + job_id)
    except (redis.exceptions.RedisError, OSError):
        return -1
    finally:
        await client.aclose()
    return int(counts[0][1])


@pytest.mark.services
async def test_subscribers_see_the_final_state_through_a_redis_outage(
    live_server: ApiServer, own_redis: RedisServer, sample_media: SampleMedia
) -> None:
    runtime = await Runtime.start(live_server.settings, upgrade=False)
    try:
        account = await new_account(runtime)
    finally:
        await runtime.close()
    async with httpx.AsyncClient(base_url=live_server.url, timeout=30) as http:
        first, second = await new_job(http, account), await new_job(http, account)
        ticket = await upload(
            http, account.headers, account.workspace_id, sample_media("short.mp4")
        )

        def follow(job_id: str) -> asyncio.Task[list[dict[str, Any]]]:
            return asyncio.create_task(
                subscribe_all(live_server, account.token, JOB_UPDATES, {"id": job_id})
            )

        following = {job_id: follow(job_id) for job_id in (first, second)}

        async def listening(job_id: str) -> bool:
            return await numsub(own_redis, 1, job_id) == 1

        for job_id in following:
            await wait_until(
                lambda job_id=job_id: listening(job_id), timeout=15, message="subscribed"
            )

        own_redis.kill()
        # Changes made while Redis is away reach no one through it: the subscriber
        # learns them from the database.
        canceled = await graphql(http, CANCEL, {"id": first}, account.headers)
        assert canceled["data"]["cancelJob"]["status"] == "CANCELED", canceled
        ended = await asyncio.wait_for(following[first], 15)
        assert ended[-1]["jobUpdates"]["status"] == "CANCELED"
        # A confirmation needs no queue: the job waits QUEUED in the database for a
        # worker's reconciler (none runs here), and nothing is answered with a 5xx.
        confirmed = await http.post(
            "/graphql",
            json={"query": CONFIRM, "variables": {"id": ticket["job"]["id"]}},
            headers=account.headers,
        )
        assert confirmed.status_code == 200
        assert confirmed.json()["data"]["confirmUpload"]["status"] == "QUEUED", confirmed.text

        own_redis.start()  # back, and empty
        # The other subscription listens again on the new Redis, and events flow again.
        await wait_until(lambda: listening(second), timeout=20, message="listening again")
        canceled = await graphql(http, CANCEL, {"id": second}, account.headers)
        assert canceled["data"]["cancelJob"]["status"] == "CANCELED"
        ended = await asyncio.wait_for(following[second], 15)
        assert [e["jobUpdates"]["status"] for e in ended] == ["PENDING", "CANCELED"]
    assert "unhandled error" not in live_server.output
    assert "unexpected error" not in live_server.output


async def test_log_unhandled_copes_with_exceptions_whose_status_is_not_a_number(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Redis errors carry status_code=None; the hook must log them, not crash on them.
    error = redis.exceptions.ConnectionError("Connection refused")
    assert error.status_code is None  # type: ignore[attr-defined]
    with caplog.at_level(logging.ERROR, logger="hushcut.api"):
        await log_unhandled(error, {"type": "http", "method": "POST", "path": "/graphql"})  # type: ignore[arg-type]
    assert "unhandled error in POST /graphql" in caplog.text
