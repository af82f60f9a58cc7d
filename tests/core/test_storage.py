"""Storage: signed local URLs refuse what they should; S3 works against a real endpoint."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import httpx
import pytest

from hushcut.core.errors import BadUserInput, StorageUnavailable
from hushcut.core.settings import Settings
from hushcut.core.storage import (
    InvalidSignedUrl,
    LocalStorage,
    ObjectInfo,
    S3Storage,
    content_disposition,
    create_storage,
)
from tests.conftest import Services
from tests.platform import create_bucket

KEY = "input/job-1/talk.mp4"


def local(tmp_path: Path, secret: bytes = b"k" * 32) -> LocalStorage:
    return LocalStorage(tmp_path / "storage", "https://hushcut.example", secret)


def query(url: str) -> tuple[str, dict[str, str]]:
    parts = urlsplit(url)
    assert parts.path.startswith("/storage/")
    key = unquote(parts.path.removeprefix("/storage/"))
    return key, {name: values[0] for name, values in parse_qs(parts.query).items()}


async def test_local_put_url_verifies_exactly_what_was_signed(tmp_path: Path) -> None:
    storage = local(tmp_path)
    request = await storage.presign_put(KEY, 1000, "video/mp4", 60)
    assert request.method == "PUT"
    assert request.headers == {"Content-Type": "video/mp4", "Content-Length": "1000"}
    assert request.url.startswith("https://hushcut.example/storage/input/job-1/talk.mp4?")
    key, params = query(request.url)
    signed: dict[str, Any] = {"size": 1000, "content_type": "video/mp4"}
    storage.verify("PUT", key, params["expires"], params["sig"], **signed)  # accepted

    refusals = {
        "other key": ("PUT", "input/job-2/talk.mp4", params["expires"], params["sig"], signed),
        "other method": ("GET", key, params["expires"], params["sig"], signed),
        "longer expiry": ("PUT", key, str(int(params["expires"]) + 60), params["sig"], signed),
        "bad expiry": ("PUT", key, "soon", params["sig"], signed),
        "bigger body": ("PUT", key, params["expires"], params["sig"], {**signed, "size": 1001}),
        "other type": (
            "PUT",
            key,
            params["expires"],
            params["sig"],
            {**signed, "content_type": "text/html"},
        ),
        # The last character changed (not merely set to "0", which it may already be).
        "altered sig": ("PUT", key, params["expires"], _altered(params["sig"]), signed),
        "no sig": ("PUT", key, params["expires"], "", signed),
    }
    for name, (method, k, expires, sig, extra) in refusals.items():
        try:
            storage.verify(method, k, expires, sig, **extra)
        except InvalidSignedUrl:
            continue
        pytest.fail(f"signed URL accepted with {name}")


async def test_local_urls_expire(tmp_path: Path) -> None:
    storage = local(tmp_path)
    request = await storage.presign_get(KEY, 30, filename="talk_hushcut.mp4")
    key, params = query(request.url)
    args = ("GET", key, params["expires"], params["sig"])
    storage.verify(*args, filename=params["filename"])
    with pytest.raises(InvalidSignedUrl, match="expired"):
        storage.verify(*args, filename=params["filename"], now=time.time() + 31)
    with pytest.raises(InvalidSignedUrl):
        storage.verify(*args, filename="other.mp4")


async def test_local_urls_signed_with_another_key_are_refused(tmp_path: Path) -> None:
    ours = local(tmp_path, b"a" * 32)
    theirs = local(tmp_path, b"b" * 32)
    request = await theirs.presign_put(KEY, 10, "video/mp4", 60)
    key, params = query(request.url)
    with pytest.raises(InvalidSignedUrl, match="signature"):
        ours.verify("PUT", key, params["expires"], params["sig"], size=10, content_type="video/mp4")


async def test_local_keys_cannot_escape_the_directory(tmp_path: Path) -> None:
    storage = local(tmp_path)
    for key in ("../x", "input/../../x", "/etc/passwd", "a//b", "a\\b", "", "a/./b"):
        with pytest.raises(BadUserInput):
            await storage.presign_put(key, 1, "video/mp4", 60)
        with pytest.raises(BadUserInput):
            await storage.head(key)


def size_and_type(info: ObjectInfo | None) -> tuple[int, str | None]:
    assert info is not None
    assert info.etag  # every object has one
    return info.size, info.content_type


async def chunks(*parts: bytes) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


async def test_local_objects(tmp_path: Path) -> None:
    storage = local(tmp_path)
    await storage.check()
    assert await storage.head(KEY) is None
    assert await storage.write(KEY, chunks(b"abc", b"def"), "video/mp4", 6) == 6
    assert size_and_type(await storage.head(KEY)) == (6, "video/mp4")
    with pytest.raises(BadUserInput, match="larger"):
        await storage.write("input/job-1/big.mp4", chunks(b"abcdefg"), "video/mp4", 6)
    with pytest.raises(BadUserInput, match="5 bytes"):
        await storage.write("input/job-1/short.mp4", chunks(b"abcde"), "video/mp4", 6)
    assert await storage.head("input/job-1/big.mp4") is None
    assert await storage.head("input/job-1/short.mp4") is None

    source = tmp_path / "out.mp4"
    source.write_bytes(b"result")
    await storage.upload_file(source, "output/job-1/talk_hushcut.mp4", "video/mp4")
    target = tmp_path / "downloaded" / "x.mp4"
    await storage.download_file("output/job-1/talk_hushcut.mp4", target)
    assert target.read_bytes() == b"result"
    assert await storage.delete_prefix("input/job-1/") == 1
    assert await storage.head(KEY) is None
    await storage.delete("output/job-1/talk_hushcut.mp4")
    await storage.delete("output/job-1/talk_hushcut.mp4")
    assert await storage.head("output/job-1/talk_hushcut.mp4") is None
    with pytest.raises(StorageUnavailable):
        await storage.download_file(KEY, target)


def test_content_disposition_handles_any_name() -> None:
    assert content_disposition("talk.mp4") == (
        "attachment; filename=\"talk.mp4\"; filename*=UTF-8''talk.mp4"
    )
    header = content_disposition('é "quoted";.mp4')
    assert header.startswith('attachment; filename="_ _quoted__.mp4"; ')
    assert header.endswith("filename*=UTF-8''%C3%A9%20%22quoted%22%3B.mp4")


async def test_storage_follows_the_settings(settings: Settings, backend: str) -> None:
    storage = create_storage(settings)
    try:
        expected = S3Storage if backend == "services" else LocalStorage
        assert isinstance(storage, expected)
        await storage.check()
    finally:
        await storage.close()


@pytest.mark.services
async def test_s3_round_trip(tmp_path: Path, settings: Settings) -> None:
    storage = create_storage(settings)
    assert isinstance(storage, S3Storage)
    body = b"\x00\x01video bytes" * 1000
    try:
        upload = await storage.presign_put(KEY, len(body), "video/mp4", 60)
        assert upload.method == "PUT"
        signed = parse_qs(urlsplit(upload.url).query)["X-Amz-SignedHeaders"][0].split(";")
        assert {"content-length", "content-type"} <= set(signed)
        async with httpx.AsyncClient() as client:
            response = await client.put(upload.url, content=body, headers=upload.headers)
            assert response.status_code == 200, response.text
            assert size_and_type(await storage.head(KEY)) == (len(body), "video/mp4")

            download = await storage.presign_get(KEY, 60, filename="my talk.mp4")
            response = await client.get(download.url)
            assert response.status_code == 200
            assert response.content == body
            assert "my%20talk.mp4" in response.headers["content-disposition"]

        source = tmp_path / "result.mp4"
        source.write_bytes(b"result" * 100)
        await storage.upload_file(source, "output/job-1/talk_hushcut.mp4", "video/mp4")
        target = tmp_path / "back" / "result.mp4"
        await storage.download_file("output/job-1/talk_hushcut.mp4", target)
        assert target.read_bytes() == source.read_bytes()

        await storage.delete(KEY)
        assert await storage.head(KEY) is None
        assert await storage.delete_prefix("output/job-1/") == 1
        assert await storage.head("output/job-1/talk_hushcut.mp4") is None
        with pytest.raises(StorageUnavailable):
            await storage.download_file(KEY, target)
    finally:
        await storage.close()


@pytest.mark.services
async def test_s3_unknown_bucket_is_unavailable(
    settings: Settings, services: Services, tmp_path: Path
) -> None:
    storage = create_storage(settings.model_copy(update={"s3_bucket": "no-such-bucket"}))
    source = tmp_path / "result.mp4"
    source.write_bytes(b"result")
    try:
        with pytest.raises(StorageUnavailable, match="no-such-bucket"):
            await storage.check()
        # As after an S3 endpoint came back empty: a failure to retry, like any other.
        with pytest.raises(StorageUnavailable, match="NoSuchBucket"):
            await storage.upload_file(source, "output/job-1/talk_hushcut.mp4", "video/mp4")
    finally:
        await storage.close()
    assert create_bucket(services) != create_bucket(services)


async def test_s3_unreachable_endpoint_is_unavailable(tmp_path: Path) -> None:
    from tests.servers import free_port

    settings = Settings(
        data_dir=tmp_path,
        s3_bucket="b",
        s3_endpoint_url=f"http://127.0.0.1:{free_port()}",
        s3_access_key_id="x",
        s3_secret_access_key="y",
    )
    storage = create_storage(settings)
    assert isinstance(storage, S3Storage)
    try:
        with pytest.raises(StorageUnavailable, match="unreachable"):
            await storage.head(KEY)
        with pytest.raises(StorageUnavailable, match="unreachable"):
            await storage.check()
    finally:
        await storage.close()


def _altered(signature: str) -> str:
    """``signature`` with its last character replaced by a different one."""
    return signature[:-1] + ("1" if signature.endswith("0") else "0")
