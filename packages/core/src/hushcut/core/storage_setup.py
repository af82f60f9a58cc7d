"""Setting up and checking the bucket: its CORS rule for browsers, and a full check.

Browsers upload to and download from the bucket with presigned URLs, so the bucket must
allow the web app's origin to PUT and GET (and expose ``ETag``, which a browser needs to
complete a multipart upload). ``hushcut storage cors`` writes that rule;
``hushcut storage check`` verifies credentials, bucket, CORS and a presigned round trip.
"""

from __future__ import annotations

import asyncio
import fnmatch
import secrets
import uuid
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx

from hushcut.core.errors import BadUserInput
from hushcut.core.storage import LocalStorage, S3Storage, Storage

#: The ID of the CORS rule Hushcut writes; rules with other IDs are kept as they are.
CORS_RULE_ID = "hushcut"
CORS_METHODS = ("PUT", "GET", "HEAD")
#: Headers the web app sends with uploads (Content-Length is set by the browser itself).
CORS_HEADERS = ("content-type",)
CORS_EXPOSE = ("ETag",)
CORS_MAX_AGE_S = 3600
#: Where the round trip writes its test object (deleted at the end).
CHECK_PREFIX = ".hushcut-check/"
CHECK_SIZE = 1024


def origin_of(url: str) -> str:
    """The browser origin of ``url`` (scheme://host[:port]); BadUserInput if it has none."""
    parts = urlsplit(url.strip())
    if parts.scheme not in {"http", "https"} or not parts.netloc:
        raise BadUserInput(f"not an http(s) origin: {url!r}")
    return f"{parts.scheme}://{parts.netloc}".lower()


def cors_rule(origins: Iterable[str]) -> dict[str, Any]:
    """The CORS rule letting ``origins`` PUT and GET objects with presigned URLs."""
    allowed = sorted({origin_of(origin) for origin in origins})
    if not allowed:
        raise BadUserInput("name at least one origin")
    return {
        "ID": CORS_RULE_ID,
        "AllowedOrigins": allowed,
        "AllowedMethods": list(CORS_METHODS),
        "AllowedHeaders": list(CORS_HEADERS),
        "ExposeHeaders": list(CORS_EXPOSE),
        "MaxAgeSeconds": CORS_MAX_AGE_S,
    }


def _s3(storage: Storage) -> S3Storage:
    if not isinstance(storage, S3Storage):
        raise BadUserInput(
            "storage is the local directory, which the API serves itself and needs no CORS "
            "rule; set S3_BUCKET (or R2_BUCKET_NAME) to set up a bucket"
        )
    return storage


async def current_cors_rules(storage: S3Storage) -> list[dict[str, Any]]:
    """The bucket's CORS rules ([] when it has none)."""
    from botocore.exceptions import ClientError

    try:
        response = await asyncio.to_thread(storage.client.get_bucket_cors, Bucket=storage.bucket)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "NoSuchCORSConfiguration":
            return []
        raise
    return [dict(rule) for rule in response.get("CORSRules", [])]


async def set_cors(storage: Storage, origins: Sequence[str]) -> dict[str, Any]:
    """Write Hushcut's CORS rule for ``origins`` (PutBucketCors), keeping other rules."""
    bucket = _s3(storage)
    rule = cors_rule(origins)
    others = [r for r in await current_cors_rules(bucket) if r.get("ID") != CORS_RULE_ID]
    rules: list[Any] = [rule, *others]
    await asyncio.to_thread(
        bucket.client.put_bucket_cors, Bucket=bucket.bucket, CORSConfiguration={"CORSRules": rules}
    )
    return rule


def _matches(pattern: str, value: str) -> bool:
    # S3 rules allow one "*" wildcard in an origin; header names are case-insensitive.
    return fnmatch.fnmatchcase(value.lower(), pattern.lower())


def cors_problem(rules: Sequence[dict[str, Any]], origin: str) -> str | None:
    """Why ``rules`` would stop a browser at ``origin`` uploading or downloading, or None.

    A browser needs one rule that allows the origin, PUT and GET, the Content-Type
    header, and exposes ETag (multipart uploads read it).
    """
    if not rules:
        return "the bucket has no CORS rule"
    for rule in rules:
        if not any(_matches(o, origin) for o in rule.get("AllowedOrigins", [])):
            continue
        methods = {method.upper() for method in rule.get("AllowedMethods", [])}
        missing = [m for m in ("PUT", "GET") if m not in methods]
        headers = rule.get("AllowedHeaders", [])
        missing += [h for h in CORS_HEADERS if not any(_matches(p, h) for p in headers)]
        exposed = {h.lower() for h in rule.get("ExposeHeaders", [])}
        missing += [f"expose {h}" for h in CORS_EXPOSE if h.lower() not in exposed]
        if not missing:
            return None
        return f"the rule for {origin} lacks {', '.join(missing)}"
    return f"no rule allows the origin {origin}"


@dataclass(frozen=True, slots=True)
class Check:
    """One line of ``hushcut storage check``."""

    name: str
    ok: bool
    detail: str

    def line(self) -> str:
        return f"{'ok  ' if self.ok else 'FAIL'}  {self.name}: {self.detail}"


async def check_storage(storage: Storage, origin: str) -> AsyncIterator[Check]:
    """Check that storage works for Hushcut, yielding one result per check as it goes.

    Later checks are skipped (not yielded) once one they depend on failed.
    """
    origin = origin_of(origin)
    if isinstance(storage, LocalStorage):
        async for check in _check_local(storage):
            yield check
        return
    async for check in _check_s3(_s3(storage), origin):
        yield check


async def _check_local(storage: LocalStorage) -> AsyncIterator[Check]:
    from hushcut.core.errors import StorageUnavailable

    try:
        await storage.check()
    except StorageUnavailable as exc:
        yield Check("directory", False, str(exc))
        return
    yield Check("directory", True, f"{storage.root} is writable")
    key = f"{CHECK_PREFIX}{uuid.uuid4().hex}"
    request = await storage.presign_put(key, CHECK_SIZE, "application/octet-stream", 60)
    params = dict(part.split("=", 1) for part in urlsplit(request.url).query.split("&"))
    storage.verify(
        "PUT",
        key,
        params["expires"],
        params["sig"],
        size=CHECK_SIZE,
        content_type="application/octet-stream",
    )
    yield Check(
        "signed URLs",
        True,
        f"PUT and GET URLs are served by the API at {storage.base_url} (no CORS needed)",
    )


def _client_error(exc: Exception) -> str:
    from botocore.exceptions import ClientError

    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        return str(error.get("Code") or "error") + (
            f" ({error['Message']})" if error.get("Message") else ""
        )
    return f"{type(exc).__name__}: {exc}"


CREDENTIAL_ERRORS = {
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "InvalidToken",
    "ExpiredToken",
    "AuthorizationHeaderMalformed",
    "Unauthorized",
}


async def _check_s3(storage: S3Storage, origin: str) -> AsyncIterator[Check]:
    from botocore.exceptions import BotoCoreError, ClientError

    endpoint = storage.client.meta.endpoint_url
    try:
        await asyncio.to_thread(storage.client.list_objects_v2, Bucket=storage.bucket, MaxKeys=1)
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        if code in CREDENTIAL_ERRORS:
            yield Check("credentials", False, f"refused by {endpoint}: {_client_error(exc)}")
            return
        yield Check("credentials", True, f"accepted by {endpoint}")
        yield Check("bucket", False, f"{storage.bucket}: {_client_error(exc)}")
        return
    except (BotoCoreError, OSError) as exc:
        yield Check("credentials", False, f"cannot reach {endpoint}: {_client_error(exc)}")
        return
    yield Check("credentials", True, f"accepted by {endpoint}")
    yield Check("bucket", True, f"{storage.bucket} can be listed")

    try:
        problem = cors_problem(await current_cors_rules(storage), origin)
    except (ClientError, BotoCoreError, OSError) as exc:
        problem = f"could not read the CORS rules: {_client_error(exc)}"
    if problem is None:
        yield Check("cors", True, f"{origin} may PUT and GET, ETag exposed")
    else:
        yield Check("cors", False, f"{problem}: run `hushcut storage cors --origin {origin}`")

    key = f"{CHECK_PREFIX}{uuid.uuid4().hex}"
    body = secrets.token_bytes(CHECK_SIZE)
    async with httpx.AsyncClient(timeout=httpx.Timeout(30.0, connect=5.0)) as http:
        try:
            put = await storage.presign_put(key, len(body), "application/octet-stream", 120)
            response = await http.put(put.url, content=body, headers=put.headers)
        except httpx.HTTPError as exc:
            yield Check("presigned PUT", False, f"{type(exc).__name__}: {exc}")
            return
        if response.status_code >= 300:
            yield Check(
                "presigned PUT", False, f"HTTP {response.status_code}: {response.text[:200]}"
            )
            return
        yield Check("presigned PUT", True, f"{len(body)} bytes uploaded with the signed headers")
        try:
            get = await storage.presign_get(key, 120, filename="check.bin")
            response = await http.get(get.url)
        except httpx.HTTPError as exc:
            yield Check("presigned GET", False, f"{type(exc).__name__}: {exc}")
        else:
            if response.status_code >= 300:
                yield Check("presigned GET", False, f"HTTP {response.status_code}")
            elif response.content != body:
                yield Check("presigned GET", False, "the bytes read back differ from those written")
            else:
                yield Check("presigned GET", True, f"{len(body)} bytes read back unchanged")
    try:
        await storage.delete(key)
    except Exception as exc:
        yield Check("cleanup", False, f"could not delete {key}: {exc}")
    else:
        yield Check("cleanup", True, f"test object {key} deleted")
