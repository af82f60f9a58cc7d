"""Uploads in parts (S3 multipart, or its local-disk equivalent): the rules applied before
storage sees a request, for the API's upload operations to call.

An upload is named by its storage key and upload id; its parts follow from its size
(:func:`hushcut.core.storage.plan_parts`), so a caller that keeps the key, the upload id
and the announced size can sign, resume, complete or abort it at any time.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from hushcut.core.errors import BadUserInput
from hushcut.core.models import JobStatus, VideoJob
from hushcut.core.services import jobs as job_service
from hushcut.core.storage import (
    DEFAULT_PART_SIZE,
    ObjectInfo,
    PartPlan,
    PresignedRequest,
    Storage,
    UploadedPart,
    plan_parts,
)

#: Part URLs one call may sign: a client asks for the next batch as it goes, so a 20 GiB
#: upload (320 parts) never needs one huge answer, and URLs are signed close to their use.
MAX_PART_URLS_PER_CALL = 100


@dataclass(frozen=True, slots=True)
class MultipartUpload:
    key: str
    upload_id: str
    plan: PartPlan


async def start_multipart_upload(
    storage: Storage,
    key: str,
    size: int,
    content_type: str,
    *,
    max_size: int,
    part_size: int = DEFAULT_PART_SIZE,
) -> MultipartUpload:
    """Start uploading ``size`` bytes to ``key`` in parts (refused above ``max_size``).

    Keep ``upload_id`` and ``plan.part_size`` with the job: with the size they are all
    it takes to go on with the upload later (:func:`resume_multipart_upload`).
    """
    if size > max_size:
        raise BadUserInput(f"file is {size} bytes; the largest upload accepted is {max_size}")
    plan = plan_parts(size, part_size)
    upload_id = await storage.create_multipart_upload(key, content_type, plan)
    return MultipartUpload(key, upload_id, plan)


def resume_multipart_upload(
    key: str, upload_id: str, size: int, part_size: int = DEFAULT_PART_SIZE
) -> MultipartUpload:
    """The upload started for ``key`` as ``upload_id``, to sign, complete or abort."""
    return MultipartUpload(key, upload_id, plan_parts(size, part_size))


async def sign_upload_parts(
    storage: Storage, upload: MultipartUpload, numbers: Iterable[int], ttl: int
) -> list[PresignedRequest]:
    """A presigned PUT for each part number asked for (each may be asked for again, to
    retry that part alone)."""
    wanted = sorted(set(numbers))
    if not wanted:
        raise BadUserInput("name at least one part")
    if len(wanted) > MAX_PART_URLS_PER_CALL:
        raise BadUserInput(f"ask for at most {MAX_PART_URLS_PER_CALL} parts at a time")
    for number in wanted:
        upload.plan.part_length(number)  # BadUserInput for a part that does not exist
    return [
        await storage.presign_upload_part(upload.key, upload.upload_id, upload.plan, number, ttl)
        for number in wanted
    ]


async def uploaded_parts(storage: Storage, upload: MultipartUpload) -> list[UploadedPart]:
    """The parts storage already holds: a resumed upload sends only the others."""
    return await storage.list_uploaded_parts(upload.key, upload.upload_id)


async def complete_multipart_upload(storage: Storage, upload: MultipartUpload) -> ObjectInfo:
    """Assemble the object from its parts; BadUserInput names a missing or wrong part."""
    return await storage.complete_multipart_upload(upload.key, upload.upload_id, upload.plan)


async def abort_multipart_upload(storage: Storage, upload: MultipartUpload) -> None:
    """Give the upload up and free its parts (nothing happens if it is already gone)."""
    await storage.abort_multipart_upload(upload.key, upload.upload_id)


async def sweep_abandoned_uploads(
    sessionmaker: async_sessionmaker[AsyncSession],
    storage: Storage,
    *,
    ttl_s: float,
    now: datetime | None = None,
) -> list[VideoJob]:
    """Abort the uploads in parts that nobody will finish, and cancel their PENDING jobs
    (nothing was charged): those of jobs ended otherwise, and those started more than
    ``ttl_s`` seconds ago. Found from the job records, not from storage's own listing
    (whose start times not every S3-compatible service reports truly). Returns the
    jobs canceled here; an upload storage no longer has is simply forgotten."""
    async with sessionmaker() as session:
        stale = await job_service.stale_uploads(session, now=now or datetime.now(UTC), ttl_s=ttl_s)
    canceled: list[VideoJob] = []
    for job in stale:
        assert job.upload_id is not None
        if job.status is JobStatus.PENDING:
            async with sessionmaker() as session:
                given_up = await job_service.give_up_upload(session, job.id)
            if given_up is None:
                continue  # confirmed or canceled meanwhile: looked at again next time
            canceled.append(given_up)
        await storage.abort_multipart_upload(job.input_key, job.upload_id)
        async with sessionmaker() as session:
            await job_service.forget_upload(session, job.id, job.upload_id)
    return canceled
