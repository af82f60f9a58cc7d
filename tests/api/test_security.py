"""Every operation refuses anonymous callers and other workspaces; storage URLs and uploads
cannot be forged or stretched; revoked tokens stop working at once."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

import httpx
import pytest
from gql.transport.exceptions import TransportConnectionFailed, TransportQueryError
from sqlalchemy import func, select

from hushcut.core.models import VideoJob
from hushcut.core.runtime import Runtime
from hushcut.pipeline.testing import SampleMedia
from tests.api.conftest import (
    MAX_UPLOAD_BYTES,
    Account,
    ApiServer,
    balance,
    error_codes,
    graphql,
    new_account,
    subscribe_all,
    ws_close_code,
)
from tests.api.test_flow import CONFIRM, JOB_UPDATES, REQUEST_UPLOAD, upload

QUERIES = {
    "me": ("query { me { id } }", {}),
    "workspace": ("query($ws: ID!) { workspace(id: $ws) { id credits } }", {}),
    "job": ("query($job: ID!) { job(id: $job) { id status } }", {}),
    "jobs": (
        "query($ws: ID!) { workspace(id: $ws) { jobs(first: 5) { edges { node { id } } } } }",
        {},
    ),
    "createWorkspace": ('mutation { createWorkspace(name: "x") { id } }', {}),
    "requestUpload": (REQUEST_UPLOAD, {"name": "a.mp4", "size": 10, "type": "video/mp4"}),
    "confirmUpload": (CONFIRM, {}),
    "confirmUploadForReview": (
        "mutation($job: ID!) { confirmUpload(jobId: $job, review: true) { id } }",
        {},
    ),
    "renderJob": (
        "mutation($job: ID!) { renderJob(jobId: $job, segments: [{start: 0, end: 1}]) { id } }",
        {},
    ),
    "jobReview": (
        "query($job: ID!) { job(id: $job) { analysis { peaksUrl } timeline { start } "
        "inputUrl exportUrl(format: FCPXML) } }",
        {},
    ),
    "cancelJob": ("mutation($job: ID!) { cancelJob(jobId: $job) { id } }", {}),
    "retryJob": ("mutation($job: ID!) { retryJob(jobId: $job) { id } }", {}),
    "createCheckoutSession": (
        "mutation($ws: ID!) { createCheckoutSession(workspaceId: $ws) { url } }",
        {},
    ),
    "createApiToken": (
        'mutation($ws: ID!) { createApiToken(workspaceId: $ws, name: "t") { token } }',
        {},
    ),
    "revokeApiToken": ("mutation($tok: ID!) { revokeApiToken(id: $tok) { id } }", {}),
}
# Operations that name another workspace's object (createWorkspace and me name none).
SCOPED = [name for name in QUERIES if name not in {"me", "createWorkspace"}]


def variables(query: str, extra: dict[str, Any], account: Account, job_id: str) -> dict[str, Any]:
    values: dict[str, Any] = {
        "ws": account.workspace_id,
        "job": job_id,
        "id": job_id,
        "tok": account.token_id,
        **extra,
    }
    return {key: value for key, value in values.items() if f"${key}" in query}


@pytest.fixture
async def victim(runtime: Runtime, client: httpx.AsyncClient) -> tuple[Account, str]:
    """An account with one PENDING job."""
    account = await new_account(runtime, credits=2)
    result = await graphql(
        client,
        REQUEST_UPLOAD,
        {"ws": account.workspace_id, "name": "v.mp4", "size": 100, "type": "video/mp4"},
        account.headers,
    )
    return account, result["data"]["requestUpload"]["job"]["id"]


@pytest.mark.parametrize("operation", list(QUERIES))
async def test_anonymous_callers_are_refused(
    operation: str, victim: tuple[Account, str], client: httpx.AsyncClient, runtime: Runtime
) -> None:
    account, job_id = victim
    query, extra = QUERIES[operation]
    vars_ = variables(query, extra, account, job_id)
    for headers in (
        {},
        {"Authorization": "Bearer hc_not-a-real-token"},
        {"Cookie": "hushcut_session=forged.cookie.value"},
    ):
        result = await graphql(client, query, vars_, headers)
        assert error_codes(result) == ["UNAUTHENTICATED"], (headers, result)
    assert await balance(runtime, account.workspace_id) == 2


@pytest.mark.parametrize("operation", SCOPED)
async def test_other_workspaces_objects_are_not_found(
    operation: str, victim: tuple[Account, str], client: httpx.AsyncClient, runtime: Runtime
) -> None:
    account, job_id = victim
    intruder = await new_account(runtime, credits=5)
    query, extra = QUERIES[operation]
    result = await graphql(
        client, query, variables(query, extra, account, job_id), intruder.headers
    )
    assert error_codes(result) == ["NOT_FOUND"], result
    # An id that exists nowhere answers exactly the same: existence does not leak.
    unknown = Account(account.user_id, account.email, str(uuid.uuid4()), "", str(uuid.uuid4()))
    missing = await graphql(
        client, query, variables(query, extra, unknown, str(uuid.uuid4())), intruder.headers
    )
    assert error_codes(missing) == ["NOT_FOUND"]
    assert missing["errors"][0]["message"] == result["errors"][0]["message"]
    assert await balance(runtime, account.workspace_id) == 2
    assert await balance(runtime, intruder.workspace_id) == 5


async def test_subscription_refuses_anonymous_and_other_workspaces(
    server: ApiServer, victim: tuple[Account, str], runtime: Runtime
) -> None:
    _, job_id = victim
    for token in ("", "hc_forged"):
        with pytest.raises(TransportConnectionFailed) as refused:
            await subscribe_all(server, token, JOB_UPDATES, {"id": job_id})
        assert ws_close_code(refused.value) == 4403, refused.value
    intruder = await new_account(runtime)
    with pytest.raises(TransportQueryError) as denied:
        await subscribe_all(server, intruder.token, JOB_UPDATES, {"id": job_id})
    assert denied.value.errors is not None
    assert denied.value.errors[0]["extensions"]["code"] == "NOT_FOUND"


async def test_revoked_token_is_refused_over_http_and_websockets(
    server: ApiServer, runtime: Runtime, client: httpx.AsyncClient
) -> None:
    account = await new_account(runtime)
    me = await graphql(client, "{ me { id } }", headers=account.headers)
    assert me["data"]["me"]["id"] == account.user_id
    revoked = await graphql(
        client,
        "mutation($id: ID!) { revokeApiToken(id: $id) { revokedAt } }",
        {"id": account.token_id},
        account.headers,
    )
    assert revoked["data"]["revokeApiToken"]["revokedAt"]
    again = await graphql(client, "{ me { id } }", headers=account.headers)
    assert error_codes(again) == ["UNAUTHENTICATED"]
    with pytest.raises(TransportConnectionFailed) as refused:
        await subscribe_all(server, account.token, JOB_UPDATES, {"id": str(uuid.uuid4())})
    assert ws_close_code(refused.value) == 4403


async def test_oversize_and_non_media_uploads_are_refused_before_any_charge(
    runtime: Runtime, client: httpx.AsyncClient
) -> None:
    account = await new_account(runtime, credits=2)
    cases = [
        {"name": "big.mp4", "size": MAX_UPLOAD_BYTES + 1, "type": "video/mp4"},
        {"name": "doc.pdf", "size": 1000, "type": "application/pdf"},
        {"name": "page.html", "size": 1000, "type": "text/html"},
        {"name": "zero.mp4", "size": 0, "type": "video/mp4"},
    ]
    for case in cases:
        result = await graphql(
            client, REQUEST_UPLOAD, {"ws": account.workspace_id, **case}, account.headers
        )
        assert error_codes(result) == ["BAD_USER_INPUT"], (case, result)
    for options, field in (({"marginS": -1}, "margin_s"), ({"audioTrack": -1}, "audio_track")):
        bad_options = await graphql(
            client,
            REQUEST_UPLOAD,
            {
                "ws": account.workspace_id,
                "name": "a.mp4",
                "size": 10,
                "type": "video/mp4",
                "options": options,
            },
            account.headers,
        )
        assert error_codes(bad_options) == ["BAD_USER_INPUT"]
        assert field in bad_options["errors"][0]["message"]
    async with runtime.session() as session:
        jobs = await session.scalar(
            select(func.count())
            .select_from(VideoJob)
            .where(VideoJob.workspace_id == account.workspace_id)
        )
    assert jobs == 0
    assert await balance(runtime, account.workspace_id) == 2


local_only = pytest.mark.embedded  # local storage URLs exist on the embedded backend only


def _with_query(url: str, **changes: str) -> str:
    parts = urlsplit(url)
    query = {key: values[0] for key, values in parse_qs(parts.query).items()}
    query.update(changes)
    return urlunsplit(parts._replace(query=urlencode(query)))


async def upload_ticket(
    client: httpx.AsyncClient, account: Account, data: bytes
) -> tuple[dict[str, Any], str, dict[str, str]]:
    """requestUpload for ``data`` as t.mp4: the ticket, its URL and the headers to send."""
    result = await graphql(
        client,
        REQUEST_UPLOAD,
        {"ws": account.workspace_id, "name": "t.mp4", "size": len(data), "type": "video/mp4"},
        account.headers,
    )
    ticket = result["data"]["requestUpload"]
    return ticket, ticket["url"], {h["name"]: h["value"] for h in ticket["headers"]}


@local_only
async def test_forged_expired_or_tampered_storage_urls_are_refused(
    runtime: Runtime, client: httpx.AsyncClient, sample_media: SampleMedia
) -> None:
    account = await new_account(runtime, credits=2)
    data = sample_media("short.mp4").read_bytes()
    ticket, url, headers = await upload_ticket(client, account, data)
    key = urlsplit(url).path.removeprefix("/storage/")
    expired_at = int(time.time()) - 5
    expired_sig = runtime.storage.sign(  # type: ignore[attr-defined]
        "PUT", key, expired_at, size=len(data), content_type="video/mp4"
    )
    attempts = {
        "bad signature": (_with_query(url, sig="0" * 64), headers, data),
        "longer expiry": (_with_query(url, expires=str(int(time.time()) + 99999)), headers, data),
        "other key": (url.replace(key, key.replace("input/", "output/")), headers, data),
        "expired": (_with_query(url, expires=str(expired_at), sig=expired_sig), headers, data),
        "other type": (url, {**headers, "Content-Type": "text/html"}, data),
        "more bytes": (url, {**headers, "Content-Length": str(len(data) + 1)}, data + b"x"),
    }
    for reason, (target, sent_headers, body) in attempts.items():
        response = await client.put(target, content=body, headers=sent_headers)
        assert response.status_code in (400, 403, 413), (reason, response.text)
    stored = await runtime.storage.head(key)
    assert stored is None  # nothing was written by any refused request
    confirm = await graphql(client, CONFIRM, {"id": ticket["job"]["id"]}, account.headers)
    assert error_codes(confirm) == ["BAD_USER_INPUT"]
    assert await balance(runtime, account.workspace_id) == 2

    ok = await client.put(url, content=data, headers=headers)
    assert ok.status_code == 200
    download = await runtime.storage.presign_get(key, 60, filename="t.mp4")
    assert (await client.get(download.url)).content == data
    assert (await client.get(_with_query(download.url, filename="x.mp4"))).status_code == 403
    assert (await client.get(_with_query(download.url, sig="f" * 64))).status_code == 403
    other = download.url.replace(key, key.replace("t.mp4", "u.mp4"))
    assert (await client.get(other)).status_code == 403
    # A video player seeks with byte ranges, as it would against S3.
    part = await client.get(download.url, headers={"Range": "bytes=10-19"})
    assert part.status_code == 206
    assert part.content == data[10:20]
    assert part.headers["content-range"] == f"bytes 10-19/{len(data)}"
    tail = await client.get(download.url, headers={"Range": "bytes=-5"})
    assert (tail.status_code, tail.content) == (206, data[-5:])
    beyond = await client.get(download.url, headers={"Range": f"bytes={len(data)}-"})
    assert beyond.status_code == 416
    assert (await client.get(download.url, headers={"Range": "bytes=0-1,5-6"})).content == data


async def test_concurrent_confirms_of_many_jobs_never_overdraw(
    runtime: Runtime, client: httpx.AsyncClient, server: ApiServer, sample_media: SampleMedia
) -> None:
    account = await new_account(runtime, credits=2)
    media = sample_media("mono.mp3")
    tickets = [
        await upload(client, account.headers, account.workspace_id, media, "audio/mpeg")
        for _ in range(3)
    ]
    results = await asyncio.gather(
        *(
            graphql(client, CONFIRM, {"id": ticket["job"]["id"]}, account.headers)
            for ticket in tickets
        )
    )
    codes = sorted(code for result in results for code in error_codes(result))
    assert codes == ["INSUFFICIENT_CREDITS"], results
    assert await balance(runtime, account.workspace_id) == 0


@local_only
async def test_a_sealed_input_cannot_be_replaced_through_its_upload_url(
    runtime: Runtime, client: httpx.AsyncClient, sample_media: SampleMedia
) -> None:
    account = await new_account(runtime, credits=2)
    data = sample_media("short.mp4").read_bytes()
    _, url, headers = await upload_ticket(client, account, data)
    assert (await client.put(url, content=data, headers=headers)).status_code == 200
    key = urlsplit(url).path.removeprefix("/storage/")
    sealed = await runtime.storage.seal(key)  # what confirming the upload does
    assert sealed is not None
    other = bytes(reversed(data))  # same size and type: the URL would accept it
    replaced = await client.put(url, content=other, headers=headers)
    assert replaced.status_code == 409, replaced.text
    assert "confirmed" in replaced.json()["error"]
    assert await runtime.storage.head(key) == sealed
    download = await runtime.storage.presign_get(key, 60)
    assert (await client.get(download.url)).content == data


@local_only
async def test_local_uploads_in_parts_over_http(
    runtime: Runtime, client: httpx.AsyncClient
) -> None:
    from hushcut.core.services import uploads
    from hushcut.core.storage import MIN_PART_SIZE

    key = f"input/{uuid.uuid4()}/big.mp4"
    size = MIN_PART_SIZE + 4321
    body = (bytes(range(251)) * (size // 251 + 1))[:size]
    upload = await uploads.start_multipart_upload(
        runtime.storage, key, size, "video/mp4", max_size=size, part_size=MIN_PART_SIZE
    )
    first, second = await uploads.sign_upload_parts(runtime.storage, upload, [1, 2], ttl=60)
    pieces = {1: body[:MIN_PART_SIZE], 2: body[MIN_PART_SIZE:]}
    # A part URL is signed for its part, its upload and its length, nothing else.
    refused = {
        "other part": (_with_query(second.url, part="1"), pieces[2]),
        "other upload": (_with_query(second.url, upload=uuid.uuid4().hex), pieces[2]),
        "longer": (second.url, pieces[2] + b"x"),
        "whole-object URL": (_with_query(second.url, upload="", part=""), pieces[2]),
    }
    for reason, (target, content) in refused.items():
        response = await client.put(target, content=content)
        assert response.status_code in (400, 403), (reason, response.text)
    for request, number in ((first, 1), (second, 2)):
        response = await client.put(request.url, content=pieces[number], headers=request.headers)
        assert response.status_code == 200, response.text
        assert response.headers["etag"].strip('"')
    held = await uploads.uploaded_parts(runtime.storage, upload)
    assert [(part.number, part.size) for part in held] == [(1, MIN_PART_SIZE), (2, 4321)]
    info = await uploads.complete_multipart_upload(runtime.storage, upload)
    assert info.size == size
    download = await runtime.storage.presign_get(key, 60)
    assert (await client.get(download.url)).content == body
    gone = await client.put(first.url, content=pieces[1], headers=first.headers)
    assert gone.status_code == 404  # the upload was completed: its part URLs are dead
