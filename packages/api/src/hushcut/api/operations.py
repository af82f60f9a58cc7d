"""What each GraphQL field does: a thin mapping from arguments to core services and back."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from typing import Any, TypeVar

import strawberry

from hushcut.api.cursors import decode_cursor, encode_cursor
from hushcut.api.graphql.context import Context
from hushcut.api.graphql.errors import INTERNAL_CODE, MASKED_MESSAGE, ApiError, as_graphql_error
from hushcut.api.graphql.types import (
    ApiToken,
    CheckoutSession,
    CutOptionsInput,
    Header,
    Job,
    JobConnection,
    JobEdge,
    Member,
    NewApiToken,
    PageInfo,
    Payment,
    UploadTicket,
    User,
    Workspace,
)
from hushcut.core import models
from hushcut.core.errors import BadUserInput, Conflict, NotFound, ServiceError
from hushcut.core.events import JobEvent
from hushcut.core.runtime import Runtime
from hushcut.core.services import jobs as job_service
from hushcut.core.services import payments as payment_service
from hushcut.core.services import tokens as token_service
from hushcut.core.services import workspaces as workspace_service
from hushcut.core.services.auth import MANAGERS, Actor

logger = logging.getLogger("hushcut.api")
T = TypeVar("T")


# --- queries ------------------------------------------------------------------------------


async def me(ctx: Context) -> User:
    user = await ctx.call(workspace_service.get_user, ctx.actor.user_id)
    return User(id=strawberry.ID(user.id), email=user.email, name=user.name)


async def my_workspaces(ctx: Context) -> list[Workspace]:
    rows = await ctx.call(workspace_service.list_workspaces, ctx.actor)
    return [Workspace.from_model(row) for row in rows]


async def workspace(ctx: Context, workspace_id: str) -> Workspace:
    # Another workspace's id and an unknown id both answer NOT_FOUND: nothing leaks.
    row = await ctx.call(workspace_service.get_workspace, ctx.actor, workspace_id)
    return Workspace.from_model(row)


async def job(ctx: Context, job_id: str) -> Job:
    row = await ctx.call(job_service.get_job, ctx.actor, job_id)
    return Job.from_model(row)


async def _per_workspace(
    ctx: Context, name: str, workspace_id: str, fetch: Callable[[str], Awaitable[list[T]]]
) -> list[T]:
    """``fetch(workspace_id)`` through the request's DataLoader ``name``: each workspace
    is read once per request however many times the query names it."""

    async def load(ids: list[str]) -> list[list[T] | BaseException]:
        results: list[list[T] | BaseException] = []
        for key in ids:
            try:
                results.append(await fetch(key))
            except ServiceError as exc:
                results.append(exc)
        return results

    return await ctx.loader(name, load).load(workspace_id)


async def members(ctx: Context, workspace_id: str) -> list[Member]:
    async def fetch(key: str) -> list[Member]:
        rows = await ctx.call(workspace_service.list_members, ctx.actor, key)
        return [
            Member(
                user_id=strawberry.ID(user.id),
                email=user.email,
                name=user.name,
                role=membership.role,
            )
            for membership, user in rows
        ]

    return await _per_workspace(ctx, "members", workspace_id, fetch)


async def payments(ctx: Context, workspace_id: str) -> list[Payment]:
    async def fetch(key: str) -> list[Payment]:
        rows = await ctx.call(payment_service.list_payments, ctx.actor, key)
        return [Payment.from_model(row) for row in rows]

    return await _per_workspace(ctx, "payments", workspace_id, fetch)


async def api_tokens(ctx: Context, workspace_id: str) -> list[ApiToken]:
    async def fetch(key: str) -> list[ApiToken]:
        rows = await ctx.call(token_service.list_api_tokens, ctx.actor, key)
        return [ApiToken.from_model(row) for row in rows]

    return await _per_workspace(ctx, "api_tokens", workspace_id, fetch)


async def jobs_page(
    ctx: Context,
    workspace_id: str,
    first: int,
    after: str | None,
    status: models.JobStatus | None,
) -> JobConnection:
    if first > job_service.MAX_PAGE_SIZE:
        raise BadUserInput(f"first must be at most {job_service.MAX_PAGE_SIZE}")
    page = await ctx.call(
        job_service.list_jobs,
        ctx.actor,
        workspace_id,
        first,
        None if after is None else decode_cursor(after),
        status,
    )
    edges = [
        JobEdge(cursor=encode_cursor(job_service.JobPosition.of(row)), node=Job.from_model(row))
        for row in page.items
    ]
    end_cursor = None if page.end is None else encode_cursor(page.end)
    return JobConnection(
        edges=edges, page_info=PageInfo(has_next_page=page.has_next, end_cursor=end_cursor)
    )


# --- mutations ----------------------------------------------------------------------------


async def create_workspace(ctx: Context, name: str) -> Workspace:
    actor = ctx.mutating_actor()
    row = await ctx.call(
        workspace_service.create_workspace,
        actor,
        name,
        starter_credits=ctx.api.settings.starter_credits,
    )
    return Workspace.from_model(row)


async def validated_options(ctx: Context, options: CutOptionsInput | None) -> dict[str, Any]:
    """The options as given, after what the workers offer accepted them."""
    mapping = options.to_mapping() if options is not None else {}
    await ctx.api.options.validate(mapping)
    return mapping


async def request_upload(
    ctx: Context,
    workspace_id: str,
    filename: str,
    size_bytes: int,
    content_type: str,
    options: CutOptionsInput | None,
) -> UploadTicket:
    actor = ctx.mutating_actor()
    mapping = await validated_options(ctx, options)
    row = await ctx.call(
        job_service.create_job,
        actor,
        workspace_id,
        filename,
        size_bytes,
        content_type,
        mapping,
        max_upload_bytes=ctx.api.settings.max_upload_bytes,
    )
    upload = await ctx.api.runtime.storage.presign_put(
        row.input_key, row.size_bytes, row.content_type, ctx.api.settings.upload_url_ttl_s
    )
    return UploadTicket(
        job=Job.from_model(row),
        url=upload.url,
        method=upload.method,
        headers=[Header(name=name, value=value) for name, value in upload.headers.items()],
        expires_at=upload.expires_at,
    )


async def confirm_upload(ctx: Context, job_id: str) -> Job:
    actor = ctx.mutating_actor()
    row = await ctx.call(job_service.get_job, actor, job_id)
    if row.status is not models.JobStatus.PENDING:
        # Said before touching storage, which may be slow or down.
        raise Conflict(f"job is {row.status.value}: its upload was already confirmed")
    stored = await ctx.api.runtime.storage.head(row.input_key)
    confirmed = await ctx.call(
        job_service.confirm_upload, actor, job_id, None if stored is None else stored.size
    )
    await publish(ctx, confirmed)
    await ctx.api.queue.enqueue(confirmed.id)
    return Job.from_model(confirmed)


async def cancel_job(ctx: Context, job_id: str) -> Job:
    row = await ctx.call(job_service.cancel_job, ctx.mutating_actor(), job_id)
    await publish(ctx, row)
    return Job.from_model(row)


async def retry_job(ctx: Context, job_id: str) -> Job:
    row = await ctx.call(job_service.retry_job, ctx.mutating_actor(), job_id)
    await publish(ctx, row)
    await ctx.api.queue.enqueue(row.id)
    return Job.from_model(row)


async def create_api_token(ctx: Context, workspace_id: str, name: str) -> NewApiToken:
    row, plaintext = await ctx.call(
        token_service.create_api_token, ctx.mutating_actor(), workspace_id, name
    )
    return NewApiToken(api_token=ApiToken.from_model(row), token=plaintext)


async def revoke_api_token(ctx: Context, token_id: str) -> ApiToken:
    try:
        row = await ctx.call(token_service.revoke_api_token, ctx.mutating_actor(), token_id)
    except NotFound:
        # Another workspace's token must look exactly like one that does not exist.
        raise NotFound("token not found") from None
    return ApiToken.from_model(row)


async def create_checkout_session(
    ctx: Context, workspace_id: str, pack: str | None
) -> CheckoutSession:
    actor = ctx.mutating_actor()
    role = await ctx.role_in(workspace_id)
    if role not in MANAGERS:
        raise ApiError("only owners and admins can buy credits", "FORBIDDEN")
    billing = ctx.api.billing
    if billing is None:
        raise ApiError("billing is not enabled on this server", "FORBIDDEN")
    user = await ctx.call(workspace_service.get_user, actor.user_id)
    session_id, url = await billing.create_checkout(workspace_id, actor.user_id, pack, user.email)
    return CheckoutSession(id=session_id, url=url)


# --- subscription -------------------------------------------------------------------------


async def job_updates(ctx: Context, job_id: str) -> AsyncIterator[Job]:
    """The job now, then after every event; ends at a final state.

    Subscribing before reading the current state means no event can fall between the
    two. Each read uses a short session of its own, so an idle subscriber holds no
    database connection.
    """
    api = ctx.api
    try:
        actor = ctx.actor
        runtime = api.runtime
        async with runtime.events.subscribe(job_id) as events:
            api.live_subscriptions += 1
            try:
                async for job in _job_states(runtime, actor, job_id, events):
                    yield job
            finally:
                api.live_subscriptions -= 1
    except ServiceError as exc:
        raise as_graphql_error(exc) from None
    except Exception as exc:
        # Subscription errors bypass the operation's error processing: mask them here.
        logger.exception("jobUpdates for job %s failed", job_id)
        raise ApiError(MASKED_MESSAGE, INTERNAL_CODE) from exc


async def _job_states(
    runtime: Runtime, actor: Actor, job_id: str, events: AsyncIterator[JobEvent]
) -> AsyncIterator[Job]:
    async with runtime.sessionmaker() as session:
        row = await job_service.get_job(session, actor, job_id)
    current = Job.from_model(row)
    yield current
    if row.status.is_final:
        return
    async for event in events:
        if event.status is models.JobStatus.COMPLETED:
            # The output key is not in the event; read the finished job once.
            async with runtime.sessionmaker() as session:
                current = Job.from_model(await job_service.load_job(session, job_id))
        else:
            current = apply_event(current, event)
        yield current
        if event.is_final:
            return


async def publish(ctx: Context, row: models.VideoJob) -> None:
    """Tell live subscribers about a change this request made (best effort)."""
    try:
        await ctx.api.runtime.events.publish(JobEvent.from_job(row))
    except Exception as exc:
        # The change is committed; a lost live event only delays what subscribers see.
        logger.warning("could not publish an event for job %s: %s", row.id, exc)


def apply_event(job: Job, event: JobEvent) -> Job:
    """The job as the event describes it (events carry the whole changing state)."""
    return replace(
        job,
        status=event.status,
        stage=event.stage,
        progress=event.progress,
        error=event.error,
        input_duration_s=event.input_duration_s,
        output_duration_s=event.output_duration_s,
        finished_at=event.timestamp if event.is_final else None,
    )
