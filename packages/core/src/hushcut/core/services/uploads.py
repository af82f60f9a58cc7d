"""Uploads in parts (S3 multipart, or its local-disk equivalent): the rules applied before
storage sees a request, for the API's upload operations to call.

An upload is named by its storage key and upload id; its parts follow from its size
(:func:`hushcut.core.storage.plan_parts`), so a caller that keeps the key, the upload id
and the announced size can sign, resume, complete or abort it at any time. Uploads nobody
finishes are given up by :func:`hushcut.core.services.retention.sweep_abandoned_uploads`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from hushcut.core.errors import BadUserInput
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
