"""Mutations and the subscription that combine a core service with what the API holds:
storage, the job queue, the event bus, billing. They take and return core values; the
GraphQL resolvers map those to the schema's types."""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator, Mapping

from hushcut.api.graphql.context import Context
from hushcut.core import models
from hushcut.core.errors import Conflict, Forbidden
from hushcut.core.events import JobEvent
from hushcut.core.services import jobs as job_service
from hushcut.core.services import workspaces as workspace_service
from hushcut.core.services.auth import MANAGERS
from hushcut.core.storage import PresignedRequest

logger = logging.getLogger("hushcut.api")
COMPLETED = models.JobStatus.COMPLETED


async def validated_options(ctx: Context, options: Mapping[str, object]) -> dict[str, object]:
    """The options as given, after what the running workers offer accepted them."""
    mapping = dict(options)
    await ctx.api.options.validate(mapping)
    return mapping


async def request_upload(
    ctx: Context,
    workspace_id: str,
    filename: str,
    size_bytes: int,
    content_type: str,
    options: Mapping[str, object],
) -> tuple[models.VideoJob, PresignedRequest]:
    """A new PENDING job and the presigned request that uploads its input."""
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
    return row, upload


async def confirm_upload(ctx: Context, job_id: str) -> models.VideoJob:
    """Charge and queue a job whose input landed in storage with the promised size."""
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
    return confirmed


async def cancel_job(ctx: Context, job_id: str) -> models.VideoJob:
    row = await ctx.call(job_service.cancel_job, ctx.mutating_actor(), job_id)
    await publish(ctx, row)
    return row


async def retry_job(ctx: Context, job_id: str) -> models.VideoJob:
    row = await ctx.call(job_service.retry_job, ctx.mutating_actor(), job_id)
    await publish(ctx, row)
    await ctx.api.queue.enqueue(row.id)
    return row


async def create_checkout_session(
    ctx: Context, workspace_id: str, pack: str | None
) -> tuple[str, str]:
    """A Stripe Checkout session for a credit pack: its id and the URL to send the buyer to."""
    actor = ctx.mutating_actor()
    if await ctx.role_in(workspace_id) not in MANAGERS:
        raise Forbidden("only owners and admins can buy credits")
    billing = ctx.api.billing
    if billing is None:
        raise Forbidden("billing is not enabled on this server")
    user = await ctx.call(workspace_service.get_user, actor.user_id)
    return await billing.create_checkout(workspace_id, actor.user_id, pack, user.email)


async def job_updates(
    ctx: Context, job_id: str
) -> AsyncGenerator[models.VideoJob | JobEvent, None]:
    """The job now, then every change of it; ends after a final state.

    Subscribing before reading the current state means no event can fall between the
    two. The job is read again whenever events may have been missed (the bus lost
    Redis, or the checks of :mod:`hushcut.api.live` saw its status change unseen), so
    the final state always arrives; and a completed job is read again because the
    output key is not in the event. The subscription ends with an error when its
    caller loses access. Leaving the loop for any reason, a client that went away
    included, frees the event-bus subscription and the count of live subscriptions.
    """
    actor = ctx.actor
    api = ctx.api
    async with api.runtime.events.subscribe(job_id) as events:
        api.live_subscriptions += 1
        try:
            row = await ctx.call(job_service.get_job, actor, job_id)
            yield row
            if row.status.is_final:
                return
            shown = _shown(row)
            with api.live.watch(actor, row) as live:
                async for change in live.follow(events):
                    if isinstance(change, JobEvent) and change.status is not COMPLETED:
                        state: models.VideoJob | JobEvent = change
                    else:  # missed events, or completed: the job as it is now
                        state = await ctx.call(job_service.load_job, job_id)
                    if _shown(state) == shown:
                        continue
                    shown = _shown(state)
                    live.status = state.status
                    yield state
                    if state.status.is_final:
                        return
        finally:
            api.live_subscriptions -= 1


def _shown(state: models.VideoJob | JobEvent) -> tuple[object, ...]:
    """What a subscriber sees of a state: the same twice in a row is sent once."""
    return (state.status, state.stage, state.progress, state.error)


async def publish(ctx: Context, row: models.VideoJob) -> None:
    """Tell live subscribers about a change this request made (best effort)."""
    try:
        await ctx.api.runtime.events.publish(JobEvent.from_job(row))
    except Exception as exc:
        # The change is committed; a lost live event only delays what subscribers see.
        logger.warning("could not publish an event for job %s: %s", row.id, exc)
