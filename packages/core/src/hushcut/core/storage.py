"""Object storage for uploads and results: S3-compatible (boto3) or a local directory.

Clients never stream media through the API: they get a presigned request and talk to
storage directly. With S3/R2 the request is signed by boto3 (a PUT with Content-Length
and Content-Type signed in, since R2 has no presigned POST). With local storage the API
itself serves ``/storage/<key>`` and checks the HMAC signature with :meth:`LocalStorage.verify`.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import os
import shutil
import threading
import time
import uuid
from collections.abc import AsyncIterable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar, runtime_checkable
from urllib.parse import quote, urlencode

from hushcut.core.errors import BadUserInput, Forbidden, StorageUnavailable
from hushcut.core.settings import Settings

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_s3.type_defs import ObjectIdentifierTypeDef

log = logging.getLogger(__name__)
T = TypeVar("T")

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
    size: int
    content_type: str | None


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

    async def upload_file(self, path: Path, key: str, content_type: str) -> None: ...

    async def download_file(self, key: str, path: Path) -> None: ...

    async def delete(self, key: str) -> None: ...

    async def delete_prefix(self, prefix: str) -> int: ...

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
            raise StorageUnavailable(f"storage refused to {what}: {code}") from exc
        except (BotoCoreError, OSError) as exc:
            raise StorageUnavailable(f"storage unreachable while trying to {what}: {exc}") from exc

    async def presign_put(
        self, key: str, size: int, content_type: str, ttl: int
    ) -> PresignedRequest:
        expires = _expiry(ttl)
        url = self.client.generate_presigned_url(
            "put_object",
            Params={
                "Bucket": self.bucket,
                "Key": key,
                "ContentType": content_type,
                "ContentLength": size,
            },
            ExpiresIn=ttl,
            HttpMethod="PUT",
        )
        headers = {"Content-Type": content_type, "Content-Length": str(size)}
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
        return ObjectInfo(int(response["ContentLength"]), response.get("ContentType"))

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

        return int(await self._call(f"delete {prefix}*", run))

    async def check(self) -> None:
        await self._call(f"reach bucket {self.bucket}", self.client.head_bucket, Bucket=self.bucket)

    async def close(self) -> None:
        await asyncio.to_thread(self.client.close)


# --- local directory --------------------------------------------------------------------


class InvalidSignedUrl(Forbidden):
    """A local-storage URL that is expired, altered or signed with another key."""


class LocalStorage:
    """Objects as files under ``root``; URLs served by the API and signed with HMAC-SHA256.

    A PUT URL's signature covers method, key, expiry, size and content type, so the
    client can upload exactly the file it announced and nothing else.
    """

    def __init__(self, root: Path, base_url: str, secret: bytes) -> None:
        self.root = root
        self.base_url = base_url.rstrip("/")
        self._secret = secret

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
    ) -> str:
        fields = [method.upper(), key, str(expires)]
        if method.upper() == "PUT":
            fields += [str(size), content_type or ""]
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
        now: float | None = None,
    ) -> None:
        """Accept a signed request or raise InvalidSignedUrl saying why it is refused.

        For PUT pass the request's Content-Length and Content-Type: they must be the
        ones the URL was issued for. For GET pass the ``filename`` query parameter.
        """
        try:
            expiry = int(expires)
        except (TypeError, ValueError):
            raise InvalidSignedUrl("invalid storage link") from None
        expected = self.sign(
            method, key, expiry, size=size, content_type=content_type, filename=filename
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
        """
        target = self.path(key)
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
            self._write_meta(key, content_type)
            os.replace(partial, target)
        finally:
            partial.unlink(missing_ok=True)
        return written

    def _write_meta(self, key: str, content_type: str) -> None:
        meta = self._meta_path(key)
        meta.parent.mkdir(parents=True, exist_ok=True)
        meta.write_text(json.dumps({"content_type": content_type}))

    async def head(self, key: str) -> ObjectInfo | None:
        def run() -> ObjectInfo | None:
            try:
                size = self.path(key).stat().st_size
            except FileNotFoundError:
                return None
            try:
                content_type = json.loads(self._meta_path(key).read_text())["content_type"]
            except (FileNotFoundError, ValueError, KeyError):
                content_type = None
            return ObjectInfo(size, content_type)

        return await self._run(f"look up {key}", run)

    async def upload_file(self, path: Path, key: str, content_type: str) -> None:
        def run() -> None:
            target = self.path(key)
            target.parent.mkdir(parents=True, exist_ok=True)
            partial = target.with_name(f".{target.name}.{uuid.uuid4().hex}.part")
            try:
                shutil.copyfile(path, partial)
                self._write_meta(key, content_type)
                os.replace(partial, target)
            finally:
                partial.unlink(missing_ok=True)

        await self._run(f"upload {key}", run)

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
            deleted = 0
            if not objects.exists():
                return 0
            for file in sorted(objects.rglob("*")):
                if not file.is_file() or file.name.startswith("."):
                    continue
                key = file.relative_to(objects).as_posix()
                if key.startswith(prefix):
                    file.unlink(missing_ok=True)
                    self._meta_path(key).unlink(missing_ok=True)
                    deleted += 1
            return deleted

        return int(await self._run(f"delete {prefix}*", run))

    async def check(self) -> None:
        def run() -> None:
            self.root.mkdir(parents=True, exist_ok=True)
            probe = self.root / f".check-{uuid.uuid4().hex}"
            probe.write_bytes(b"ok")
            probe.unlink()

        await self._run("write to the storage directory", run)

    async def close(self) -> None:
        return None

    async def _run(self, what: str, function: Callable[[], T]) -> T:
        try:
            return await asyncio.to_thread(function)
        except OSError as exc:
            raise StorageUnavailable(f"local storage could not {what}: {exc}") from exc
