"""jobUpdates: however a subscription ends (the client leaves, politely or not; the job
finishes; it is refused), its teardown frees the event-bus subscription and the server's
count; and with Redis a subscriber on one API instance sees every event of a job driven
through another."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets
from gql import Client, GraphQLRequest
from gql.transport.exceptions import TransportQueryError
from redis.asyncio import Redis
from websockets.typing import Subprotocol

from hushcut.core.events import CHANNEL_PREFIX
from hushcut.core.runtime import Runtime
from hushcut.core.services import jobs as job_service
from hushcut.core.services.auth import Actor
from hushcut.pipeline.testing import SampleMedia
from tests.api.conftest import (
    ApiServer,
    Fakes,
    graphql,
    new_account,
    new_job,
    subscribe_all,
    ws_transport,
)
from tests.api.test_flow import CONFIRM, JOB_UPDATES, upload
from tests.platform import wait_until
from tests.servers import free_port

CANCEL = "mutation($id: ID!) { cancelJob(jobId: $id) { status } }"


async def live_subscriptions(server: ApiServer) -> int:
    """jobUpdates subscriptions the server counts as open (/metrics)."""
    async with httpx.AsyncClient() as http:
        text = (await http.get(f"{server.url}/metrics")).text
    for line in text.splitlines():
        if line.startswith("hushcut_job_event_subscribers "):
            return int(float(line.split()[1]))
    raise AssertionError("hushcut_job_event_subscribers missing from /metrics")


async def subscribers(server: ApiServer, job_id: str) -> int:
    """Subscriptions to the job's events: Redis' own count, or the in-process bus's."""
    if server.settings.redis_url:
        redis = Redis.from_url(server.settings.redis_url)
        try:
            counts = await redis.pubsub_numsub(CHANNEL_PREFIX + job_id)
        finally:
            await redis.aclose()
        return int(counts[0][1])
    return await live_subscriptions(server)


async def test_disconnecting_clients_leave_no_subscriber_behind(
    server: ApiServer, runtime: Runtime, client: httpx.AsyncClient
) -> None:
    account = await new_account(runtime)
    job_id = await new_job(client, account, "idle.mp4")
    assert await subscribers(server, job_id) == 0

    async def none_left() -> bool:
        # The event bus's subscription and the server's own count, both freed.
        return await subscribers(server, job_id) == 0 and await live_subscriptions(server) == 0

    # A polite client: completes the operation and closes the socket.
    async with Client(transport=ws_transport(server, account.token)) as session:
        request = GraphQLRequest(JOB_UPDATES, variable_values={"id": job_id})
        async for result in session.subscribe(request):
            assert result["jobUpdates"]["status"] == "PENDING"
            assert await subscribers(server, job_id) == 1
            assert await live_subscriptions(server) == 1
            break
    await wait_until(none_left, timeout=10, message="none_left")

    # A client whose connection just drops: no complete message, no close handshake.
    url = server.url.replace("http://", "ws://") + "/graphql"
    for _ in range(3):
        socket = await websockets.connect(url, subprotocols=[Subprotocol("graphql-transport-ws")])
        await socket.send(
            json.dumps(
                {"type": "connection_init", "payload": {"Authorization": f"Bearer {account.token}"}}
            )
        )
        assert json.loads(await socket.recv())["type"] == "connection_ack"
        await socket.send(
            json.dumps(
                {
                    "id": "1",
                    "type": "subscribe",
                    "payload": {"query": JOB_UPDATES, "variables": {"id": job_id}},
                }
            )
        )
        assert json.loads(await socket.recv())["type"] == "next"
        socket.transport.abort()
    await wait_until(none_left, timeout=15, message="none_left")

    # A subscription the server ends (the job reached a final state) frees everything too.
    job_id = await new_job(client, account, "idle.mp4")
    following = asyncio.create_task(
        subscribe_all(server, account.token, JOB_UPDATES, {"id": job_id})
    )

    async def one_live() -> bool:
        return await subscribers(server, job_id) == 1

    await wait_until(one_live, timeout=15, message="one_live")
    canceled = await graphql(client, CANCEL, {"id": job_id}, account.headers)
    assert canceled["data"]["cancelJob"]["status"] == "CANCELED"
    ended = await asyncio.wait_for(following, 15)
    assert [result["jobUpdates"]["status"] for result in ended] == ["PENDING", "CANCELED"]
    await wait_until(none_left, timeout=10, message="none_left")

    # So does one refused after subscribing to the bus (another workspace's job).
    stranger = await new_account(runtime)
    job_id = await new_job(client, account, "idle.mp4")
    with pytest.raises(TransportQueryError) as refused:
        await subscribe_all(server, stranger.token, JOB_UPDATES, {"id": job_id})
    assert refused.value.errors is not None
    assert refused.value.errors[0]["extensions"]["code"] == "NOT_FOUND"
    await wait_until(none_left, timeout=10, message="none_left")


@pytest.fixture
def second_api(
    server: ApiServer,
    tmp_path: Path,
    backend: str,
    request: pytest.FixtureRequest,
    fakes: Fakes,
) -> Iterator[ApiServer]:
    """A second `hushcut api` on the same PostgreSQL, Redis and bucket as ``server``."""
    port = free_port()
    settings = server.settings.model_copy(
        update={"port": port, "app_url": f"http://127.0.0.1:{port}"}
    )
    second = ApiServer(settings, "api").start()
    yield second
    second.stop()


@pytest.mark.services
async def test_subscriber_on_another_instance_sees_every_event(
    server: ApiServer,
    second_api: ApiServer,
    runtime: Runtime,
    client: httpx.AsyncClient,
    sample_media: SampleMedia,
) -> None:
    account = await new_account(runtime)
    ticket = await upload(client, account.headers, account.workspace_id, sample_media("short.mp4"))
    job_id = ticket["job"]["id"]

    async def follow(target: ApiServer) -> list[dict[str, Any]]:
        results = await subscribe_all(target, account.token, JOB_UPDATES, {"id": job_id})
        return [result["jobUpdates"] for result in results]

    on_first = asyncio.create_task(follow(server))
    on_second = asyncio.create_task(follow(second_api))

    async def both_subscribed() -> bool:
        return await subscribers(server, job_id) == 2

    await wait_until(both_subscribed, timeout=15, message="both_subscribed")
    confirmed = await graphql(client, CONFIRM, {"id": job_id}, account.headers)
    assert confirmed["data"]["confirmUpload"]["status"] == "QUEUED"
    first, second = await asyncio.wait_for(asyncio.gather(on_first, on_second), 90)
    assert [e["status"] for e in second][-1] == "COMPLETED"
    assert {"QUEUED", "PROCESSING"} <= {e["status"] for e in second}
    # Every event the instance running the job delivered, the other one delivered too.
    assert second == first


async def test_a_change_no_event_announced_still_reaches_subscribers(
    server: ApiServer, runtime: Runtime, client: httpx.AsyncClient
) -> None:
    """An event lost on the way (published while Redis was away, or never published) is
    made up for from the database: subscribers get the final state all the same."""
    account = await new_account(runtime)
    job_id = await new_job(client, account, "quiet.mp4")
    following = asyncio.create_task(
        subscribe_all(server, account.token, JOB_UPDATES, {"id": job_id})
    )

    async def one_live() -> bool:
        return await subscribers(server, job_id) == 1

    await wait_until(one_live, timeout=15, message="one_live")
    # The service alone, as a process without the event bus would: no event published.
    async with runtime.session() as session:
        await job_service.cancel_job(session, Actor(account.user_id), job_id)
    ended = await asyncio.wait_for(following, 15)
    assert [result["jobUpdates"]["status"] for result in ended] == ["PENDING", "CANCELED"]
    assert "unexpected error" not in server.output
