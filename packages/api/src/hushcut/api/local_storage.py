"""/storage/<key>: the upload and download endpoints of local storage, with signed URLs.

Only mounted when no S3 bucket is configured. Every request must carry a signature the
API issued (``requestUpload`` / ``downloadUrl``): a PUT for exactly the announced size
and content type before its expiry, a GET for one object before its expiry. A PUT with
``upload`` and ``part`` sends one part of an upload in parts, signed for exactly that
part's length. An object confirmed as a job's input is sealed: PUTs to it answer 409.
A GET honours one byte range (``Range: bytes=a-b``), as S3 does: a browser's video player
needs it to seek (the review editor's preview).
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
from litestar import Request, get, put
from litestar.handlers import BaseRouteHandler
from litestar.response import File, Response, Stream
from litestar.status_codes import (
    HTTP_200_OK,
    HTTP_206_PARTIAL_CONTENT,
    HTTP_400_BAD_REQUEST,
    HTTP_403_FORBIDDEN,
    HTTP_404_NOT_FOUND,
    HTTP_409_CONFLICT,
    HTTP_411_LENGTH_REQUIRED,
    HTTP_413_REQUEST_ENTITY_TOO_LARGE,
    HTTP_416_REQUESTED_RANGE_NOT_SATISFIABLE,
    HTTP_503_SERVICE_UNAVAILABLE,
)

from hushcut.api.state import ApiState
from hushcut.core.errors import BadUserInput, Conflict, Forbidden, NotFound, ServiceError
from hushcut.core.settings import Settings
from hushcut.core.storage import PUT_PART, LocalStorage, content_disposition

AnyRequest = Request[Any, Any, Any]


def _local(request: AnyRequest) -> LocalStorage:
    api: ApiState = request.app.state.api
    storage = api.runtime.storage
    if not isinstance(storage, LocalStorage):
        raise RuntimeError("local storage routes mounted without local storage")
    return storage


#: How a refusal of a storage request is answered (anything else is storage failing).
STATUS_OF = {
    Forbidden.code: HTTP_403_FORBIDDEN,
    BadUserInput.code: HTTP_400_BAD_REQUEST,
    NotFound.code: HTTP_404_NOT_FOUND,
    Conflict.code: HTTP_409_CONFLICT,
}


def _error(status: int, message: str) -> Response[dict[str, str]]:
    return Response({"error": message}, status_code=status)


SINGLE_RANGE = re.compile(r"bytes=(\d*)-(\d*)")
CHUNK = 256 * 1024


def byte_range(header: str | None, size: int) -> tuple[int, int] | bool | None:
    """The first and last byte a ``Range`` header asks of ``size`` bytes: None for the
    whole object (no header, or one this does not serve, such as several ranges), False
    when it cannot be satisfied."""
    found = SINGLE_RANGE.fullmatch((header or "").strip())
    if found is None or found.group(1) == found.group(2) == "":
        return None
    first, last = found.group(1), found.group(2)
    if first == "":  # the last N bytes
        start, end = max(0, size - int(last)), size - 1
    else:
        start, end = int(first), min(size - 1, int(last)) if last else size - 1
    if start >= size or start > end:
        return False
    return start, end


async def _read(path: Path, start: int, end: int) -> AsyncIterator[bytes]:
    async with await anyio.open_file(path, "rb") as file:
        await file.seek(start)
        left = end - start + 1
        while left > 0:
            chunk = await file.read(min(CHUNK, left))
            if not chunk:
                return
            left -= len(chunk)
            yield chunk


def routes(settings: Settings) -> list[BaseRouteHandler]:
    if settings.s3_bucket:
        return []

    @put(
        "/storage/{key:path}",
        status_code=HTTP_200_OK,
        include_in_schema=False,
        request_max_body_size=settings.max_upload_bytes,
    )
    async def put_object(
        request: AnyRequest,
        key: str,
        expires: str = "",
        sig: str = "",
        upload: str | None = None,
        part: int | None = None,
    ) -> Response[dict[str, Any]]:
        """A whole object, or (with ``upload`` and ``part``) one part of an upload in parts."""
        storage = _local(request)
        key = key.lstrip("/")
        length = request.headers.get("content-length")
        if length is None or not length.isdigit():
            return _error(HTTP_411_LENGTH_REQUIRED, "Content-Length is required")
        size = int(length)
        if size > settings.max_upload_bytes:
            return _error(HTTP_413_REQUEST_ENTITY_TOO_LARGE, "upload too large")
        content_type = request.headers.get("content-type", "")
        try:
            if upload is not None and part is not None:
                storage.verify(PUT_PART, key, expires, sig, size=size, upload_id=upload, part=part)
                stored = await storage.write_part(key, upload, part, request.stream(), size)
                # S3 answers a part with its ETag; clients written for S3 read it there.
                return Response(
                    {"key": key, "part": part, "size": stored.size},
                    headers={"ETag": f'"{stored.etag}"'},
                )
            storage.verify("PUT", key, expires, sig, size=size, content_type=content_type)
            written = await storage.write(key, request.stream(), content_type, size)
        except ServiceError as exc:
            return _error(STATUS_OF.get(exc.code, HTTP_503_SERVICE_UNAVAILABLE), str(exc))
        return Response({"key": key, "size": written})

    @get("/storage/{key:path}", include_in_schema=False)
    async def download(
        request: AnyRequest,
        key: str,
        expires: str = "",
        sig: str = "",
        filename: str | None = None,
    ) -> Response[Any]:
        storage = _local(request)
        key = key.lstrip("/")
        try:
            storage.verify("GET", key, expires, sig, filename=filename)
            path = storage.path(key)
        except Forbidden as exc:
            return _error(HTTP_403_FORBIDDEN, str(exc))
        except BadUserInput as exc:
            return _error(HTTP_400_BAD_REQUEST, str(exc))
        info = await storage.head(key)
        if info is None:
            return _error(HTTP_404_NOT_FOUND, "no such object")
        headers = {"content-disposition": content_disposition(filename)} if filename else {}
        headers["accept-ranges"] = "bytes"
        wanted = byte_range(request.headers.get("range"), info.size)
        if wanted is False:
            return Response(
                b"",
                status_code=HTTP_416_REQUESTED_RANGE_NOT_SATISFIABLE,
                headers={"content-range": f"bytes */{info.size}"},
            )
        if isinstance(wanted, tuple):
            start, end = wanted
            headers["content-range"] = f"bytes {start}-{end}/{info.size}"
            headers["content-length"] = str(end - start + 1)
            return Stream(
                _read(path, start, end),
                status_code=HTTP_206_PARTIAL_CONTENT,
                media_type=info.content_type or "application/octet-stream",
                headers=headers,
            )
        return File(
            path,
            content_disposition_type="attachment" if filename else "inline",
            media_type=info.content_type or "application/octet-stream",
            headers=headers,
        )

    return [put_object, download]
