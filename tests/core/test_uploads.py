"""Uploads in parts on both backends (local disk, and S3 through moto): parts signed one by
one, retried alone, resumed from what storage holds, completed only when whole, abandoned
uploads aborted; objects report size and ETag, and a sealed local input cannot be replaced."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

import httpx
import pytest
from sqlalchemy import select, update

from hushcut.core.errors import BadUserInput
from hushcut.core.models import JobStatus, VideoJob
from hushcut.core.runtime import Runtime
from hushcut.core.services import jobs, uploads
from hushcut.core.services.retention import RetentionPolicy, SweepReport, sweep_abandoned_uploads
from hushcut.core.settings import Settings
from hushcut.core.storage import (
    DEFAULT_PART_SIZE,
    MAX_PARTS,
    MIN_PART_SIZE,
    PUT_PART,
    LocalStorage,
    ObjectSealed,
    PartPlan,
    PresignedRequest,
    Storage,
    UploadedPart,
    UploadGone,
    abort_abandoned_uploads,
    check_parts,
    create_storage,
    plan_parts,
)
from tests.platform import balance, new_member

GiB = 1024**3
KEY = "input/job-9/long talk.mp4"
SIZE = 2 * MIN_PART_SIZE + 1234  # three parts of MIN_PART_SIZE, the last one short


@pytest.fixture
async def storage(settings: Settings) -> AsyncIterator[Storage]:
    """The backend's storage: a local directory, or a fresh bucket on the S3 endpoint."""
    made = create_storage(settings)
    yield made
    await made.close()


async def _chunks(body: bytes) -> AsyncIterator[bytes]:
    for start in range(0, len(body), 1024 * 1024):
        yield body[start : start + 1024 * 1024]


async def send(storage: Storage, request: PresignedRequest, body: bytes) -> None:
    """Do what a client does with a presigned PUT: over HTTP to S3; for local storage,
    what the API's /storage route does with it (check the signature, then store)."""
    assert request.headers["Content-Length"] == str(len(body))
    if isinstance(storage, LocalStorage):
        parts = urlsplit(request.url)
        key = unquote(parts.path.removeprefix("/storage/"))
        query = {name: values[0] for name, values in parse_qs(parts.query).items()}
        if "part" in query:
            upload_id, number = query["upload"], int(query["part"])
            storage.verify(
                PUT_PART, key, query["expires"], query["sig"], size=len(body),
                upload_id=upload_id, part=number,
            )  # fmt: skip
            await storage.write_part(key, upload_id, number, _chunks(body), len(body))
        else:
            content_type = request.headers["Content-Type"]
            storage.verify(
                "PUT", key, query["expires"], query["sig"], size=len(body),
                content_type=content_type,
            )  # fmt: skip
            await storage.write(key, _chunks(body), content_type, len(body))
        return
    async with httpx.AsyncClient() as http:
        response = await http.put(request.url, content=body, headers=request.headers)
    assert response.status_code == 200, response.text


async def read(storage: Storage, key: str, tmp_path: Path) -> bytes:
    target = tmp_path / "read-back"
    await storage.download_file(key, target)
    return target.read_bytes()


def test_part_plans() -> None:
    plan = plan_parts(20 * GiB)
    assert (plan.part_size, plan.count) == (DEFAULT_PART_SIZE, 320)
    assert plan.part_length(320) == DEFAULT_PART_SIZE
    odd = plan_parts(SIZE, MIN_PART_SIZE)
    assert [odd.part_length(n) for n in (1, 2, 3)] == [MIN_PART_SIZE, MIN_PART_SIZE, 1234]
    assert odd.offset(3) == 2 * MIN_PART_SIZE
    # Beyond 10,000 parts of the default size, the parts grow instead (in whole MiB).
    huge = plan_parts(1024 * GiB)
    assert huge.count <= MAX_PARTS
    assert huge.part_size % (1024 * 1024) == 0
    assert plan_parts(1).count == 1
    for bad in (lambda: plan_parts(0), lambda: odd.part_length(4), lambda: odd.part_length(0)):
        with pytest.raises(BadUserInput):
            bad()
    with pytest.raises(BadUserInput, match="part 2 of 3 has not been uploaded"):
        check_parts(odd, [UploadedPart(1, MIN_PART_SIZE, "a"), UploadedPart(3, 1234, "c")])
    with pytest.raises(BadUserInput, match="part 3 has 1000 bytes; 1234 were expected"):
        check_parts(
            odd,
            [UploadedPart(n, MIN_PART_SIZE, "x") for n in (1, 2)] + [UploadedPart(3, 1000, "c")],
        )


async def test_an_upload_in_parts_retries_resumes_and_completes_only_when_whole(
    storage: Storage, tmp_path: Path
) -> None:
    body = bytes(range(256)) * (SIZE // 256) + bytes(SIZE % 256)
    with pytest.raises(BadUserInput, match="largest upload"):
        await uploads.start_multipart_upload(storage, KEY, SIZE, "video/mp4", max_size=SIZE - 1)
    upload = await uploads.start_multipart_upload(
        storage, KEY, SIZE, "video/mp4", max_size=20 * GiB, part_size=MIN_PART_SIZE
    )
    assert upload.plan == PartPlan(SIZE, MIN_PART_SIZE)

    def part(number: int) -> bytes:
        start = upload.plan.offset(number)
        return body[start : start + upload.plan.part_length(number)]

    first, _, third = await uploads.sign_upload_parts(storage, upload, [3, 1, 2], ttl=60)
    await send(storage, first, part(1))
    await send(storage, first, part(1))  # sent twice (a retry after a lost answer): fine
    await send(storage, third, part(3))
    # The connection dropped before part 2: a later session resumes from what storage holds.
    resumed = uploads.resume_multipart_upload(KEY, upload.upload_id, SIZE, MIN_PART_SIZE)
    held = await uploads.uploaded_parts(storage, resumed)
    assert [(p.number, p.size) for p in held] == [(1, MIN_PART_SIZE), (3, 1234)]
    assert all(p.etag for p in held)
    with pytest.raises(BadUserInput, match="part 2 of 3 has not been uploaded"):
        await uploads.complete_multipart_upload(storage, resumed)
    assert await storage.head(KEY) is None

    [second] = await uploads.sign_upload_parts(storage, resumed, [2], ttl=60)
    await send(storage, second, part(2))
    info = await uploads.complete_multipart_upload(storage, resumed)
    assert (info.size, info.content_type) == (SIZE, "video/mp4")
    assert info.etag
    assert await storage.head(KEY) == info
    assert await read(storage, KEY, tmp_path) == body
    assert await storage.list_multipart_uploads("input/") == []
    with pytest.raises(UploadGone):
        await uploads.complete_multipart_upload(storage, resumed)


async def test_part_requests_are_checked(storage: Storage) -> None:
    upload = await uploads.start_multipart_upload(
        storage, KEY, SIZE, "video/mp4", max_size=20 * GiB, part_size=MIN_PART_SIZE
    )
    for numbers in ([], [0], [4], list(range(1, 102))):
        with pytest.raises(BadUserInput):
            await uploads.sign_upload_parts(storage, upload, numbers, ttl=60)
    [request] = await uploads.sign_upload_parts(storage, upload, [3], ttl=60)
    assert request.method == "PUT"
    assert request.headers == {"Content-Length": "1234"}
    await uploads.abort_multipart_upload(storage, upload)
    await uploads.abort_multipart_upload(storage, upload)  # twice is harmless


async def test_abandoned_uploads_are_aborted(storage: Storage) -> None:
    started = [
        await uploads.start_multipart_upload(
            storage, key, SIZE, "video/mp4", max_size=20 * GiB, part_size=MIN_PART_SIZE
        )
        for key in ("input/job-a/a.mp4", "input/job-b/b.mp4", "output/job-c/c.mp4")
    ]
    [request] = await uploads.sign_upload_parts(storage, started[0], [3], ttl=60)
    await send(storage, request, b"\0" * 1234)
    pending = await storage.list_multipart_uploads("input/")
    assert sorted((p.key, p.upload_id) for p in pending) == sorted(
        (u.key, u.upload_id) for u in started[:2]
    )
    # Judged by the start time storage reports (moto reports a fixed one from 2010): none
    # started more than an hour before the oldest of them.
    younger = datetime.now(UTC) - min(p.started_at for p in pending) + timedelta(hours=1)
    assert await abort_abandoned_uploads(storage, "input/", older_than=younger) == 0
    assert await abort_abandoned_uploads(storage, "input/", older_than=timedelta(0)) == 2
    assert await storage.list_multipart_uploads("input/") == []
    assert [p.key for p in await storage.list_multipart_uploads("")] == ["output/job-c/c.mp4"]
    with pytest.raises(UploadGone):
        await uploads.uploaded_parts(storage, started[0])


async def test_objects_report_size_and_an_etag_that_changes_when_replaced(
    storage: Storage, backend: str
) -> None:
    first = await storage.presign_put(KEY, 5, "video/mp4", 60)
    await send(storage, first, b"first")
    before = await storage.head(KEY)
    assert before is not None
    assert before.size == 5
    assert before.etag
    await send(storage, await storage.presign_put(KEY, 6, "video/mp4", 60), b"second")
    replaced = await storage.head(KEY)
    assert replaced is not None
    assert replaced.size == 6
    assert replaced.etag != before.etag

    sealed = await storage.seal(KEY)
    assert sealed == replaced
    late = await storage.presign_put(KEY, 5, "video/mp4", 60)
    if backend == "embedded":
        # Local storage refuses to replace a confirmed input, whole or in parts.
        with pytest.raises(ObjectSealed, match="confirmed"):
            await send(storage, late, b"third")
        with pytest.raises(ObjectSealed):
            await storage.create_multipart_upload(KEY, "video/mp4", plan_parts(SIZE))
        assert await storage.head(KEY) == sealed
    else:
        # S3 cannot refuse a valid presigned PUT: the ETag recorded at sealing tells.
        await send(storage, late, b"third")
        after = await storage.head(KEY)
        assert after is not None
        assert after.etag != sealed.etag
    assert await storage.seal("input/job-9/missing.mp4") is None


async def test_the_sweep_gives_up_uploads_nobody_will_finish(
    settings: Settings, storage: Storage
) -> None:
    """Judged by the job records: the start times storage reports are not reliable
    everywhere (moto's are from 2010)."""
    runtime = await Runtime.start(settings, upgrade=False)
    try:
        actor, workspace_id = await new_member(runtime, credits=1)

        async def job_uploading(name: str) -> VideoJob:
            async with runtime.session() as session:
                job = await jobs.create_job(session, actor, workspace_id, name, SIZE, "video/mp4")
            upload = await uploads.start_multipart_upload(
                storage, job.input_key, SIZE, "video/mp4", max_size=SIZE, part_size=MIN_PART_SIZE
            )
            async with runtime.session() as session:
                return await jobs.record_upload(
                    session, actor, job.id, upload.upload_id, upload.plan.part_size
                )

        fresh, old, canceled = [await job_uploading(f"{n}.mp4") for n in "abc"]
        async with runtime.session() as session:
            await session.execute(
                update(VideoJob)
                .where(VideoJob.id == old.id)
                .values(created_at=datetime.now(UTC) - timedelta(days=2))
            )
            # Canceled while storage was away: its upload was left open.
            await session.execute(
                update(VideoJob).where(VideoJob.id == canceled.id).values(status=JobStatus.CANCELED)
            )
            await session.commit()

        policy = RetentionPolicy.from_settings(settings)
        assert policy.multipart_upload_ttl == timedelta(hours=24)

        async def sweep() -> SweepReport:
            async with runtime.session() as session:
                return await sweep_abandoned_uploads(
                    session, storage, policy, datetime.now(UTC), runtime.events
                )

        report = await sweep()
        assert report.canceled == [old.id]
        assert report.handled == 2  # and the canceled job's upload aborted
        open_uploads = await storage.list_multipart_uploads("input/")
        assert [u.upload_id for u in open_uploads] == [fresh.upload_id]
        async with runtime.session() as session:
            rows = {job.id: job for job in (await session.scalars(select(VideoJob))).all()}
        assert (rows[old.id].status, rows[old.id].upload_id) == (JobStatus.CANCELED, None)
        assert rows[old.id].error == jobs.ABANDONED_MESSAGE
        assert (rows[canceled.id].status, rows[canceled.id].upload_id) == (
            JobStatus.CANCELED,
            None,
        )
        assert (rows[fresh.id].status, rows[fresh.id].upload_id) == (
            JobStatus.PENDING,
            fresh.upload_id,
        )
        assert await balance(runtime, workspace_id) == 1  # nothing charged, nothing refunded
        # Nothing left to do; a second sweep (another worker) changes nothing.
        again = await sweep()
        assert (again.handled, again.canceled) == (0, [])
    finally:
        await runtime.close()
