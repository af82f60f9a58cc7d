"""Hushcut's configuration: one typed object, read from the environment in one place.

Nothing here runs at import time. Call :func:`load_settings` (or build
:class:`Settings` directly in tests). Every production variable that is unset falls back
to the embedded default under the data directory: SQLite for the database, an in-process
queue and event bus, local-disk storage, an email outbox. docs/configuration.md documents
each variable; a test keeps that page and this class in step.
"""

from __future__ import annotations

import json
import os
import secrets
from ipaddress import ip_network
from pathlib import Path
from typing import Annotated, Any

from pydantic import AliasChoices, BaseModel, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


class CreditPack(BaseModel):
    """A credit pack sold through Stripe Checkout: a Stripe price and the credits it buys."""

    price_id: str
    credits: int = Field(gt=0)


class Settings(BaseSettings):
    """Every setting of the platform, each read from the environment variable of its name in
    capitals (``database_url`` from ``DATABASE_URL``); only ``data_dir`` has a prefixed one,
    ``HUSHCUT_DATA_DIR`` (see :meth:`environment_variables`)."""

    model_config = SettingsConfigDict(
        env_file=None,
        extra="ignore",
        populate_by_name=True,
        case_sensitive=False,
    )

    # --- embedded state -----------------------------------------------------------------
    data_dir: Path = Field(
        default=Path(".hushcut"),
        validation_alias="HUSHCUT_DATA_DIR",
        description="Directory for embedded state: SQLite file, local storage, outbox, keys.",
    )

    # --- database -----------------------------------------------------------------------
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL. postgres:// and postgresql:// are rewritten to asyncpg. "
        "Unset: SQLite file <data_dir>/hushcut.db.",
    )
    database_pool_size: int = Field(
        default=40,
        ge=1,
        description="PostgreSQL connections a process keeps open for reuse.",
    )
    database_max_overflow: int = Field(
        default=20,
        ge=0,
        description="Connections a process may open beyond the pool under peaks.",
    )

    # --- queue and events ---------------------------------------------------------------
    redis_url: str | None = Field(
        default=None,
        description="Redis for the task queue, live job events and shared rate limits. "
        "Unset: in-process queue and events (one process only).",
    )

    # --- storage ------------------------------------------------------------------------
    # Each S3 setting also answers to the name Cloudflare's R2 guides use (the seed
    # deployment's), listed second: the S3 name wins when both are set.
    s3_bucket: str | None = Field(
        default=None,
        validation_alias=AliasChoices("S3_BUCKET", "R2_BUCKET_NAME"),
        description="Bucket for uploads and outputs. Unset: local storage under the data dir.",
    )
    s3_endpoint_url: str | None = Field(
        default=None,
        description="S3-compatible endpoint, e.g. https://<account>.r2.cloudflarestorage.com.",
    )
    r2_account_id: str | None = Field(
        default=None,
        description="Cloudflare account id: the endpoint becomes "
        "https://<id>.r2.cloudflarestorage.com unless S3_ENDPOINT_URL is set.",
    )
    s3_region: str = Field(default="auto")
    s3_access_key_id: str | None = Field(
        default=None, validation_alias=AliasChoices("S3_ACCESS_KEY_ID", "R2_ACCESS_KEY_ID")
    )
    s3_secret_access_key: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices("S3_SECRET_ACCESS_KEY", "R2_SECRET_ACCESS_KEY"),
    )
    upload_url_ttl_s: int = Field(
        default=900,
        description="Lifetime of presigned upload URLs, seconds.",
    )
    download_url_ttl_s: int = Field(
        default=3600,
        description="Lifetime of presigned download URLs, seconds.",
    )
    max_upload_bytes: int = Field(
        default=20 * 1024**3,
        gt=0,
        description="Largest accepted upload, bytes.",
    )
    multipart_upload_ttl_s: int = Field(
        default=24 * 3600,
        gt=0,
        description="Time an upload in parts may take from its start to confirmUpload, "
        "seconds; after it the upload is aborted and its job canceled.",
    )

    # --- retention ----------------------------------------------------------------------
    input_retention_hours: float = Field(
        default=24,
        gt=0,
        description="Hours an upload is kept after its job reaches a final state.",
    )
    output_retention_days: float = Field(
        default=30,
        gt=0,
        description="Days a result is kept after its job completed (Job.expiresAt).",
    )
    sweep_interval_s: int = Field(
        default=300,
        ge=1,
        description="Seconds between two runs of each retention sweep (hushcut scheduler).",
    )

    # --- teams --------------------------------------------------------------------------
    invitation_ttl_hours: float = Field(
        default=168,
        gt=0,
        description="Hours an invitation link stays valid.",
    )

    # --- email --------------------------------------------------------------------------
    resend_api_key: SecretStr | None = Field(
        default=None,
        description="Resend API key. Unset: emails go to the outbox table and the log.",
    )
    resend_base_url: str = Field(default="https://api.resend.com")
    email_from: str = Field(default="Hushcut <noreply@hushcut.local>")

    # --- web ----------------------------------------------------------------------------
    app_url: str = Field(
        default="http://127.0.0.1:8000",
        description="Public base URL of the API; used in emails, OAuth redirects, local URLs.",
    )
    host: str = Field(default="127.0.0.1")
    port: int = Field(default=8000)
    session_secret: SecretStr | None = Field(
        default=None,
        description="Signs session cookies and local-storage URLs. Unset: a random key kept "
        "in <data_dir>/secret.key.",
    )

    # --- sign-in ------------------------------------------------------------------------
    google_client_id: str | None = Field(default=None)
    google_client_secret: SecretStr | None = Field(default=None)
    oidc_issuer: str = Field(
        default="https://accounts.google.com",
        description="OpenID Connect issuer whose discovery document is used for sign-in.",
    )

    # --- billing ------------------------------------------------------------------------
    stripe_secret_key: SecretStr | None = Field(
        default=None,
        description="Stripe secret key. Unset: billing is disabled.",
    )
    stripe_webhook_secret: SecretStr | None = Field(default=None)
    stripe_api_base: str | None = Field(
        default=None,
        description="Override Stripe's API base URL (tests point it at a local fake).",
    )
    credit_packs: Annotated[dict[str, CreditPack], NoDecode] = Field(
        default_factory=dict,
        description='JSON object: pack name -> {"price_id": ..., "credits": N}.',
    )
    default_credit_pack: str | None = Field(default=None)
    starter_credits: int = Field(
        default=5,
        ge=0,
        description="Credits a new workspace starts with.",
    )

    # --- workers ------------------------------------------------------------------------
    worker_concurrency: int = Field(
        default=2,
        ge=1,
        description="Jobs one worker process runs at once.",
    )
    workspace_max_running: int = Field(
        default=2,
        ge=1,
        description="Jobs of one workspace running at once across all workers.",
    )
    job_lease_s: float = Field(
        default=30.0,
        gt=0,
        description="How long a worker's claim on a job lasts without renewal, seconds.",
    )
    job_max_attempts: int = Field(
        default=3,
        ge=1,
        description="Attempts before a job that keeps failing is marked FAILED.",
    )
    review_ttl_hours: float = Field(
        default=72.0,
        gt=0,
        description="Hours a job waits in REVIEW before it is canceled and refunded.",
    )
    max_input_duration_s: float = Field(
        default=4 * 3600,
        gt=0,
        description="Longest input accepted, seconds of media; longer ones fail at probe "
        "(refunded).",
    )
    job_time_budget_factor: float = Field(
        default=4.0,
        gt=0,
        description="Seconds of processing a job may take per second of its input's "
        "duration before it is stopped and failed (refunded).",
    )
    job_time_budget_min_s: float = Field(
        default=300.0,
        ge=0,
        description="Processing time every job may take whatever its duration, seconds.",
    )
    storage_outage_budget_s: float = Field(
        default=300.0,
        ge=0,
        description="How long a running job waits for storage to answer again before it "
        "fails; jobs not yet started wait as long as it takes.",
    )

    # --- operations ---------------------------------------------------------------------
    log_level: str = Field(default="INFO")
    log_json: bool = Field(
        default=False,
        description="Structured JSON logs (on in production).",
    )
    rate_limit_per_minute: int = Field(
        default=600,
        ge=1,
        description="Requests per minute allowed per token, per signed-in user and per "
        "client address.",
    )
    graphql_max_request_bytes: int = Field(
        default=64 * 1024,
        ge=1024,
        description="Largest GraphQL request accepted, bytes: the document (comments "
        "included) and its variables together, over HTTP and websockets.",
    )
    trusted_proxies: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Comma-separated addresses or networks (CIDR) of the reverse proxies "
        "whose X-Forwarded-For names the client. Unset: the header is ignored.",
    )

    @field_validator("credit_packs", mode="before")
    @classmethod
    def _parse_packs(cls, value: Any) -> Any:
        if isinstance(value, str):
            return json.loads(value) if value.strip() else {}
        return value

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _parse_proxies(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = [part.strip() for part in value.split(",") if part.strip()]
        for entry in value:
            ip_network(entry, strict=False)  # ValueError names the bad entry
        return value

    @field_validator("database_url", mode="after")
    @classmethod
    def _async_driver(cls, value: str | None) -> str | None:
        if value is None:
            return None
        for prefix in ("postgres://", "postgresql://"):
            if value.startswith(prefix):
                return "postgresql+asyncpg://" + value[len(prefix) :]
        return value

    @model_validator(mode="after")
    def _r2_endpoint(self) -> Settings:
        if self.s3_endpoint_url is None and self.r2_account_id:
            self.s3_endpoint_url = f"https://{self.r2_account_id}.r2.cloudflarestorage.com"
        return self

    @classmethod
    def environment_variables(cls) -> dict[str, str]:
        """Field name -> the environment variable it is read from (the first of its names)."""
        return {name: names[0] for name, names in cls.environment_names().items()}

    @classmethod
    def environment_names(cls) -> dict[str, list[str]]:
        """Field name -> every environment variable it is read from, preferred first."""
        names: dict[str, list[str]] = {}
        for name, info in cls.model_fields.items():
            alias = info.validation_alias
            if isinstance(alias, str):
                names[name] = [alias]
            elif isinstance(alias, AliasChoices):
                names[name] = [str(choice) for choice in alias.choices]
            else:
                names[name] = [name.upper()]
        return names

    # --- derived values -----------------------------------------------------------------
    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'hushcut.db').resolve()}"

    @property
    def is_sqlite(self) -> bool:
        return self.resolved_database_url.startswith("sqlite")

    @property
    def storage_dir(self) -> Path:
        return self.data_dir / "storage"

    @property
    def billing_enabled(self) -> bool:
        return self.stripe_secret_key is not None

    @property
    def google_enabled(self) -> bool:
        return self.google_client_id is not None and self.google_client_secret is not None

    def secret_key(self) -> bytes:
        """The key that signs sessions and local URLs, created once per data directory."""
        if self.session_secret is not None:
            return self.session_secret.get_secret_value().encode()
        from hushcut.core.datadir import SECRET_KEY_FILE, prepare_data_dir

        prepare_data_dir(self.data_dir)
        path = self.data_dir / SECRET_KEY_FILE
        if not path.exists():
            # Written to a private temporary file and linked into place, so concurrent
            # processes sharing the data directory agree on one key.
            tmp = path.with_name(f"secret.key.{os.getpid()}.tmp")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as handle:
                handle.write(secrets.token_hex(32))
            try:
                os.link(tmp, path)
            except FileExistsError:
                pass
            finally:
                tmp.unlink()
        return path.read_bytes().strip()


def load_settings(data_dir: Path | str | None = None, **overrides: Any) -> Settings:
    """Read settings from the environment; ``data_dir`` (a ``--data-dir`` option) wins."""
    if data_dir is not None:
        overrides["data_dir"] = Path(data_dir)
    return Settings(**overrides)
