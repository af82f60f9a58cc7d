"""The whole upload flow through real clients: httpx for HTTP, gql over graphql-transport-ws."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
from gql import Client, GraphQLRequest

from hushcut.core.runtime import Runtime
from hushcut.pipeline.testing import SampleMedia
from tests.api.conftest import (
    ApiServer,
    balance,
    error_codes,
    graphql,
    new_account,
    subscribe_all,
    ws_transport,
)

REQUEST_UPLOAD = """
mutation($ws: ID!, $name: String!, $size: Long!, $type: String!, $options: CutOptionsInput) {
  requestUpload(workspaceId: $ws, filename: $name, sizeBytes: $size, contentType: $type,
                options: $options) {
    job { id status filename }
    url method headers { name value } expiresAt
  }
}"""
CONFIRM = "mutation($id: ID!) { confirmUpload(jobId: $id) { id status } }"
JOB = "query($id: ID!) { job(id: $id) { id status progress downloadUrl outputDurationS } }"
JOB_UPDATES = "subscription($id: ID!) { jobUpdates(jobId: $id) { id status stage progress } }"


async def upload(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    workspace_id: str,
    media: Path,
    content_type: str = "video/mp4",
) -> dict[str, Any]:
    """requestUpload, then PUT the bytes exactly as the ticket says; returns the ticket."""
    data = media.read_bytes()
    result = await graphql(
        client,
        REQUEST_UPLOAD,
        {"ws": workspace_id, "name": media.name, "size": len(data), "type": content_type},
        headers,
    )
    assert "errors" not in result, result
    ticket = result["data"]["requestUpload"]
    assert ticket["job"]["status"] == "PENDING"
    put = await client.request(
        ticket["method"],
        ticket["url"],
        content=data,
        headers={header["name"]: header["value"] for header in ticket["headers"]},
    )
    assert put.status_code in (200, 204), put.text
    return ticket


async def test_token_upload_confirm_progress_download(
    server: ApiServer, runtime: Runtime, client: httpx.AsyncClient, sample_media: SampleMedia
) -> None:
    account = await new_account(runtime, credits=2)
    media = sample_media("short.mp4")
    ticket = await upload(client, account.headers, account.workspace_id, media)
    job_id = ticket["job"]["id"]

    events: list[dict[str, Any]] = []
    subscribed = asyncio.Event()

    async def follow() -> None:
        async with Client(transport=ws_transport(server, account.token)) as session:
            request = GraphQLRequest(JOB_UPDATES, variable_values={"id": job_id})
            async for result in session.subscribe(request):
                events.append(result["jobUpdates"])
                subscribed.set()

    follower = asyncio.create_task(follow())
    await asyncio.wait_for(subscribed.wait(), 15)
    assert events[0]["status"] == "PENDING"  # the current state comes first

    confirmed = await graphql(client, CONFIRM, {"id": job_id}, account.headers)
    assert confirmed["data"]["confirmUpload"]["status"] == "QUEUED", confirmed
    assert await balance(runtime, account.workspace_id) == 1

    # The subscription ends by itself at the final state.
    await asyncio.wait_for(follower, 90)
    statuses = [event["status"] for event in events]
    assert statuses[0] == "PENDING"
    assert "QUEUED" in statuses
    assert "PROCESSING" in statuses
    assert statuses[-1] == "COMPLETED", events
    assert any(event["stage"] for event in events if event["status"] == "PROCESSING")

    job = (await graphql(client, JOB, {"id": job_id}, account.headers))["data"]["job"]
    assert job["status"] == "COMPLETED"
    assert job["progress"] == 1.0
    download = await client.get(job["downloadUrl"])
    assert download.status_code == 200
    assert download.content[4:8] == b"ftyp"  # an MP4 file
    assert job["outputDurationS"] > 0
    # Nothing more was charged by processing.
    assert await balance(runtime, account.workspace_id) == 1


async def test_second_confirm_is_conflict_without_charge(
    server: ApiServer, runtime: Runtime, client: httpx.AsyncClient, sample_media: SampleMedia
) -> None:
    account = await new_account(runtime, credits=3)
    ticket = await upload(
        client, account.headers, account.workspace_id, sample_media("mono.mp3"), "audio/mpeg"
    )
    job_id = ticket["job"]["id"]
    first, second = await asyncio.gather(
        graphql(client, CONFIRM, {"id": job_id}, account.headers),
        graphql(client, CONFIRM, {"id": job_id}, account.headers),
    )
    codes = sorted([*error_codes(first), *error_codes(second)])
    assert codes == ["CONFLICT"], (first, second)
    third = await graphql(client, CONFIRM, {"id": job_id}, account.headers)
    assert error_codes(third) == ["CONFLICT"]
    assert await balance(runtime, account.workspace_id) == 2


async def test_confirm_without_upload_or_credits(
    server: ApiServer, runtime: Runtime, client: httpx.AsyncClient, sample_media: SampleMedia
) -> None:
    account = await new_account(runtime, credits=0)
    media = sample_media("short.mp4")
    result = await graphql(
        client,
        REQUEST_UPLOAD,
        {
            "ws": account.workspace_id,
            "name": "a.mp4",
            "size": media.stat().st_size,
            "type": "video/mp4",
        },
        account.headers,
    )
    job_id = result["data"]["requestUpload"]["job"]["id"]
    # Nothing uploaded yet: refused, nothing charged.
    early = await graphql(client, CONFIRM, {"id": job_id}, account.headers)
    assert error_codes(early) == ["BAD_USER_INPUT"]

    ticket = await upload(client, account.headers, account.workspace_id, media)
    broke = await graphql(client, CONFIRM, {"id": ticket["job"]["id"]}, account.headers)
    assert error_codes(broke) == ["INSUFFICIENT_CREDITS"]
    assert await balance(runtime, account.workspace_id) == 0
    job = await graphql(client, JOB, {"id": ticket["job"]["id"]}, account.headers)
    assert job["data"]["job"]["status"] == "PENDING"


async def test_cancel_ends_the_subscription_and_retry_needs_an_upload(
    server: ApiServer, runtime: Runtime, client: httpx.AsyncClient
) -> None:
    account = await new_account(runtime, credits=1)
    created = await graphql(
        client,
        REQUEST_UPLOAD,
        {"ws": account.workspace_id, "name": "c.mp4", "size": 10, "type": "video/mp4"},
        account.headers,
    )
    job_id = created["data"]["requestUpload"]["job"]["id"]
    events: list[dict[str, Any]] = []
    first = asyncio.Event()

    async def follow() -> None:
        async with Client(transport=ws_transport(server, account.token)) as session:
            request = GraphQLRequest(JOB_UPDATES, variable_values={"id": job_id})
            async for result in session.subscribe(request):
                events.append(result["jobUpdates"])
                first.set()

    follower = asyncio.create_task(follow())
    await asyncio.wait_for(first.wait(), 15)
    canceled = await graphql(
        client,
        "mutation($id: ID!) { cancelJob(jobId: $id) { status } }",
        {"id": job_id},
        account.headers,
    )
    assert canceled["data"]["cancelJob"]["status"] == "CANCELED"
    await asyncio.wait_for(follower, 15)  # the final state ends the subscription
    assert [event["status"] for event in events] == ["PENDING", "CANCELED"]
    again = await graphql(
        client,
        "mutation($id: ID!) { cancelJob(jobId: $id) { status } }",
        {"id": job_id},
        account.headers,
    )
    assert error_codes(again) == ["CONFLICT"]
    retried = await graphql(
        client,
        "mutation($id: ID!) { retryJob(jobId: $id) { status } }",
        {"id": job_id},
        account.headers,
    )
    assert error_codes(retried) == ["CONFLICT"]
    assert await balance(runtime, account.workspace_id) == 1
    # A subscription to a job already final answers once and ends.
    finished = await subscribe_all(server, account.token, JOB_UPDATES, {"id": job_id})
    assert [result["jobUpdates"]["status"] for result in finished] == ["CANCELED"]
