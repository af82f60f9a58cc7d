"""SQLAlchemy models of the platform: the schema Alembic migrations create."""

from __future__ import annotations

import enum
import uuid
from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    Dialect,
    Enum,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

# Stable constraint names, so migrations can refer to them on every database.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_id() -> str:
    return str(uuid.uuid4())


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC datetime on every database.

    PostgreSQL keeps ``timestamptz``; SQLite has no time zones, so values are stored as
    naive UTC and made aware again when read. Naive values are refused on the way in,
    because guessing their zone is how timestamps silently shift.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: use an aware UTC datetime")
        value = value.astimezone(UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def _enum(enum_class: type[enum.Enum], length: int = 32) -> Enum:
    # Stored as plain strings (no native ENUM, no CHECK), so adding a member is a code
    # change rather than a migration on PostgreSQL.
    return Enum(
        enum_class,
        native_enum=False,
        create_constraint=False,
        length=length,
        values_callable=lambda members: [member.value for member in members],
        validate_strings=True,
    )


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: UTCDateTime()}


class Role(enum.StrEnum):
    OWNER = "owner"
    ADMIN = "admin"
    MEMBER = "member"


class JobStatus(enum.StrEnum):
    PENDING = "PENDING"
    QUEUED = "QUEUED"
    PROCESSING = "PROCESSING"
    #: Analyzed and waiting for ``renderJob`` (confirmed with review); not final.
    REVIEW = "REVIEW"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    CANCELED = "CANCELED"

    @property
    def is_final(self) -> bool:
        return self in FINAL_STATUSES


FINAL_STATUSES = frozenset({JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELED})


class LedgerReason(enum.StrEnum):
    STARTER = "starter"
    JOB_CHARGE = "job_charge"
    JOB_REFUND = "job_refund"
    PAYMENT = "payment"
    ADJUSTMENT = "adjustment"


class EmailStatus(enum.StrEnum):
    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"


class User(Base):
    __tablename__ = "users"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class UserIdentity(Base):
    """A sign-in identity at an OpenID Connect provider: the provider's (issuer, subject)
    names the person for good, whatever their email address becomes."""

    __tablename__ = "user_identities"
    __table_args__ = (UniqueConstraint("issuer", "subject"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    issuer: Mapped[str] = mapped_column(String(255))
    subject: Mapped[str] = mapped_column(String(255))
    #: The address the provider gave at the last sign-in (informative; users.email rules).
    email: Mapped[str] = mapped_column(String(320))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_sign_in_at: Mapped[datetime] = mapped_column(default=utcnow)


class BrowserSession(Base):
    """A signed-in browser. Deleting the row signs it out, whatever its cookie says."""

    __tablename__ = "browser_sessions"

    #: sha256 hex of the session token the cookie carries; the token is never stored.
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    #: Set for a session opened with an API token (``POST /auth/token``): it reaches only
    #: that token's workspace and ends when the token is revoked or deleted.
    api_token_id: Mapped[str | None] = mapped_column(
        ForeignKey("api_tokens.id", ondelete="CASCADE"), index=True, default=None
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column()


class Workspace(Base):
    __tablename__ = "workspaces"
    __table_args__ = (CheckConstraint("credits >= 0", name="credits_not_negative"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(200))
    credits: Mapped[int] = mapped_column(Integer, default=0)
    priority: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Membership(Base):
    __tablename__ = "memberships"

    workspace_id: Mapped[str] = mapped_column(
        ForeignKey("workspaces.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[str] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    role: Mapped[Role] = mapped_column(_enum(Role, 16))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    user: Mapped[User] = relationship(lazy="raise")
    workspace: Mapped[Workspace] = relationship(lazy="raise")


class ApiToken(Base):
    __tablename__ = "api_tokens"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    workspace_id: Mapped[str] = mapped_column(
        ForeignKey("workspaces.id", ondelete="CASCADE"), index=True
    )
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    #: The first characters of the token, shown in listings so people can tell tokens apart.
    prefix: Mapped[str] = mapped_column(String(32))
    #: sha256 hex of the whole token; the token itself is never stored.
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(default=None)
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)


class VideoJob(Base):
    __tablename__ = "video_jobs"
    __table_args__ = (
        Index("ix_video_jobs_workspace_created", "workspace_id", "created_at", "id"),
        Index("ix_video_jobs_status_lease", "status", "lease_expires_at"),
        # The retention sweeps: jobs whose input or output is still stored, by age.
        Index("ix_video_jobs_input_retention", "input_deleted_at", "finished_at"),
        Index("ix_video_jobs_output_retention", "output_deleted_at", "finished_at"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    created_by: Mapped[str | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True, default=None
    )
    status: Mapped[JobStatus] = mapped_column(_enum(JobStatus, 16), default=JobStatus.PENDING)
    stage: Mapped[str | None] = mapped_column(String(64), default=None)
    progress: Mapped[float] = mapped_column(Float, default=0.0)
    options: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    filename: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(255))
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    input_key: Mapped[str] = mapped_column(String(1024))
    #: The storage upload in parts (S3 multipart upload id) the input is arriving by,
    #: until it is completed or aborted; with its part size it is all it takes to go on.
    upload_id: Mapped[str | None] = mapped_column(String(1024), default=None)
    upload_part_size: Mapped[int | None] = mapped_column(BigInteger, default=None)
    #: The input's ETag when its upload was confirmed: a worker refuses a replaced input.
    input_etag: Mapped[str | None] = mapped_column(String(255), default=None)
    output_key: Mapped[str | None] = mapped_column(String(1024), default=None)
    input_duration_s: Mapped[float | None] = mapped_column(Float, default=None)
    output_duration_s: Mapped[float | None] = mapped_column(Float, default=None)
    error: Mapped[str | None] = mapped_column(Text, default=None)
    #: Claims by workers since the job was last queued by a person (confirm or retry).
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    #: Credits charged over the job's life; the n-th charge's ledger reference is "<id>:<n>".
    charges: Mapped[int] = mapped_column(Integer, default=0)
    lease_owner: Mapped[str | None] = mapped_column(String(200), default=None)
    lease_expires_at: Mapped[datetime | None] = mapped_column(default=None)
    #: Confirmed with review: the worker analyzes only and the job waits in REVIEW.
    review: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    #: When a job waiting in REVIEW is canceled and refunded (None outside REVIEW).
    review_expires_at: Mapped[datetime | None] = mapped_column(default=None)
    #: Timeline exports in storage, by exporter name (``"fcpxml"`` -> key), written with
    #: the analysis (REVIEW) or the output (COMPLETED) they describe; None for jobs
    #: older than exports.
    exports: Mapped[dict[str, str] | None] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    queued_at: Mapped[datetime | None] = mapped_column(default=None)
    started_at: Mapped[datetime | None] = mapped_column(default=None)
    finished_at: Mapped[datetime | None] = mapped_column(default=None)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    #: When the input (and any upload in progress) was removed from storage: by
    #: retention, an abandoned upload's cancel, or deleting the job.
    input_deleted_at: Mapped[datetime | None] = mapped_column(default=None)
    #: When the output and derived objects were removed (retention or deletion).
    output_deleted_at: Mapped[datetime | None] = mapped_column(default=None)
    #: When a person deleted the job: it is gone from every listing and lookup, but the
    #: row stays so the credit ledger keeps naming the job it charged.
    deleted_at: Mapped[datetime | None] = mapped_column(default=None)

    @property
    def charge_reference(self) -> str | None:
        """Ledger reference of the current charge, or None if the job was never charged."""
        return f"{self.id}:{self.charges}" if self.charges else None


class JobRequirement(Base):
    """One capability a job needs from the worker that runs it (``detector:vad``...)."""

    __tablename__ = "job_requirements"

    job_id: Mapped[str] = mapped_column(
        ForeignKey("video_jobs.id", ondelete="CASCADE"), primary_key=True
    )
    capability: Mapped[str] = mapped_column(String(200), primary_key=True)


class JobAnalysis(Base):
    """What the worker found in a job's input: levels, silences, the planned keep list
    and where its waveform peaks are stored. One per job (a new analysis replaces it)."""

    __tablename__ = "job_analyses"

    job_id: Mapped[str] = mapped_column(
        ForeignKey("video_jobs.id", ondelete="CASCADE"), primary_key=True
    )
    duration_s: Mapped[float] = mapped_column(Float)
    detector: Mapped[str] = mapped_column(String(200))
    #: Levels in dBFS; None when the detector does not measure them.
    threshold_db: Mapped[float | None] = mapped_column(Float, default=None)
    noise_floor_db: Mapped[float | None] = mapped_column(Float, default=None)
    speech_db: Mapped[float | None] = mapped_column(Float, default=None)
    #: ``[[start, end], ...]`` seconds.
    silences: Mapped[list[list[float]]] = mapped_column(JSON)
    #: The planned keep list, ``[[start, end, speed], ...]``.
    segments: Mapped[list[list[float]]] = mapped_column(JSON)
    #: Storage key of the waveform peaks JSON (wavesurfer.js's ``peaks``).
    peaks_key: Mapped[str] = mapped_column(String(1024))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class JobTimeline(Base):
    """The segments a job renders (queued by ``renderJob`` or planned) and, once it is
    COMPLETED, what its output was rendered from: ``[[start, end, speed], ...]``."""

    __tablename__ = "job_timelines"

    job_id: Mapped[str] = mapped_column(
        ForeignKey("video_jobs.id", ondelete="CASCADE"), primary_key=True
    )
    segments: Mapped[list[list[float]]] = mapped_column(JSON)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class WorkerRecord(Base):
    """A worker that started, with what it offers; alive while ``expires_at`` is ahead."""

    __tablename__ = "workers"

    id: Mapped[str] = mapped_column(String(200), primary_key=True)
    #: The worker's :class:`~hushcut.core.capabilities.WorkerOffer` as JSON.
    offer: Mapped[dict[str, Any]] = mapped_column(JSON)
    offer_digest: Mapped[str] = mapped_column(String(64))
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    heartbeat_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(index=True)


class CreditLedgerEntry(Base):
    __tablename__ = "credit_ledger"
    __table_args__ = (
        UniqueConstraint("reason", "reference"),
        Index("ix_credit_ledger_workspace_created", "workspace_id", "created_at", "id"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    delta: Mapped[int] = mapped_column(Integer)
    reason: Mapped[LedgerReason] = mapped_column(_enum(LedgerReason, 32))
    #: What the movement is for (job charge "<job>:<n>", payment intent id...). Together
    #: with the reason it is unique, which is what makes every movement apply once.
    reference: Mapped[str] = mapped_column(String(255))
    note: Mapped[str | None] = mapped_column(String(500), default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    #: The workspace's balance right after this movement.
    balance_after: Mapped[int] = mapped_column(Integer)
    #: The job a charge or refund is for, the payment a purchase is for.
    job_id: Mapped[str | None] = mapped_column(
        ForeignKey("video_jobs.id", ondelete="SET NULL"), default=None
    )
    payment_id: Mapped[str | None] = mapped_column(
        ForeignKey("payments.id", ondelete="SET NULL"), default=None
    )

    job: Mapped[VideoJob | None] = relationship(lazy="raise")
    payment: Mapped[Payment | None] = relationship(lazy="raise")


class Payment(Base):
    __tablename__ = "payments"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    workspace_id: Mapped[str] = mapped_column(
        ForeignKey("workspaces.id", ondelete="CASCADE"), index=True
    )
    provider: Mapped[str] = mapped_column(String(32), default="stripe")
    #: Stripe payment intent id: the one identifier every event about a payment shares.
    provider_payment_id: Mapped[str] = mapped_column(String(255), unique=True)
    checkout_session_id: Mapped[str | None] = mapped_column(String(255), default=None)
    credits: Mapped[int] = mapped_column(Integer)
    amount: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(8))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class WebhookEvent(Base):
    __tablename__ = "webhook_events"
    __table_args__ = (UniqueConstraint("provider", "event_id"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    provider: Mapped[str] = mapped_column(String(32))
    event_id: Mapped[str] = mapped_column(String(255))
    event_type: Mapped[str] = mapped_column(String(255))
    received_at: Mapped[datetime] = mapped_column(default=utcnow)


class EmailOutbox(Base):
    __tablename__ = "email_outbox"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    idempotency_key: Mapped[str] = mapped_column(String(255), unique=True)
    to_address: Mapped[str] = mapped_column(String(320))
    subject: Mapped[str] = mapped_column(String(500))
    text: Mapped[str] = mapped_column(Text)
    html: Mapped[str | None] = mapped_column(Text, default=None)
    status: Mapped[EmailStatus] = mapped_column(_enum(EmailStatus, 16), default=EmailStatus.SENT)
    error: Mapped[str | None] = mapped_column(Text, default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Invitation(Base):
    """An invitation to join a workspace, sent by email as a link holding a secret token.

    Only the token's sha256 is stored. It works once (``accepted_at``), until
    ``expires_at``, unless revoked, and only for a person signed in with ``email``.
    """

    __tablename__ = "invitations"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    workspace_id: Mapped[str] = mapped_column(
        ForeignKey("workspaces.id", ondelete="CASCADE"), index=True
    )
    #: The invited address, normalised (lower case).
    email: Mapped[str] = mapped_column(String(320))
    role: Mapped[Role] = mapped_column(_enum(Role, 16))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    invited_by: Mapped[str | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), default=None
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column()
    accepted_at: Mapped[datetime | None] = mapped_column(default=None)
    accepted_by: Mapped[str | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), default=None
    )
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)


class StoragePurge(Base):
    """Objects under ``prefix`` to delete (again) once ``not_before`` has passed.

    Deleting a job or a workspace removes its objects at once; a purge catches what a
    writer still holding a valid presigned URL, or a worker that has not yet noticed its
    job is gone, may put there afterwards.
    """

    __tablename__ = "storage_purges"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    prefix: Mapped[str] = mapped_column(String(1024))
    not_before: Mapped[datetime] = mapped_column(index=True)
    reason: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
