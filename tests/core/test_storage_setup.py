"""`hushcut storage cors` and `hushcut storage check` against the S3 endpoint (moto) and
local storage, the R2 variable names, and the rules a browser needs."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from click.testing import CliRunner

from hushcut.core.cli import storage
from hushcut.core.settings import Settings
from hushcut.core.storage_setup import cors_problem, cors_rule
from tests.conftest import Services
from tests.platform import settings_env

ORIGIN = "https://app.example.com"


def r2_env(settings: Settings) -> dict[str, str | None]:
    """The environment of a deployment that names its bucket the R2 way."""
    env: dict[str, str | None] = {**settings_env(settings)}
    for s3_name, r2_name in [
        ("S3_BUCKET", "R2_BUCKET_NAME"),
        ("S3_ACCESS_KEY_ID", "R2_ACCESS_KEY_ID"),
        ("S3_SECRET_ACCESS_KEY", "R2_SECRET_ACCESS_KEY"),
    ]:
        env[r2_name] = env.pop(s3_name)
        env[s3_name] = None
    return env


def bucket_client(services: Services) -> Any:
    return boto3.client(
        "s3",
        endpoint_url=services.s3.url,
        region_name=services.s3.region,
        aws_access_key_id=services.s3.access_key,
        aws_secret_access_key=services.s3.secret_key,
    )


def lines(output: str) -> list[tuple[str, str]]:
    """(status, check name) of each line of `storage check`."""
    found = []
    for line in output.strip().splitlines():
        status, _, rest = line.partition("  ")
        found.append((status.strip(), rest.strip().split(":", 1)[0]))
    return found


@pytest.mark.services
def test_check_then_cors_then_check_passes(settings: Settings, services: Services) -> None:
    runner = CliRunner()
    env = r2_env(settings)
    client = bucket_client(services)
    other = {
        "ID": "partner",
        "AllowedOrigins": ["https://partner.example"],
        "AllowedMethods": ["GET"],
    }
    client.put_bucket_cors(Bucket=settings.s3_bucket, CORSConfiguration={"CORSRules": [other]})

    before = runner.invoke(storage, ["check", "--origin", ORIGIN], env=env)
    assert before.exit_code == 1, before.output
    assert lines(before.output) == [
        ("ok", "credentials"),
        ("ok", "bucket"),
        ("FAIL", "cors"),
        ("ok", "presigned PUT"),
        ("ok", "presigned GET"),
        ("ok", "cleanup"),
    ]
    assert f"no rule allows the origin {ORIGIN}" in before.output
    assert f"run `hushcut storage cors --origin {ORIGIN}`" in before.output

    done = runner.invoke(storage, ["cors", "--origin", ORIGIN + "/some/page"], env=env)
    assert done.exit_code == 0, done.output
    assert done.output.strip() == (
        f"bucket {settings.s3_bucket}: {ORIGIN} may PUT, GET, HEAD objects"
    )
    rules = client.get_bucket_cors(Bucket=settings.s3_bucket)["CORSRules"]
    assert sorted(rule["ID"] for rule in rules) == ["hushcut", "partner"]

    after = runner.invoke(storage, ["check", "--origin", ORIGIN], env=env)
    assert after.exit_code == 0, after.output
    assert [status for status, _ in lines(after.output)] == ["ok"] * 6
    # The check leaves nothing behind.
    assert client.list_objects_v2(Bucket=settings.s3_bucket).get("KeyCount", 0) == 0


@pytest.mark.services
def test_check_names_a_missing_bucket(settings: Settings) -> None:
    env = {**r2_env(settings), "R2_BUCKET_NAME": "no-such-bucket-here"}
    result = CliRunner().invoke(storage, ["check"], env=env)
    assert result.exit_code == 1
    assert lines(result.output) == [("ok", "credentials"), ("FAIL", "bucket")]
    assert "no-such-bucket-here: NoSuchBucket" in result.output


@pytest.mark.embedded
def test_local_storage_needs_no_cors(settings: Settings) -> None:
    env = settings_env(settings)
    result = CliRunner().invoke(storage, ["check"], env=env)
    assert result.exit_code == 0, result.output
    assert lines(result.output) == [("ok", "directory"), ("ok", "signed URLs")]
    cors = CliRunner().invoke(storage, ["cors", "--origin", ORIGIN], env=env)
    assert cors.exit_code == 1
    assert cors.output.startswith("Error: storage is the local directory")
    assert len(cors.output.strip().splitlines()) == 1


def test_r2_names_configure_the_bucket(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {
        "R2_ACCOUNT_ID": "0123abcd",
        "R2_ACCESS_KEY_ID": "r2-key",
        "R2_SECRET_ACCESS_KEY": "r2-secret",
        "R2_BUCKET_NAME": "hushcut-media",
    }.items():
        monkeypatch.setenv(name, value)
    settings = Settings()
    assert settings.s3_endpoint_url == "https://0123abcd.r2.cloudflarestorage.com"
    assert (settings.s3_bucket, settings.s3_access_key_id) == ("hushcut-media", "r2-key")
    assert settings.s3_secret_access_key is not None
    assert settings.s3_secret_access_key.get_secret_value() == "r2-secret"
    # The S3 names win where both are set; an explicit endpoint wins over the account.
    monkeypatch.setenv("S3_BUCKET", "other")
    monkeypatch.setenv("S3_ENDPOINT_URL", "https://minio.internal:9000")
    settings = Settings()
    assert (settings.s3_bucket, settings.s3_endpoint_url) == (
        "other",
        "https://minio.internal:9000",
    )


def test_what_a_browser_needs_from_the_cors_rules() -> None:
    ours = cors_rule([ORIGIN, "http://127.0.0.1:8000/"])
    assert ours["AllowedOrigins"] == ["http://127.0.0.1:8000", ORIGIN]
    assert cors_problem([ours], ORIGIN) is None
    assert cors_problem([], ORIGIN) == "the bucket has no CORS rule"
    assert cors_problem([ours], "https://evil.example") == (
        "no rule allows the origin https://evil.example"
    )
    wildcard = {**ours, "AllowedOrigins": ["https://*.example.com"], "AllowedHeaders": ["*"]}
    assert cors_problem([wildcard], ORIGIN) is None
    get_only = {**ours, "AllowedMethods": ["GET"], "ExposeHeaders": []}
    assert cors_problem([get_only], ORIGIN) == (f"the rule for {ORIGIN} lacks PUT, expose ETag")
