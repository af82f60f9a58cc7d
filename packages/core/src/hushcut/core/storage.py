"""Object storage for uploads and results: S3-compatible (boto3) or a local directory.

Clients never stream media through the API: they get a presigned request and talk to
storage directly. With S3/R2 the request is signed by boto3 (a PUT with Content-Length
and Content-Type signed in, since R2 has no presigned POST). With local storage the API
itself serves ``/storage/<key>`` and checks the HMAC signature with :meth:`LocalStorage.verify`.

Large files go up in parts (S3 multipart upload, or the local equivalent): each part has
its own presigned PUT, so a failed part is sent again alone and an interrupted upload
resumes with the parts storage already holds (:meth:`Storage.list_uploaded_parts`).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import logging
import math
import os
import re
import shutil
import threading
import time
import uuid
from collections.abc import AsyncIterable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, ParamSpec, Protocol, TypeVar, runtime_checkable
from urllib.parse import quote, urlencode

from hushcut.core.errors import BadUserInput, Conflict, Forbidden, NotFound, StorageUnavailable
from hushcut.core.settings import Settings

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_s3.type_defs import ObjectIdentifierTypeDef

log = logging.getLogger(__name__)
T = TypeVar("T")
P = ParamSpec("P")

_BOTO_LOCK = threading.Lock()
_boto_session: Any = None


@dataclass(frozen=True, slots=True)
class PresignedRequest:
    """An HTTP request a client may make to storage: send exactly these headers."""

    url: str
    method: str
    headers: dict[str, str]
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class ObjectInfo:
    """What storage says about an object. ``etag`` is opaque: it changes whenever the
    object is replaced, so recording it at confirm time detects a later swap."""

    size: int
    content_type: str | None
    etag: str | None = None


MiB = 1024 * 1024
#: S3's rules (R2 follows them): parts of 5 MiB to 5 GiB except the last, at most 10,000.
MIN_PART_SIZE = 5 * MiB
MAX_PART_SIZE = 5 * 1024 * MiB
MAX_PARTS = 10_000
#: Big enough that a 20 GiB upload is 320 parts, small enough that a lost part is cheap.
DEFAULT_PART_SIZE = 64 * MiB
#: The largest object one presigned PUT may create on S3; above it, upload in parts.
MAX_SINGLE_PUT_SIZE = 5 * 1024 * MiB


@dataclass(frozen=True, slots=True)
class PartPlan:
    """How an upload of ``size`` bytes is cut: every part ``part_size`` bytes but the
    last (R2 requires equal parts). A pure function of the size, so it can be recomputed
    from a job's announced size at any time."""

    size: int
    part_size: int

    @property
    def count(self) -> int:
        return math.ceil(self.size / self.part_size)

    def part_length(self, number: int) -> int:
        if not 1 <= number <= self.count:
            raise BadUserInput(f"part {number} does not exist: parts are 1 to {self.count}")
        return min(self.part_size, self.size - (number - 1) * self.part_size)

    def offset(self, number: int) -> int:
        self.part_length(number)
        return (number - 1) * self.part_size


def plan_parts(size: int, part_size: int = DEFAULT_PART_SIZE) -> PartPlan:
    """The parts of an upload of ``size`` bytes: ``part_size`` each, or bigger (whole
    MiB) when that would need more than MAX_PARTS parts."""
    if size <= 0:
        raise BadUserInput("an upload must have at least one byte")
    needed = math.ceil(math.ceil(size / MAX_PARTS) / MiB) * MiB
    chosen = max(part_size, needed)
    if not MIN_PART_SIZE <= chosen <= MAX_PART_SIZE:
        raise BadUserInput(f"a part must be {MIN_PART_SIZE} to {MAX_PART_SIZE} bytes")
    return PartPlan(size=size, part_size=chosen)


@dataclass(frozen=True, slots=True)
class UploadedPart:
    """A part storage holds: its number (from 1), its size and its ETag."""

    number: int
    size: int
    etag: str


@dataclass(frozen=True, slots=True)
class PendingUpload:
    """A multipart upload that was started and neither completed nor aborted."""

    key: str
    upload_id: str
    started_at: datetime


class UploadGone(NotFound):
    """The multipart upload was completed, aborted or never existed: start again."""


@runtime_checkable
class Storage(Protocol):
    """Where inputs and outputs live. Every method is a coroutine; none blocks the loop."""

    async def presign_put(
        self, key: str, size: int, content_type: str, ttl: int
    ) -> PresignedRequest: ...

    async def presign_get(
        self, key: str, ttl: int, filename: str | None = None
    ) -> PresignedRequest: ...

    async def head(self, key: str) -> ObjectInfo | None: ...

    async def seal(self, key: str) -> ObjectInfo | None:
        """Freeze the object (a confirmed input): where storage can enforce it (local
        disk), later uploads to the key are refused; elsewhere the returned ETag, recorded
        by the caller, lets a later check detect a replacement. None if there is none."""
        ...

    # multipart uploads -----------------------------------------------------------------
    async def create_multipart_upload(self, key: str, content_type: str, plan: PartPlan) -> str:
        """Start an upload in parts; returns its id. Refused for a sealed key."""
        ...

    async def presign_upload_part(
        self, key: str, upload_id: str, plan: PartPlan, number: int, ttl: int
    ) -> PresignedRequest:
        """A PUT for part ``number``, signed for exactly its length."""
        ...

    async def list_uploaded_parts(self, key: str, upload_id: str) -> list[UploadedPart]:
        """The parts storage holds, by number (to resume an interrupted upload)."""
        ...

    async def complete_multipart_upload(
        self, key: str, upload_id: str, plan: PartPlan
    ) -> ObjectInfo:
        """Assemble the object once every part of ``plan`` is there with its exact size;
        BadUserInput naming the first missing or wrong part otherwise."""
        ...

    async def abort_multipart_upload(self, key: str, upload_id: str) -> None:
        """Drop the upload and its parts; nothing happens if it is already gone."""
        ...

    async def list_multipart_uploads(self, prefix: str) -> list[PendingUpload]:
        """Uploads under ``prefix`` started and neither completed nor aborted."""
        ...

    async def upload_file(self, path: Path, key: str, content_type: str) -> None: ...

    async def download_file(self, key: str, path: Path) -> None: ...

    async def delete(self, key: str) -> None: ...

    async def delete_prefix(self, prefix: str) -> int:
        """Delete every object whose key starts with ``prefix``, and abort every upload
        in progress under it; returns how many objects and uploads went. Idempotent."""
        ...

    async def check(self) -> None:
        """Raise StorageUnavailable unless storage can be used right now."""
        ...

    async def close(self) -> None: ...


def content_disposition(filename: str) -> str:
    """An ``attachment`` Content-Disposition naming the file, safe for any characters."""
    fallback = "".join(ch if 32 <= ord(ch) < 127 and ch not in '"\\;' else "_" for ch in filename)
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"


def _expiry(ttl: int) -> int:
    if ttl <= 0:
        raise ValueError("ttl must be positive")
    return int(time.time()) + ttl


UPLOAD_GONE_MESSAGE = "this upload no longer exists (completed, aborted or expired): start again"


def check_parts(plan: PartPlan, parts: list[UploadedPart]) -> None:
    """Refuse to assemble an upload unless it holds exactly the planned parts."""
    held = {part.number: part for part in parts}
    for number in range(1, plan.count + 1):
        part = held.get(number)
        if part is None:
            raise BadUserInput(f"part {number} of {plan.count} has not been uploaded")
        expected = plan.part_length(number)
        if part.size != expected:
            raise BadUserInput(f"part {number} has {part.size} bytes; {expected} were expected")
    extra = sorted(number for number in held if number > plan.count)
    if extra:
        raise BadUserInput(f"part {extra[0]} is beyond the {plan.count} parts of this upload")


async def abort_uploads(storage: Storage, prefix: str) -> int:
    """Abort every multipart upload under ``prefix``; returns how many.

    Their parts are stored (and billed) until then, and they are no objects: listing
    objects never shows them, so deleting a prefix must abort them too.
    """
    uploads = await storage.list_multipart_uploads(prefix)
    for upload in uploads:
        await storage.abort_multipart_upload(upload.key, upload.upload_id)
    return len(uploads)


async def abort_abandoned_uploads(storage: Storage, prefix: str, older_than: timedelta) -> int:
    """Abort the multipart uploads under ``prefix`` started more than ``older_than`` ago
    (their parts cost storage until then); returns how many were aborted."""
    cutoff = datetime.now(UTC) - older_than
    aborted = 0
    for upload in await storage.list_multipart_uploads(prefix):
        if upload.started_at <= cutoff:
            await storage.abort_multipart_upload(upload.key, upload.upload_id)
            aborted += 1
    if aborted:
        log.info("aborted %d abandoned uploads under %s", aborted, prefix)
    return aborted


def _etag(raw: str) -> str:
    return raw.strip('"')


def create_storage(settings: Settings) -> Storage:
    """S3 when S3_BUCKET is set, else the local directory under the data dir."""
    if settings.s3_bucket:
        return S3Storage.from_settings(settings)
    return LocalStorage.from_settings(settings)


# --- S3 / R2 ----------------------------------------------------------------------------


class S3Storage:
    """An S3-compatible bucket through boto3; blocking calls run in worker threads."""

    def __init__(self, client: S3Client, bucket: str) -> None:
        self.client = client
        self.bucket = bucket

    @classmethod
    def from_settings(cls, settings: Settings) -> S3Storage:
        import boto3
        from botocore.config import Config

        assert settings.s3_bucket is not None
        secret = settings.s3_secret_access_key
        config = Config(
            signature_version="s3v4",
            connect_timeout=5,
            read_timeout=60,
            retries={"max_attempts": 3, "mode": "standard"},
            # Path-style works on every S3-compatible endpoint (R2, MinIO, moto);
            # virtual-hosted style needs DNS for each bucket.
            s3={"addressing_style": "path" if settings.s3_endpoint_url else "auto"},
        )
        with _BOTO_LOCK:
            # One boto3 session per process: it caches the service model, which makes
            # every further client ~20x cheaper to build. Sessions are not thread-safe,
            # hence the lock.
            global _boto_session
            if _boto_session is None:
                _boto_session = boto3.session.Session()
            session = _boto_session
        client = session.client(
            "s3",
            endpoint_url=settings.s3_endpoint_url,
            region_name=settings.s3_region,
            aws_access_key_id=settings.s3_access_key_id,
            aws_secret_access_key=secret.get_secret_value() if secret else None,
            config=config,
        )
        return cls(client, settings.s3_bucket)

    async def _call(self, what: str, function: Any, /, *args: Any, **kwargs: Any) -> Any:
        from boto3.exceptions import S3UploadFailedError
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return await asyncio.to_thread(function, *args, **kwargs)
        except S3UploadFailedError as exc:
            # upload_file wraps the ClientError (NoSuchBucket, AccessDenied...) in its own.
            raise StorageUnavailable(f"storage refused to {what}: {exc}") from exc
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "error")
            if code == "NoSuchUpload":
                raise UploadGone(UPLOAD_GONE_MESSAGE) from exc
            raise StorageUnavailable(f"storage refused to {what}: {code}") from exc
        except (BotoCoreError, OSError) as exc:
            raise StorageUnavailable(f"storage unreachable while trying to {what}: {exc}") from exc

    async def presign_put(
        self, key: str, size: int, content_type: str, ttl: int
    ) -> PresignedRequest:
        params = {"Key": key, "ContentType": content_type, "ContentLength": size}
        headers = {"Content-Type": content_type, "Content-Length": str(size)}
        return self._presign_put("put_object", params, headers, ttl)

    def _presign_put(
        self, operation: str, params: dict[str, Any], headers: dict[str, str], ttl: int
    ) -> PresignedRequest:
        # The headers are signed in (SigV4 signs Content-Length and Content-Type when the
        # parameters name them), so the client must send exactly these.
        expires = _expiry(ttl)
        url = self.client.generate_presigned_url(
            operation, Params={"Bucket": self.bucket, **params}, ExpiresIn=ttl, HttpMethod="PUT"
        )
        return PresignedRequest(url, "PUT", headers, datetime.fromtimestamp(expires, UTC))

    async def presign_get(
        self, key: str, ttl: int, filename: str | None = None
    ) -> PresignedRequest:
        expires = _expiry(ttl)
        params: dict[str, Any] = {"Bucket": self.bucket, "Key": key}
        if filename:
            params["ResponseContentDisposition"] = content_disposition(filename)
        url = self.client.generate_presigned_url("get_object", Params=params, ExpiresIn=ttl)
        return PresignedRequest(url, "GET", {}, datetime.fromtimestamp(expires, UTC))

    async def head(self, key: str) -> ObjectInfo | None:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            response = await asyncio.to_thread(self.client.head_object, Bucket=self.bucket, Key=key)
        except ClientError as exc:
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            if status == 404:
                return None
            code = exc.response.get("Error", {}).get("Code", "error")
            raise StorageUnavailable(f"storage refused to look up {key}: {code}") from exc
        except (BotoCoreError, OSError) as exc:
            raise StorageUnavailable(f"storage unreachable while looking up {key}: {exc}") from exc
        return ObjectInfo(
            int(response["ContentLength"]), response.get("ContentType"), _etag(response["ETag"])
        )

    async def seal(self, key: str) -> ObjectInfo | None:
        # A presigned PUT stays valid until it expires and S3 cannot be told otherwise:
        # the ETag the caller records is what detects a replaced object.
        return await self.head(key)

    async def create_multipart_upload(self, key: str, content_type: str, plan: PartPlan) -> str:
        response = await self._call(
            f"start an upload of {key}",
            self.client.create_multipart_upload,
            Bucket=self.bucket,
            Key=key,
            ContentType=content_type,
        )
        return str(response["UploadId"])

    async def presign_upload_part(
        self, key: str, upload_id: str, plan: PartPlan, number: int, ttl: int
    ) -> PresignedRequest:
        length = plan.part_length(number)
        params = {"Key": key, "UploadId": upload_id, "PartNumber": number, "ContentLength": length}
        return self._presign_put("upload_part", params, {"Content-Length": str(length)}, ttl)

    async def list_uploaded_parts(self, key: str, upload_id: str) -> list[UploadedPart]:
        def run() -> list[UploadedPart]:
            paginator = self.client.get_paginator("list_parts")
            return [
                UploadedPart(int(item["PartNumber"]), int(item["Size"]), _etag(item["ETag"]))
                for page in paginator.paginate(Bucket=self.bucket, Key=key, UploadId=upload_id)
                for item in page.get("Parts", [])
            ]

        parts: list[UploadedPart] = await self._call(f"list the parts of {key}", run)
        return parts

    async def complete_multipart_upload(
        self, key: str, upload_id: str, plan: PartPlan
    ) -> ObjectInfo:
        parts = await self.list_uploaded_parts(key, upload_id)
        check_parts(plan, parts)
        await self._call(
            f"complete the upload of {key}",
            self.client.complete_multipart_upload,
            Bucket=self.bucket,
            Key=key,
            UploadId=upload_id,
            MultipartUpload={
                "Parts": [{"PartNumber": part.number, "ETag": f'"{part.etag}"'} for part in parts]
            },
        )
        info = await self.head(key)
        if info is None:
            raise StorageUnavailable(f"storage completed the upload of {key} but does not show it")
        return info

    async def abort_multipart_upload(self, key: str, upload_id: str) -> None:
        with contextlib.suppress(UploadGone):  # already gone: nothing to do
            await self._call(
                f"abort the upload of {key}",
                self.client.abort_multipart_upload,
                Bucket=self.bucket,
                Key=key,
                UploadId=upload_id,
            )

    async def list_multipart_uploads(self, prefix: str) -> list[PendingUpload]:
        def run() -> list[PendingUpload]:
            paginator = self.client.get_paginator("list_multipart_uploads")
            return [
                PendingUpload(item["Key"], item["UploadId"], item["Initiated"])
                for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix)
                for item in page.get("Uploads", [])
            ]

        uploads: list[PendingUpload] = await self._call(f"list the uploads under {prefix}", run)
        return uploads

    async def upload_file(self, path: Path, key: str, content_type: str) -> None:
        # upload_file streams from disk and switches to multipart for large files.
        await self._call(
            f"upload {key}",
            self.client.upload_file,
            str(path),
            self.bucket,
            key,
            ExtraArgs={"ContentType": content_type},
        )

    async def download_file(self, key: str, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        await self._call(f"download {key}", self.client.download_file, self.bucket, key, str(path))

    async def delete(self, key: str) -> None:
        await self._call(f"delete {key}", self.client.delete_object, Bucket=self.bucket, Key=key)

    async def delete_prefix(self, prefix: str) -> int:
        if not prefix:
            raise ValueError("refusing to delete the whole bucket")

        def run() -> int:
            deleted = 0
            paginator = self.client.get_paginator("list_objects_v2")
            for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
                keys: list[ObjectIdentifierTypeDef] = [
                    {"Key": item["Key"]} for item in page.get("Contents", [])
                ]
                if keys:
                    self.client.delete_objects(
                        Bucket=self.bucket, Delete={"Objects": keys, "Quiet": True}
                    )
                    deleted += len(keys)
            return deleted

        deleted = int(await self._call(f"delete {prefix}*", run))
        return deleted + await abort_uploads(self, prefix)

    async def check(self) -> None:
        await self._call(f"reach bucket {self.bucket}", self.client.head_bucket, Bucket=self.bucket)

    async def close(self) -> None:
        await asyncio.to_thread(self.client.close)


# --- local directory --------------------------------------------------------------------


class InvalidSignedUrl(Forbidden):
    """A local-storage URL that is expired, altered or signed with another key."""


class ObjectSealed(Conflict):
    """An upload to a key whose object was confirmed: it cannot be replaced."""


#: Signature "method" of a part upload, so a part URL can never pass for a whole-object PUT.
PUT_PART = "PUT-PART"
_UPLOAD_ID = re.compile(r"^[0-9a-f]{32}$")


class LocalStorage:
    """Objects as files under ``root``; URLs served by the API and signed with HMAC-SHA256.

    A PUT URL's signature covers method, key, expiry, size and content type, so the
    client can upload exactly the file it announced and nothing else. Layout:
    ``objects/<key>`` (the bytes), ``meta/<key>`` (content type, ETag, sealed), and
    ``uploads/<id>/`` for a multipart upload in progress: one ``data`` file that every
    part is written into at its own offset (completing is a rename, not a copy of
    gigabytes) and a ``parts/<n>`` marker per part fully received.
    """

    def __init__(self, root: Path, base_url: str, secret: bytes) -> None:
        self.root = root
        self.base_url = base_url.rstrip("/")
        self._secret = secret
        # Orders the last check of "sealed" before an object is put in place against
        # seal() itself, so an upload racing a confirmation cannot slip in after it.
        self._commit = asyncio.Lock()
        #: Parts being received, and uploads being completed, by upload id: a part still
        #: arriving must not be written into a file that became the object.
        self._receiving: dict[str, int] = {}
        self._completing: set[str] = set()

    @classmethod
    def from_settings(cls, settings: Settings) -> LocalStorage:
        return cls(settings.storage_dir, settings.app_url, settings.secret_key())

    # paths -------------------------------------------------------------------------------
    def path(self, key: str) -> Path:
        """The file holding ``key``; refuses keys that could leave the storage directory."""
        parts = key.split("/")
        if (
            not key
            or "\\" in key
            or "\x00" in key
            or any(part in {"", ".", ".."} for part in parts)
        ):
            raise BadUserInput(f"invalid storage key: {key!r}")
        return self.root / "objects" / Path(*parts)

    def _meta_path(self, key: str) -> Path:
        return self.root / "meta" / (self.path(key).relative_to(self.root / "objects"))

    def _upload_dir(self, upload_id: str) -> Path:
        if not _UPLOAD_ID.match(upload_id):
            raise UploadGone(UPLOAD_GONE_MESSAGE)
        return self.root / "uploads" / upload_id

    # signing -----------------------------------------------------------------------------
    def sign(
        self,
        method: str,
        key: str,
        expires: int,
        *,
        size: int | None = None,
        content_type: str | None = None,
        filename: str | None = None,
        upload_id: str | None = None,
        part: int | None = None,
    ) -> str:
        fields = [method.upper(), key, str(expires)]
        if method.upper() == "PUT":
            fields += [str(size), content_type or ""]
        elif method.upper() == PUT_PART:
            fields += [str(size), upload_id or "", str(part)]
        else:
            fields += [filename or ""]
        message = "\n".join(fields).encode()
        return hmac.new(self._secret, message, hashlib.sha256).hexdigest()

    def verify(
        self,
        method: str,
        key: str,
        expires: str | int,
        sig: str,
        *,
        size: int | None = None,
        content_type: str | None = None,
        filename: str | None = None,
        upload_id: str | None = None,
        part: int | None = None,
        now: float | None = None,
    ) -> None:
        """Accept a signed request or raise InvalidSignedUrl saying why it is refused.

        For PUT pass the request's Content-Length and Content-Type: they must be the
        ones the URL was issued for; for PUT_PART its Content-Length, upload id and part
        number. For GET pass the ``filename`` query parameter.
        """
        try:
            expiry = int(expires)
        except (TypeError, ValueError):
            raise InvalidSignedUrl("invalid storage link") from None
        expected = self.sign(
            method,
            key,
            expiry,
            size=size,
            content_type=content_type,
            filename=filename,
            upload_id=upload_id,
            part=part,
        )
        if not hmac.compare_digest(expected, sig or ""):
            raise InvalidSignedUrl("invalid storage link signature")
        if expiry < (time.time() if now is None else now):
            raise InvalidSignedUrl("storage link expired; ask for a new one")

    def _url(self, key: str, params: dict[str, str]) -> str:
        return f"{self.base_url}/storage/{quote(key)}?{urlencode(params)}"

    async def presign_put(
        self, key: str, size: int, content_type: str, ttl: int
    ) -> PresignedRequest:
        self.path(key)
        expires = _expiry(ttl)
        sig = self.sign("PUT", key, expires, size=size, content_type=content_type)
        url = self._url(key, {"expires": str(expires), "sig": sig})
        headers = {"Content-Type": content_type, "Content-Length": str(size)}
        return PresignedRequest(url, "PUT", headers, datetime.fromtimestamp(expires, UTC))

    async def presign_get(
        self, key: str, ttl: int, filename: str | None = None
    ) -> PresignedRequest:
        self.path(key)
        expires = _expiry(ttl)
        sig = self.sign("GET", key, expires, filename=filename)
        params = {"expires": str(expires)}
        if filename:
            params["filename"] = filename
        params["sig"] = sig
        return PresignedRequest(
            self._url(key, params), "GET", {}, datetime.fromtimestamp(expires, UTC)
        )

    # objects -----------------------------------------------------------------------------
    async def write(
        self,
        key: str,
        chunks: AsyncIterable[bytes],
        content_type: str,
        expected_size: int | None = None,
    ) -> int:
        """Store a streamed body (the API's PUT handler); returns the bytes written.

        The object appears atomically, and only if it has exactly ``expected_size`` bytes.
        A sealed object (a confirmed input) is never replaced: ObjectSealed.
        """
        target = self.path(key)
        self._refuse_if_sealed(key)  # before receiving gigabytes for nothing
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(f".{target.name}.{uuid.uuid4().hex}.part")
        written = 0
        try:
            with partial.open("wb") as handle:
                async for chunk in chunks:
                    written += len(chunk)
                    if expected_size is not None and written > expected_size:
                        raise BadUserInput(
                            f"upload is larger than the {expected_size} bytes signed"
                        )
                    await asyncio.to_thread(handle.write, chunk)
            if expected_size is not None and written != expected_size:
                raise BadUserInput(f"upload has {written} bytes, {expected_size} were signed")
            await self._put_in_place(partial, key, content_type)
        finally:
            partial.unlink(missing_ok=True)
        return written

    async def _put_in_place(self, source: Path, key: str, content_type: str) -> None:
        async with self._commit:
            self._refuse_if_sealed(key)
            self._write_meta(key, {"content_type": content_type, "etag": uuid.uuid4().hex})
            os.replace(source, self.path(key))

    def _refuse_if_sealed(self, key: str) -> None:
        if self._read_meta(key).get("sealed"):
            raise ObjectSealed(
                f"{key} was confirmed and can no longer be replaced: start a new upload"
            )

    def _read_meta(self, key: str) -> dict[str, Any]:
        try:
            meta = json.loads(self._meta_path(key).read_text())
        except (FileNotFoundError, ValueError):
            return {}
        return meta if isinstance(meta, dict) else {}

    def _write_meta(self, key: str, meta: dict[str, Any]) -> None:
        path = self._meta_path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f".{path.name}.{uuid.uuid4().hex}.part")
        partial.write_text(json.dumps(meta))
        os.replace(partial, path)

    async def head(self, key: str) -> ObjectInfo | None:
        def run() -> ObjectInfo | None:
            try:
                size = self.path(key).stat().st_size
            except FileNotFoundError:
                return None
            meta = self._read_meta(key)
            return ObjectInfo(size, meta.get("content_type"), meta.get("etag"))

        return await self._run(f"look up {key}", run)

    async def seal(self, key: str) -> ObjectInfo | None:
        async with self._commit:
            info = await self.head(key)
            if info is not None:
                meta = self._read_meta(key)
                await self._run(f"seal {key}", self._write_meta, key, {**meta, "sealed": True})
            return info

    async def upload_file(self, path: Path, key: str, content_type: str) -> None:
        target = self.path(key)

        def copy() -> Path:
            target.parent.mkdir(parents=True, exist_ok=True)
            partial = target.with_name(f".{target.name}.{uuid.uuid4().hex}.part")
            shutil.copyfile(path, partial)
            return partial

        partial = await self._run(f"upload {key}", copy)
        try:
            await self._put_in_place(partial, key, content_type)
        finally:
            partial.unlink(missing_ok=True)

    async def download_file(self, key: str, path: Path) -> None:
        def run() -> None:
            source = self.path(key)
            if not source.exists():
                raise StorageUnavailable(f"storage has no object {key}")
            path.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, path)

        await self._run(f"download {key}", run)

    async def delete(self, key: str) -> None:
        def run() -> None:
            self.path(key).unlink(missing_ok=True)
            self._meta_path(key).unlink(missing_ok=True)

        await self._run(f"delete {key}", run)

    async def delete_prefix(self, prefix: str) -> int:
        if not prefix:
            raise ValueError("refusing to delete the whole storage")

        def run() -> int:
            objects = self.root / "objects"
            # Every key under the prefix lies in the prefix's directory part: walk only that.
            directory = prefix.rpartition("/")[0]
            base = self.path(directory) if directory else objects
            deleted = 0
            if not base.is_dir():
                return 0
            for file in sorted(base.rglob("*")):
                if not file.is_file():
                    continue
                key = file.relative_to(objects).as_posix()
                name = file.name
                if name.startswith("."):
                    # An upload still being written (".<name>.<id>.part"): aborted with
                    # the object it would have become.
                    key = key.rpartition("/")[0] + "/" + name[1:].rsplit(".", 2)[0]
                if key.startswith(prefix):
                    file.unlink(missing_ok=True)
                    if not name.startswith("."):
                        self._meta_path(key).unlink(missing_ok=True)
                    deleted += 1
            if directory:
                for root in (objects, self.root / "meta"):
                    _prune_empty_directories(root / directory)
            return deleted

        deleted = int(await self._run(f"delete {prefix}*", run))
        return deleted + await abort_uploads(self, prefix)

    # multipart uploads -------------------------------------------------------------------
    async def create_multipart_upload(self, key: str, content_type: str, plan: PartPlan) -> str:
        self.path(key)
        self._refuse_if_sealed(key)
        upload_id = uuid.uuid4().hex
        directory = self._upload_dir(upload_id)
        record = {
            "key": key,
            "content_type": content_type,
            "size": plan.size,
            "part_size": plan.part_size,
            "started_at": datetime.now(UTC).isoformat(),
        }

        def run() -> None:
            (directory / "parts").mkdir(parents=True)
            (directory / "data").touch()
            (directory / "upload.json").write_text(json.dumps(record))

        await self._run(f"start an upload of {key}", run)
        return upload_id

    def _upload(self, key: str, upload_id: str) -> tuple[Path, PartPlan, str]:
        directory = self._upload_dir(upload_id)
        try:
            record = json.loads((directory / "upload.json").read_text())
        except (FileNotFoundError, ValueError):
            raise UploadGone(UPLOAD_GONE_MESSAGE) from None
        if record.get("key") != key:
            raise UploadGone(UPLOAD_GONE_MESSAGE)
        plan = PartPlan(size=int(record["size"]), part_size=int(record["part_size"]))
        return directory, plan, str(record["content_type"])

    async def presign_upload_part(
        self, key: str, upload_id: str, plan: PartPlan, number: int, ttl: int
    ) -> PresignedRequest:
        self._upload(key, upload_id)
        length = plan.part_length(number)
        expires = _expiry(ttl)
        sig = self.sign(PUT_PART, key, expires, size=length, upload_id=upload_id, part=number)
        params = {"upload": upload_id, "part": str(number), "expires": str(expires), "sig": sig}
        return PresignedRequest(
            self._url(key, params),
            "PUT",
            {"Content-Length": str(length)},
            datetime.fromtimestamp(expires, UTC),
        )

    async def write_part(
        self, key: str, upload_id: str, number: int, chunks: AsyncIterable[bytes], size: int
    ) -> UploadedPart:
        """Store part ``number`` (the API's PUT handler); it must have exactly its planned
        length. Sending a part again replaces it."""
        directory, plan, _ = self._upload(key, upload_id)
        expected = plan.part_length(number)
        if size != expected:
            raise BadUserInput(f"part {number} must have {expected} bytes, not {size}")
        if upload_id in self._completing:
            raise UploadGone(UPLOAD_GONE_MESSAGE)
        marker = directory / "parts" / str(number)
        self._receiving[upload_id] = self._receiving.get(upload_id, 0) + 1
        try:
            # Until this part is whole again, it does not count as uploaded.
            marker.unlink(missing_ok=True)
            data = directory / "data"
            written = await self._write_at(data, plan.offset(number), chunks, expected)
            if written != expected:
                raise BadUserInput(f"part {number} has {written} bytes, {expected} were signed")
            part = UploadedPart(number, written, uuid.uuid4().hex)
            marker.write_text(json.dumps({"size": part.size, "etag": part.etag}))
        except FileNotFoundError:
            raise UploadGone(UPLOAD_GONE_MESSAGE) from None
        finally:
            self._receiving[upload_id] -= 1
            if not self._receiving[upload_id]:
                del self._receiving[upload_id]
        return part

    @staticmethod
    async def _write_at(path: Path, offset: int, chunks: AsyncIterable[bytes], limit: int) -> int:
        written = 0
        with path.open("r+b") as handle:
            handle.seek(offset)
            async for chunk in chunks:
                written += len(chunk)
                if written > limit:
                    raise BadUserInput(f"a part is larger than its {limit} bytes")
                await asyncio.to_thread(handle.write, chunk)
        return written

    async def list_uploaded_parts(self, key: str, upload_id: str) -> list[UploadedPart]:
        directory, _, _ = self._upload(key, upload_id)

        def run() -> list[UploadedPart]:
            parts = []
            for marker in (directory / "parts").iterdir():
                if marker.name.isdecimal():
                    meta = json.loads(marker.read_text())
                    parts.append(UploadedPart(int(marker.name), meta["size"], meta["etag"]))
            return sorted(parts, key=lambda part: part.number)

        parts: list[UploadedPart] = await self._run(f"list the parts of {key}", run)
        return parts

    async def complete_multipart_upload(
        self, key: str, upload_id: str, plan: PartPlan
    ) -> ObjectInfo:
        directory, recorded, content_type = self._upload(key, upload_id)
        if recorded != plan:
            raise BadUserInput("the upload was started for another size")
        if upload_id in self._receiving or upload_id in self._completing:
            raise Conflict("a part of this upload is still arriving: complete it when it is done")
        self._completing.add(upload_id)
        try:
            check_parts(plan, await self.list_uploaded_parts(key, upload_id))
            target = self.path(key)
            await self._run(f"complete {key}", target.parent.mkdir, parents=True, exist_ok=True)
            await self._put_in_place(directory / "data", key, content_type)
            await self._run(f"clean up the upload of {key}", shutil.rmtree, directory, True)
        finally:
            self._completing.discard(upload_id)
        info = await self.head(key)
        assert info is not None
        return info

    async def abort_multipart_upload(self, key: str, upload_id: str) -> None:
        try:
            directory, _, _ = self._upload(key, upload_id)
        except UploadGone:
            return
        await self._run(f"abort the upload of {key}", shutil.rmtree, directory, True)

    async def list_multipart_uploads(self, prefix: str) -> list[PendingUpload]:
        def run() -> list[PendingUpload]:
            found = []
            uploads = self.root / "uploads"
            for record_path in sorted(uploads.glob("*/upload.json")) if uploads.exists() else []:
                try:
                    record = json.loads(record_path.read_text())
                except (FileNotFoundError, ValueError):
                    continue
                if str(record.get("key", "")).startswith(prefix):
                    started = datetime.fromisoformat(record["started_at"])
                    found.append(PendingUpload(record["key"], record_path.parent.name, started))
            return found

        uploads: list[PendingUpload] = await self._run(f"list the uploads under {prefix}", run)
        return uploads

    # -------------------------------------------------------------------------------------
    async def check(self) -> None:
        def run() -> None:
            self.root.mkdir(parents=True, exist_ok=True)
            probe = self.root / f".check-{uuid.uuid4().hex}"
            probe.write_bytes(b"ok")
            probe.unlink()

        await self._run("write to the storage directory", run)

    async def close(self) -> None:
        return None

    async def _run(
        self, what: str, function: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs
    ) -> T:
        try:
            return await asyncio.to_thread(function, *args, **kwargs)
        except OSError as exc:
            raise StorageUnavailable(f"local storage could not {what}: {exc}") from exc


def _prune_empty_directories(top: Path) -> None:
    """Remove ``top`` and the directories below it that are empty (deepest first).

    Parents are left alone: a writer may be creating a sibling under them right now.
    """
    if not top.is_dir():
        return
    directories = [d for d in top.rglob("*") if d.is_dir()]
    for directory in [*sorted(directories, key=lambda d: len(d.parts), reverse=True), top]:
        with contextlib.suppress(OSError):
            directory.rmdir()
