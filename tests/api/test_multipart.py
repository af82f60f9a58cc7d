"""Large uploads through the API: sizes beyond Int (the Long scalar), uploads in parts with
part URLs signed in batches, a part retried alone, resumed from what storage holds,
confirmed only when whole, aborted; a confirmed input is sealed and its ETag recorded."""

from __future__ import annotations

import os
from typing import Any

import httpx

from hushcut.core.models import VideoJob
from hushcut.core.runtime import Runtime
from hushcut.core.storage import MIN_PART_SIZE
from tests.api.conftest import Account, balance, error_codes, graphql, new_account
from tests.api.test_flow import CONFIRM, REQUEST_UPLOAD

GiB = 1024**3
START = """
mutation($ws: ID!, $name: String!, $size: Long!, $type: String!, $part: Long) {
  startMultipartUpload(workspaceId: $ws, filename: $name, sizeBytes: $size,
                       contentType: $type, partSizeBytes: $part) {
    job { id status sizeBytes } partSizeBytes partCount uploadedParts { partNumber }
  }
}"""
SIGN = """
mutation($id: ID!, $parts: [Int!]!) {
  signUploadParts(jobId: $id, partNumbers: $parts) {
    partNumber sizeBytes url method headers { name value } expiresAt
  }
}"""
PROGRESS = """
query($id: ID!) {
  job(id: $id) {
    status sizeBytes
    multipartUpload { partSizeBytes partCount uploadedParts { partNumber sizeBytes } }
  }
}"""
ABORT = "mutation($id: ID!) { abortMultipartUpload(jobId: $id) { id status } }"


async def start(
    client: httpx.AsyncClient, account: Account, size: int, part: int | None = MIN_PART_SIZE
) -> dict[str, Any]:
    variables = {
        "ws": account.workspace_id,
        "name": "long talk.mp4",
        "size": size,
        "type": "video/mp4",
        "part": part,
    }
    result = await graphql(client, START, variables, account.headers)
    assert "errors" not in result, result
    upload: dict[str, Any] = result["data"]["startMultipartUpload"]
    return upload


async def sign(
    client: httpx.AsyncClient, account: Account, job_id: str, parts: list[int]
) -> dict[int, dict[str, Any]]:
    result = await graphql(client, SIGN, {"id": job_id, "parts": parts}, account.headers)
    assert "errors" not in result, result
    return {request["partNumber"]: request for request in result["data"]["signUploadParts"]}


async def put_part(client: httpx.AsyncClient, request: dict[str, Any], body: bytes) -> None:
    assert request["sizeBytes"] == len(body)
    headers = {header["name"]: header["value"] for header in request["headers"]}
    response = await client.request(
        request["method"], request["url"], content=body, headers=headers
    )
    assert response.status_code == 200, response.text
    assert response.headers["etag"]


async def progress(client: httpx.AsyncClient, account: Account, job_id: str) -> dict[str, Any]:
    result = await graphql(client, PROGRESS, {"id": job_id}, account.headers)
    assert "errors" not in result, result
    job: dict[str, Any] = result["data"]["job"]
    return job


async def test_sizes_beyond_int_are_accepted_as_long(
    runtime: Runtime, client: httpx.AsyncClient
) -> None:
    account = await new_account(runtime)
    three_gib = 3 * GiB
    one_put = await graphql(
        client,
        REQUEST_UPLOAD,
        {"ws": account.workspace_id, "name": "a.mp4", "size": three_gib, "type": "video/mp4"},
        account.headers,
    )
    assert one_put["data"]["requestUpload"]["job"]["status"] == "PENDING", one_put
    too_big_for_one_put = await graphql(
        client,
        REQUEST_UPLOAD,
        {"ws": account.workspace_id, "name": "b.mp4", "size": 6 * GiB, "type": "video/mp4"},
        account.headers,
    )
    assert error_codes(too_big_for_one_put) == ["BAD_USER_INPUT"]
    assert "startMultipartUpload" in too_big_for_one_put["errors"][0]["message"]

    upload = await start(client, account, 6 * GiB, part=None)
    assert upload["job"]["sizeBytes"] == 6 * GiB
    assert (upload["partSizeBytes"], upload["partCount"]) == (64 * 2**20, 96)
    assert upload["uploadedParts"] == []
    over_limit = await graphql(
        client,
        START,
        {"ws": account.workspace_id, "name": "c.mp4", "size": 9 * GiB, "type": "video/mp4"},
        account.headers,
    )
    assert error_codes(over_limit) == ["BAD_USER_INPUT"]
    bad_part = await graphql(
        client,
        START,
        {
            "ws": account.workspace_id,
            "name": "d.mp4",
            "size": GiB,
            "type": "video/mp4",
            "part": 1024,
        },
        account.headers,
    )
    assert error_codes(bad_part) == ["BAD_USER_INPUT"]
    assert await balance(runtime, account.workspace_id) == 3  # nothing charged


async def test_an_upload_in_parts_resumes_retries_a_part_and_confirms_when_whole(
    runtime: Runtime, client: httpx.AsyncClient
) -> None:
    account = await new_account(runtime, credits=2)
    size = 2 * MIN_PART_SIZE + 1234
    body = os.urandom(size)
    pieces = {
        1: body[:MIN_PART_SIZE],
        2: body[MIN_PART_SIZE : 2 * MIN_PART_SIZE],
        3: body[2 * MIN_PART_SIZE :],
    }
    upload = await start(client, account, size)
    job_id = upload["job"]["id"]
    assert (upload["partSizeBytes"], upload["partCount"]) == (MIN_PART_SIZE, 3)
    requests = await sign(client, account, job_id, [1, 2, 3])
    assert [requests[n]["sizeBytes"] for n in (1, 2, 3)] == [MIN_PART_SIZE, MIN_PART_SIZE, 1234]
    await put_part(client, requests[1], pieces[1])
    await put_part(client, requests[3], pieces[3])

    # The client went away; back, it asks what storage holds and sends only the rest.
    held = (await progress(client, account, job_id))["multipartUpload"]
    assert held["uploadedParts"] == [
        {"partNumber": 1, "sizeBytes": MIN_PART_SIZE},
        {"partNumber": 3, "sizeBytes": 1234},
    ]
    early = await graphql(client, CONFIRM, {"id": job_id}, account.headers)
    assert error_codes(early) == ["BAD_USER_INPUT"]
    assert "part 2 of 3" in early["errors"][0]["message"]
    assert await balance(runtime, account.workspace_id) == 2

    again = await sign(client, account, job_id, [2])  # signed anew: retried alone
    await put_part(client, again[2], pieces[2])
    confirmed = await graphql(client, CONFIRM, {"id": job_id}, account.headers)
    assert confirmed["data"]["confirmUpload"]["status"] == "QUEUED", confirmed
    assert await balance(runtime, account.workspace_id) == 1
    after = await progress(client, account, job_id)
    assert after["multipartUpload"] is None

    async with runtime.session() as session:
        job = await session.get(VideoJob, job_id)
    assert job is not None
    stored = await runtime.storage.head(job.input_key)
    assert stored is not None
    assert (stored.size, stored.etag) == (size, job.input_etag)  # recorded at confirm
    assert job.upload_id is None
    late = await graphql(client, SIGN, {"id": job_id, "parts": [1]}, account.headers)
    assert error_codes(late) == ["CONFLICT"]


async def test_aborting_or_canceling_drops_the_parts_and_charges_nothing(
    runtime: Runtime, client: httpx.AsyncClient
) -> None:
    account = await new_account(runtime, credits=2)
    size = MIN_PART_SIZE + 10
    for give_up in (ABORT, "mutation($id: ID!) { cancelJob(jobId: $id) { id status } }"):
        upload = await start(client, account, size)
        job_id = upload["job"]["id"]
        requests = await sign(client, account, job_id, [1])
        await put_part(client, requests[1], os.urandom(MIN_PART_SIZE))
        async with runtime.session() as session:
            job = await session.get(VideoJob, job_id)
        assert job is not None
        assert [p.key for p in await runtime.storage.list_multipart_uploads(job.input_key)] == [
            job.input_key
        ]
        result = await graphql(client, give_up, {"id": job_id}, account.headers)
        assert "errors" not in result, result
        assert next(iter(result["data"].values()))["status"] == "CANCELED"
        assert await runtime.storage.list_multipart_uploads(job.input_key) == []
        stale = await put_part_status(client, requests[1], os.urandom(MIN_PART_SIZE))
        assert stale >= 400  # the part URLs of an aborted upload are dead
    again = await graphql(client, ABORT, {"id": job_id}, account.headers)
    assert error_codes(again) == ["CONFLICT"]
    assert await balance(runtime, account.workspace_id) == 2


async def put_part_status(client: httpx.AsyncClient, request: dict[str, Any], body: bytes) -> int:
    headers = {header["name"]: header["value"] for header in request["headers"]}
    response = await client.request(
        request["method"], request["url"], content=body, headers=headers
    )
    return response.status_code


async def test_another_workspace_cannot_touch_an_upload(
    runtime: Runtime, client: httpx.AsyncClient
) -> None:
    owner = await new_account(runtime)
    intruder = await new_account(runtime)
    job_id = (await start(client, owner, MIN_PART_SIZE + 1))["job"]["id"]
    for query, variables in (
        (SIGN, {"id": job_id, "parts": [1]}),
        (ABORT, {"id": job_id}),
        (PROGRESS, {"id": job_id}),
    ):
        result = await graphql(client, query, variables, intruder.headers)
        assert error_codes(result) == ["NOT_FOUND"], (query, result)
    too_many = await graphql(
        client, SIGN, {"id": job_id, "parts": list(range(1, 103))}, owner.headers
    )
    assert error_codes(too_many) == ["BAD_USER_INPUT"]
    missing = await graphql(client, SIGN, {"id": job_id, "parts": [3]}, owner.headers)
    assert error_codes(missing) == ["BAD_USER_INPUT"]
