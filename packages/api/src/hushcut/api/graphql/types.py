"""GraphQL types of the public contract (docs/schema.graphql) and their field resolvers.

Each resolver is thin: it calls a service in :mod:`hushcut.core` (through the context's
session or DataLoaders) and maps the result to these types.
"""

from __future__ import annotations

import enum
from dataclasses import replace
from datetime import datetime
from typing import Any, NewType

import strawberry
from strawberry.scalars import JSON

from hushcut.api import operations
from hushcut.api.cursors import decode_cursor, encode_cursor
from hushcut.api.graphql.context import Info
from hushcut.api.graphql.fields import field
from hushcut.core import models
from hushcut.core.errors import BadUserInput, Forbidden
from hushcut.core.events import JobEvent
from hushcut.core.models import JobStatus, LedgerReason, Role, utcnow
from hushcut.core.services import credits as credit_service
from hushcut.core.services import deletion as deletion_service
from hushcut.core.services import jobs as job_service
from hushcut.core.services import workspaces as workspace_service
from hushcut.core.services.auth import MANAGERS
from hushcut.core.services.paging import Page, Position
from hushcut.core.services.retention import RetentionPolicy
from hushcut.core.storage import PresignedRequest, plan_parts


def _parse_long(value: object) -> int:
    # JSON numbers may arrive as floats (JavaScript has no integers): whole ones count.
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"Long cannot represent a non-integer value: {value!r}")
    if not LONG_MIN <= value <= LONG_MAX:
        raise ValueError(f"Long cannot represent a value outside 64 bits: {value}")
    return value


LONG_MIN, LONG_MAX = -(2**63), 2**63 - 1
#: A 64-bit integer; the schema maps it to the scalar below (StrawberryConfig.scalar_map).
Long = NewType("Long", int)
LONG_SCALAR = strawberry.scalar(
    name="Long",
    description="A whole number from -2^63 to 2^63-1, written as a JSON number: sizes "
    "in bytes, which outgrow Int (2^31-1, 2 GiB). Clients in JavaScript read it exactly "
    "up to 2^53 (8 PiB).",
    serialize=int,
    parse_value=_parse_long,
)

# The core enums are the GraphQL enums: one definition, no mapping to keep in step.
strawberry.enum(
    JobStatus,
    name="JobStatus",
    description="Where a job is in its life; COMPLETED, FAILED, CANCELED are final. "
    "REVIEW (not final): analyzed, waiting for renderJob.",
)
strawberry.enum(
    Role,
    name="Role",
    description="A member's role: owners and admins manage members and billing.",
)
strawberry.enum(
    LedgerReason,
    name="LedgerReason",
    description="Why credits moved: STARTER (a new workspace's credits), JOB_CHARGE, "
    "JOB_REFUND, PAYMENT (a credit pack bought), ADJUSTMENT (by an operator).",
)


@strawberry.enum(description="How the output is cut: SMART copies untouched video, REENCODE all.")
class CutMode(enum.Enum):
    SMART = "smart"
    REENCODE = "reencode"


@strawberry.enum(description="A file format for a job's timeline, for another video editor.")
class ExportFormat(enum.Enum):
    JSON = strawberry.enum_value(
        "json", description="Hushcut's timeline JSON (what `hushcut cut --timeline` reads)."
    )
    FCPXML = strawberry.enum_value("fcpxml", description="Final Cut Pro X (FCPXML).")
    FCP7_XML = strawberry.enum_value(
        "fcp7", description="Final Cut Pro 7 XML: Premiere Pro and DaVinci Resolve import it."
    )
    EDL = strawberry.enum_value("edl", description="CMX 3600 edit decision list.")
    OTIO = strawberry.enum_value("otio", description="OpenTimelineIO.")

    @property
    def exporter(self) -> str:
        """The name of the pipeline exporter that writes this format."""
        return str(self.value)


@strawberry.type(description="A stretch of the input, in seconds.")
class Interval:
    start: float
    end: float


@strawberry.type(
    description="A stretch of the input kept in the output, in seconds, "
    "played at speed (1 = unchanged)."
)
class Segment:
    start: float
    end: float
    speed: float

    @classmethod
    def from_kept(cls, kept: job_service.KeptSegment) -> Segment:
        return cls(start=kept.start, end=kept.end, speed=kept.speed)


@strawberry.input(description="A stretch of the input to keep, in seconds.")
class SegmentInput:
    start: float
    end: float
    speed: float = strawberry.field(
        default=1.0,
        description=f"Playback speed, {job_service.MIN_SPEED:g} to {job_service.MAX_SPEED:g}.",
    )

    def to_kept(self) -> job_service.KeptSegment:
        return job_service.KeptSegment(self.start, self.end, self.speed)


@strawberry.type(description="What the worker found in a job's input, before rendering.")
class Analysis:
    duration_s: float = strawberry.field(description="Duration of the input (seconds).")
    detector: str = strawberry.field(description="The detector that found the silences.")
    threshold_db: float | None = strawberry.field(
        description="Silence threshold used, dBFS (null if the detector measures no levels)."
    )
    noise_floor_db: float | None = strawberry.field(description="Measured noise floor, dBFS.")
    speech_db: float | None = strawberry.field(description="Measured speech level, dBFS.")
    silences: list[Interval]
    segments: list[Segment] = strawberry.field(
        description="The planned keep list: what renderJob renders with segments null."
    )
    peaks_key: strawberry.Private[str]

    @field(
        description="Presigned GET of the waveform peaks JSON, {duration, peaksPerSecond, "
        "peaks: [[0..1, ...]]} (wavesurfer.js's peaks); valid for a limited time."
    )
    async def peaks_url(self, info: Info) -> str:
        return await presigned_get(info, self.peaks_key)

    @classmethod
    def from_model(cls, analysis: models.JobAnalysis) -> Analysis:
        return cls(
            duration_s=analysis.duration_s,
            detector=analysis.detector,
            threshold_db=analysis.threshold_db,
            noise_floor_db=analysis.noise_floor_db,
            speech_db=analysis.speech_db,
            silences=[Interval(start=start, end=end) for start, end in analysis.silences],
            segments=[
                Segment.from_kept(kept)
                for kept in job_service.segments_from_json(analysis.segments)
            ],
            peaks_key=analysis.peaks_key,
        )


#: The statuses in which a job's timeline can be exported and its input fetched.
REVIEWABLE = frozenset({JobStatus.REVIEW, JobStatus.COMPLETED})


@strawberry.type(description="A video processing job of one workspace.")
class Job:
    id: strawberry.ID
    workspace_id: strawberry.ID
    status: JobStatus
    stage: str | None = strawberry.field(description="Current pipeline stage, when running.")
    progress: float = strawberry.field(description="Progress of the whole job, 0..1.")
    filename: str
    content_type: str
    size_bytes: Long = strawberry.field(description="Declared input size in bytes.")
    error: str | None = strawberry.field(description="Why the job failed, for a person.")
    input_duration_s: float | None
    output_duration_s: float | None
    created_at: datetime
    finished_at: datetime | None
    review: bool = strawberry.field(
        description="Confirmed with review: the job stops in REVIEW after its analysis."
    )
    review_expires_at: datetime | None = strawberry.field(
        description="When a job in REVIEW is canceled (and refunded) unless rendered."
    )
    output_key: strawberry.Private[str | None]
    input_deleted_at: strawberry.Private[datetime | None] = None
    output_deleted_at: strawberry.Private[datetime | None] = None
    input_key: strawberry.Private[str]
    exports: strawberry.Private[dict[str, str]]
    upload_id: strawberry.Private[str | None]
    upload_part_size: strawberry.Private[int | None]

    @field(
        description="The upload in parts the input is arriving by (startMultipartUpload), "
        "while the job waits for it (PENDING); null otherwise."
    )
    def multipart_upload(self) -> MultipartUpload | None:
        if self.status is not JobStatus.PENDING or not self.upload_id:
            return None
        return MultipartUpload.of(self)

    @field(
        description="Presigned URL of the output, valid for a limited time; null unless "
        "COMPLETED, and null once the output expired (outputExpired)."
    )
    async def download_url(self, info: Info) -> str | None:
        if self.status is not JobStatus.COMPLETED or not self.output_key:
            return None
        if retention(info).output_expired(self, utcnow()):
            return None
        return await presigned_get(info, self.output_key, named=True)

    @field(
        description="When the output and anything derived from the job's media are deleted "
        "(OUTPUT_RETENTION_DAYS after completion); null unless COMPLETED."
    )
    def expires_at(self, info: Info) -> datetime | None:
        return retention(info).output_expires_at(self)

    @field(
        description="True once the output is gone (its retention ended): downloadUrl is then "
        "null. Upload the video again to get a new one."
    )
    def output_expired(self, info: Info) -> bool:
        return self.status is JobStatus.COMPLETED and retention(info).output_expired(self, utcnow())

    @field(
        description="When the uploaded input is deleted (INPUT_RETENTION_HOURS after the job "
        "reached a final state); null while the job is not final."
    )
    def input_expires_at(self, info: Info) -> datetime | None:
        return retention(info).input_expires_at(self)

    @field(
        description="True once the uploaded input is gone: the job can no longer be retried "
        "(upload the file again)."
    )
    def input_expired(self, info: Info) -> bool:
        return retention(info).input_expired(self, utcnow())

    @field(
        description="Presigned GET of the uploaded input (REVIEW and COMPLETED), to play it "
        "under the waveform while editing; valid for a limited time."
    )
    async def input_url(self, info: Info) -> str | None:
        if self.status not in REVIEWABLE or self.input_deleted_at is not None:
            return None
        return await presigned_get(info, self.input_key)

    @field(description="What the worker found in the input; null until analyzed.")
    async def analysis(self, info: Info) -> Analysis | None:
        row = await info.context.loaders.analyses.load(self.id)
        return None if row is None else Analysis.from_model(row)

    @field(
        description="The segments the output is rendered from (COMPLETED), or will be "
        "(a render queued or running); null before a render was planned."
    )
    async def timeline(self, info: Info) -> list[Segment] | None:
        kept = await info.context.loaders.timelines.load(self.id)
        return None if kept is None else [Segment.from_kept(segment) for segment in kept]

    @field(description="The formats exportUrl can produce for this job (REVIEW, COMPLETED).")
    def export_formats(self) -> list[ExportFormat]:
        if self.status not in REVIEWABLE:
            return []
        return [format for format in ExportFormat if format.exporter in self.exports]

    @field(
        description="Presigned GET of the timeline in an editor's format (REVIEW: the plan; "
        "COMPLETED: what the output holds), referencing the uploaded file by its name; "
        "null in other states."
    )
    async def export_url(self, info: Info, format: ExportFormat) -> str | None:
        if self.status not in REVIEWABLE or self.output_deleted_at is not None:
            return None
        key = self.exports.get(format.exporter)
        if key is None:
            raise BadUserInput(
                f"no {format.name} export for this job: the worker that ran it has no "
                f"{format.exporter!r} exporter"
            )
        return await presigned_get(info, key, named=True)

    @classmethod
    def from_model(cls, job: models.VideoJob) -> Job:
        return cls(
            id=strawberry.ID(job.id),
            workspace_id=strawberry.ID(job.workspace_id),
            status=job.status,
            stage=job.stage,
            progress=job.progress,
            filename=job.filename,
            content_type=job.content_type,
            size_bytes=Long(job.size_bytes),
            error=job.error,
            input_duration_s=job.input_duration_s,
            output_duration_s=job.output_duration_s,
            created_at=job.created_at,
            finished_at=job.finished_at,
            review=job.review,
            review_expires_at=job.review_expires_at,
            output_key=job.output_key,
            input_deleted_at=job.input_deleted_at,
            output_deleted_at=job.output_deleted_at,
            input_key=job.input_key,
            exports=dict(job.exports or {}),
            upload_id=job.upload_id,
            upload_part_size=job.upload_part_size,
        )

    def updated_by(self, event: JobEvent) -> Job:
        """The job as the event describes it (events carry the whole changing state)."""
        return replace(
            self,
            status=event.status,
            stage=event.stage,
            progress=event.progress,
            error=event.error,
            input_duration_s=event.input_duration_s,
            output_duration_s=event.output_duration_s,
            finished_at=event.timestamp if event.is_final else None,
            # Only a job in REVIEW has a deadline (REVIEW events come as the job itself).
            review_expires_at=(
                self.review_expires_at if event.status is JobStatus.REVIEW else None
            ),
        )


@strawberry.type
class PageInfo:
    has_next_page: bool
    end_cursor: str | None

    @classmethod
    def of(cls, page: Page[Any]) -> PageInfo:
        return cls(
            has_next_page=page.has_next,
            end_cursor=None if page.end is None else encode_cursor(page.end),
        )


@strawberry.type
class JobEdge:
    cursor: str
    node: Job


@strawberry.type(description="A page of jobs, newest first.")
class JobConnection:
    edges: list[JobEdge]
    page_info: PageInfo

    @field(description="The jobs of this page (the edges' nodes).")
    def nodes(self) -> list[Job]:
        return [edge.node for edge in self.edges]

    @classmethod
    def from_page(cls, page: job_service.JobPage) -> JobConnection:
        return cls(
            edges=[
                JobEdge(
                    cursor=encode_cursor(job_service.JobPosition.of(row)), node=Job.from_model(row)
                )
                for row in page.items
            ],
            page_info=PageInfo.of(page),
        )


@strawberry.type(description="A person with access to a workspace.")
class Member:
    user_id: strawberry.ID
    email: str
    name: str
    role: Role

    @classmethod
    def from_model(cls, membership: models.Membership, user: models.User) -> Member:
        return cls(
            user_id=strawberry.ID(user.id), email=user.email, name=user.name, role=membership.role
        )


@strawberry.type(description="A completed purchase of credits.")
class Payment:
    id: strawberry.ID
    credits: int
    amount: int = strawberry.field(description="Amount paid in the currency's minor unit.")
    currency: str
    created_at: datetime

    @classmethod
    def from_model(cls, payment: models.Payment) -> Payment:
        return cls(
            id=strawberry.ID(payment.id),
            credits=payment.credits,
            amount=payment.amount,
            currency=payment.currency,
            created_at=payment.created_at,
        )


@strawberry.type(description="A workspace: its credits, members, payments and jobs.")
class Workspace:
    id: strawberry.ID
    name: str
    credits: int
    created_at: datetime

    @field(description="Your role in this workspace.")
    async def role(self, info: Info) -> Role:
        return await info.context.role_in(self.id)

    @field()
    async def members(self, info: Info) -> list[Member]:
        rows = await info.context.loaders.members.load(self.id)
        return [Member.from_model(membership, user) for membership, user in rows]

    @field(description="Payments, newest first.")
    async def payments(self, info: Info) -> list[Payment]:
        rows = await info.context.loaders.payments.load(self.id)
        return [Payment.from_model(row) for row in rows]

    @field(description="API tokens: all for owners and admins, else your own.")
    async def api_tokens(self, info: Info) -> list[ApiToken]:
        rows = await info.context.loaders.api_tokens.load(self.id)
        return [ApiToken.from_model(row) for row in rows]

    @field(description="Invitations not yet accepted, revoked or expired (owners and admins).")
    async def invitations(self, info: Info) -> list[Invitation]:
        ctx = info.context
        if await ctx.role_in(self.id) not in MANAGERS:
            raise Forbidden("only owners and admins see the invitations")
        rows = await ctx.loaders.invitations.load(self.id)
        return [Invitation.from_model(row) for row in rows]

    @field(
        description="The credit movements, newest first: what a billing page shows. "
        f"At most {credit_service.MAX_LEDGER_PAGE} per page."
    )
    async def ledger(
        self, info: Info, first: int = credit_service.DEFAULT_LEDGER_PAGE, after: str | None = None
    ) -> LedgerConnection:
        ctx = info.context
        position = None if after is None else decode_cursor(after)
        page = await ctx.call(credit_service.list_ledger, ctx.actor, self.id, first, position)
        return LedgerConnection.from_page(page)

    @field(
        description="What deleteWorkspace would do, to show before the owner confirms: the "
        "credits that would be forfeited, the jobs canceled and deleted (owners)."
    )
    async def deletion_preview(self, info: Info) -> WorkspaceDeletionPreview:
        ctx = info.context
        preview = await ctx.call(deletion_service.preview_workspace_deletion, ctx.actor, self.id)
        return WorkspaceDeletionPreview(
            forfeited_credits=preview.forfeited_credits,
            unfinished_jobs=preview.unfinished_jobs,
            jobs=preview.jobs,
            members=preview.members,
        )

    @field(description=f"Jobs, newest first; at most {job_service.MAX_PAGE_SIZE} per page.")
    async def jobs(
        self,
        info: Info,
        first: int = job_service.DEFAULT_PAGE_SIZE,
        after: str | None = None,
        status: JobStatus | None = None,
    ) -> JobConnection:
        if first > job_service.MAX_PAGE_SIZE:
            raise BadUserInput(f"first must be at most {job_service.MAX_PAGE_SIZE}")
        ctx = info.context
        position = None if after is None else decode_cursor(after)
        page = await ctx.call(job_service.list_jobs, ctx.actor, self.id, first, position, status)
        return JobConnection.from_page(page)

    @classmethod
    def from_model(cls, workspace: models.Workspace) -> Workspace:
        return cls(
            id=strawberry.ID(workspace.id),
            name=workspace.name,
            credits=workspace.credits,
            created_at=workspace.created_at,
        )


@strawberry.type(description="The signed-in person.")
class User:
    id: strawberry.ID
    email: str
    name: str

    @field(description="Workspaces you can use with the current credentials.")
    async def workspaces(self, info: Info) -> list[Workspace]:
        ctx = info.context
        rows = await ctx.call(workspace_service.list_workspaces, ctx.actor)
        return [Workspace.from_model(row) for row in rows]

    @field(
        description="What deleteAccount would do, to show before you confirm (signed-in "
        "browsers only)."
    )
    async def account_deletion(self, info: Info) -> AccountDeletionPreview:
        ctx = info.context
        preview = await ctx.call(deletion_service.preview_account_deletion, ctx.actor)
        return AccountDeletionPreview(
            allowed=preview.allowed,
            deleted_workspaces=[Workspace.from_model(w) for w in preview.deleted_workspaces],
            left_workspaces=[Workspace.from_model(w) for w in preview.left_workspaces],
            blocking_workspaces=[Workspace.from_model(w) for w in preview.blocking_workspaces],
        )

    @classmethod
    def from_model(cls, user: models.User) -> User:
        return cls(id=strawberry.ID(user.id), email=user.email, name=user.name)


@strawberry.type(description="One HTTP header to send with the upload, exactly as given.")
class Header:
    name: str
    value: str


@strawberry.type(description="Where and how to upload a job's input.")
class UploadTicket:
    job: Job
    url: str
    method: str
    headers: list[Header]
    expires_at: datetime

    @classmethod
    def for_upload(cls, job: models.VideoJob, upload: PresignedRequest) -> UploadTicket:
        return cls(
            job=Job.from_model(job),
            url=upload.url,
            method=upload.method,
            headers=[Header(name=name, value=value) for name, value in upload.headers.items()],
            expires_at=upload.expires_at,
        )


@strawberry.type(
    description="An upload of a job's input in parts: every part but the last has "
    "partSizeBytes bytes. Sign part URLs with signUploadParts, PUT each part, then "
    "confirmUpload. A part can be sent again alone; an interrupted upload resumes "
    "with the parts uploadedParts lists."
)
class MultipartUpload:
    job: Job
    part_size_bytes: Long
    part_count: int = strawberry.field(description="Parts 1 to partCount make the file.")

    @field(description="The parts storage holds now, by number (to resume an upload).")
    async def uploaded_parts(self, info: Info) -> list[UploadedPart]:
        parts = await operations.uploaded_parts(info.context, self.job.input_key, self.upload())
        return [UploadedPart(part_number=p.number, size_bytes=Long(p.size)) for p in parts]

    def upload(self) -> tuple[str, int, int]:
        assert self.job.upload_id is not None
        return self.job.upload_id, int(self.job.size_bytes), int(self.part_size_bytes)

    @classmethod
    def of(cls, job: Job) -> MultipartUpload:
        """The upload in parts of a job that has one."""
        assert job.upload_part_size is not None
        plan = plan_parts(job.size_bytes, job.upload_part_size)
        return cls(job=job, part_size_bytes=Long(plan.part_size), part_count=plan.count)


@strawberry.type(description="A part of an upload in parts that storage holds.")
class UploadedPart:
    part_number: int
    size_bytes: Long


@strawberry.type(
    description="Where and how to upload one part: send exactly sizeBytes bytes of the "
    "file from (partNumber - 1) * partSizeBytes, with this method and these headers. "
    "Storage answers with an ETag header; nothing else needs keeping."
)
class UploadPartRequest:
    part_number: int
    size_bytes: Long
    url: str
    method: str
    headers: list[Header]
    expires_at: datetime

    @classmethod
    def of(cls, number: int, length: int, request: PresignedRequest) -> UploadPartRequest:
        return cls(
            part_number=number,
            size_bytes=Long(length),
            url=request.url,
            method=request.method,
            headers=[Header(name=name, value=value) for name, value in request.headers.items()],
            expires_at=request.expires_at,
        )


@strawberry.type(description="A Stripe Checkout session to send the buyer to.")
class CheckoutSession:
    id: str
    url: str


@strawberry.type(description="A new API token. The token is shown once and cannot be read again.")
class NewApiToken:
    api_token: ApiToken
    token: str


@strawberry.input(description="Silence-removal options; unset fields use the defaults.")
class CutOptionsInput:
    threshold_db: float | None = None
    min_silence_s: float | None = None
    margin_s: float | None = None
    mode: CutMode | None = None
    audio_track: int | None = strawberry.field(
        default=None,
        description=(
            "The audio track to find silences in, counted from 0 among the file's audio "
            "tracks (default: its default track). Every track is cut the same way."
        ),
    )
    plugins: JSON | None = strawberry.field(
        default=None, description="Plugin options: {pluginName: {option: value}}."
    )

    def to_mapping(self) -> dict[str, Any]:
        mapping: dict[str, Any] = {}
        if self.threshold_db is not None:
            mapping["threshold_db"] = self.threshold_db
        if self.min_silence_s is not None:
            mapping["min_silence_s"] = self.min_silence_s
        if self.margin_s is not None:
            mapping["margin_s"] = self.margin_s
        if self.mode is not None:
            mapping["mode"] = self.mode.value
        if self.audio_track is not None:
            mapping["audio_track"] = self.audio_track
        if self.plugins is not None:
            mapping["plugins"] = self.plugins
        return mapping


@strawberry.type(description="An API token, without its secret.")
class ApiToken:
    id: strawberry.ID
    name: str
    prefix: str = strawberry.field(description="The token's first characters, to tell it apart.")
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None

    @classmethod
    def from_model(cls, token: models.ApiToken) -> ApiToken:
        return cls(
            id=strawberry.ID(token.id),
            name=token.name,
            prefix=token.prefix,
            created_at=token.created_at,
            last_used_at=token.last_used_at,
            revoked_at=token.revoked_at,
        )


@strawberry.type(description="An invitation to join a workspace, sent by email.")
class Invitation:
    id: strawberry.ID
    workspace_id: strawberry.ID
    email: str = strawberry.field(description="The invited address (only it can accept).")
    role: Role = strawberry.field(description="The role the invited person gets.")
    created_at: datetime
    expires_at: datetime = strawberry.field(description="After this the link no longer works.")
    accepted_at: datetime | None
    revoked_at: datetime | None

    @classmethod
    def from_model(cls, invitation: models.Invitation) -> Invitation:
        return cls(
            id=strawberry.ID(invitation.id),
            workspace_id=strawberry.ID(invitation.workspace_id),
            email=invitation.email,
            role=invitation.role,
            created_at=invitation.created_at,
            expires_at=invitation.expires_at,
            accepted_at=invitation.accepted_at,
            revoked_at=invitation.revoked_at,
        )


@strawberry.type(description="One movement of a workspace's credits.")
class LedgerEntry:
    id: strawberry.ID
    amount: int = strawberry.field(description="Credits added (positive) or taken (negative).")
    reason: LedgerReason
    note: str | None
    balance_after: int = strawberry.field(description="The balance right after this movement.")
    created_at: datetime
    job_id: strawberry.ID | None = strawberry.field(
        description="The job charged or refunded (kept after the job is deleted)."
    )
    job: Job | None = strawberry.field(description="That job; null once it was deleted.")
    payment: Payment | None = strawberry.field(description="The purchase, for a PAYMENT.")

    @classmethod
    def from_model(cls, entry: models.CreditLedgerEntry) -> LedgerEntry:
        job = entry.job
        return cls(
            id=strawberry.ID(entry.id),
            amount=entry.delta,
            reason=entry.reason,
            note=entry.note,
            balance_after=entry.balance_after,
            created_at=entry.created_at,
            job_id=None if entry.job_id is None else strawberry.ID(entry.job_id),
            job=Job.from_model(job) if job is not None and job.deleted_at is None else None,
            payment=None if entry.payment is None else Payment.from_model(entry.payment),
        )


@strawberry.type
class LedgerEdge:
    cursor: str
    node: LedgerEntry


@strawberry.type(description="A page of credit movements, newest first.")
class LedgerConnection:
    edges: list[LedgerEdge]
    page_info: PageInfo

    @field(description="The movements of this page (the edges' nodes).")
    def nodes(self) -> list[LedgerEntry]:
        return [edge.node for edge in self.edges]

    @classmethod
    def from_page(cls, page: credit_service.LedgerPage) -> LedgerConnection:
        return cls(
            edges=[
                LedgerEdge(cursor=encode_cursor(Position.of(row)), node=LedgerEntry.from_model(row))
                for row in page.items
            ],
            page_info=PageInfo.of(page),
        )


@strawberry.type(description="What deleting a workspace would do.")
class WorkspaceDeletionPreview:
    forfeited_credits: int = strawberry.field(
        description="Credits lost with the workspace: they are not refunded."
    )
    unfinished_jobs: int = strawberry.field(description="Jobs that would be canceled.")
    jobs: int = strawberry.field(description="Jobs whose files would be deleted.")
    members: int = strawberry.field(description="People who would lose access.")


@strawberry.type(description="What deleting your account would do.")
class AccountDeletionPreview:
    allowed: bool = strawberry.field(
        description="False while you are the last owner of a workspace others share."
    )
    deleted_workspaces: list[Workspace] = strawberry.field(
        description="Workspaces where you are the only member: deleted with the account."
    )
    left_workspaces: list[Workspace] = strawberry.field(
        description="Shared workspaces you would leave; they keep your jobs."
    )
    blocking_workspaces: list[Workspace] = strawberry.field(
        description="Shared workspaces where you are the last owner: make someone else an "
        "owner (or delete the workspace) first."
    )


def retention(info: Info) -> RetentionPolicy:
    """The retention policy of this server's settings."""
    return info.context.api.retention


async def presigned_get(info: Info, key: str, *, named: bool = False) -> str:
    """A GET URL of ``key`` valid for DOWNLOAD_URL_TTL_S; ``named``: it downloads under
    the key's file name."""
    api = info.context.api
    filename = key.rsplit("/", 1)[-1] if named else None
    presigned = await api.runtime.storage.presign_get(
        key, api.settings.download_url_ttl_s, filename=filename
    )
    return presigned.url
