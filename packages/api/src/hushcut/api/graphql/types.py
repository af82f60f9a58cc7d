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
from hushcut.core.errors import BadUserInput
from hushcut.core.events import JobEvent
from hushcut.core.models import JobStatus, Role
from hushcut.core.services import jobs as job_service
from hushcut.core.services import workspaces as workspace_service
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
    description="Where a job is in its life; COMPLETED, FAILED, CANCELED are final.",
)
strawberry.enum(
    Role,
    name="Role",
    description="A member's role: owners and admins manage members and billing.",
)


@strawberry.enum(description="How the output is cut: SMART copies untouched video, REENCODE all.")
class CutMode(enum.Enum):
    SMART = "smart"
    REENCODE = "reencode"


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
    output_key: strawberry.Private[str | None]
    input_key: strawberry.Private[str]
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

    @field(description="Presigned URL of the output, valid for a limited time (COMPLETED only).")
    async def download_url(self, info: Info) -> str | None:
        if self.status is not JobStatus.COMPLETED or not self.output_key:
            return None
        api = info.context.api
        filename = self.output_key.rsplit("/", 1)[-1]
        presigned = await api.runtime.storage.presign_get(
            self.output_key, api.settings.download_url_ttl_s, filename=filename
        )
        return presigned.url

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
            output_key=job.output_key,
            input_key=job.input_key,
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
        )


@strawberry.type
class PageInfo:
    has_next_page: bool
    end_cursor: str | None


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
            page_info=PageInfo(
                has_next_page=page.has_next,
                end_cursor=None if page.end is None else encode_cursor(page.end),
            ),
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
