"""GraphQL object types of the public contract (docs/schema.graphql), mapped from core models."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import TYPE_CHECKING, Any

import strawberry
from strawberry.scalars import JSON

from hushcut.core import models
from hushcut.core.models import JobStatus, Role

if TYPE_CHECKING:
    from hushcut.api.graphql.context import Context


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
    size_bytes: int = strawberry.field(description="Declared input size in bytes.")
    error: str | None = strawberry.field(description="Why the job failed, for a person.")
    input_duration_s: float | None
    output_duration_s: float | None
    created_at: datetime
    finished_at: datetime | None
    output_key: strawberry.Private[str | None]

    @strawberry.field(
        description="Presigned URL of the output, valid for a limited time (COMPLETED only)."
    )
    async def download_url(self, info: strawberry.Info[Context, None]) -> str | None:
        if self.status is not JobStatus.COMPLETED or not self.output_key:
            return None
        return await info.context.download_url(self.output_key)

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
            size_bytes=job.size_bytes,
            error=job.error,
            input_duration_s=job.input_duration_s,
            output_duration_s=job.output_duration_s,
            created_at=job.created_at,
            finished_at=job.finished_at,
            output_key=job.output_key,
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

    @strawberry.field(description="The jobs of this page (the edges' nodes).")
    def nodes(self) -> list[Job]:
        return [edge.node for edge in self.edges]


@strawberry.type(description="A person with access to a workspace.")
class Member:
    user_id: strawberry.ID
    email: str
    name: str
    role: Role


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

    @strawberry.field(description="Your role in this workspace.")
    async def role(self, info: strawberry.Info[Context, None]) -> Role:
        return await info.context.role_in(str(self.id))

    @strawberry.field
    async def members(self, info: strawberry.Info[Context, None]) -> list[Member]:
        from hushcut.api import operations

        return await operations.members(info.context, str(self.id))

    @strawberry.field(description="Payments, newest first.")
    async def payments(self, info: strawberry.Info[Context, None]) -> list[Payment]:
        from hushcut.api import operations

        return await operations.payments(info.context, str(self.id))

    @strawberry.field(description="API tokens: all for owners and admins, else your own.")
    async def api_tokens(self, info: strawberry.Info[Context, None]) -> list[ApiToken]:
        from hushcut.api import operations

        return await operations.api_tokens(info.context, str(self.id))

    @strawberry.field(description="Jobs, newest first; at most 100 per page.")
    async def jobs(
        self,
        info: strawberry.Info[Context, None],
        first: int = 20,
        after: str | None = None,
        status: JobStatus | None = None,
    ) -> JobConnection:
        from hushcut.api import operations

        return await operations.jobs_page(info.context, str(self.id), first, after, status)

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

    @strawberry.field(description="Workspaces you can use with the current credentials.")
    async def workspaces(self, info: strawberry.Info[Context, None]) -> list[Workspace]:
        from hushcut.api import operations

        return await operations.my_workspaces(info.context)


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
