"""Mutations and the subscription that combine a core service with what the API holds:
storage, the job queue, the event bus, billing. They take and return core values; the
GraphQL resolvers map those to the schema's types."""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator, Mapping, Sequence
from typing import Any

from hushcut.api.graphql.context import Context
from hushcut.core import models
from hushcut.core.errors import BadUserInput, Conflict, Forbidden
from hushcut.core.events import JobEvent
from hushcut.core.models import Role
from hushcut.core.services import deletion as deletion_service
from hushcut.core.services import invitations as invitation_service
from hushcut.core.services import jobs as job_service
from hushcut.core.services import workspaces as workspace_service
from hushcut.core.services.auth import MANAGERS
from hushcut.core.services.retention import RetentionPolicy
from hushcut.core.storage import PresignedRequest

logger = logging.getLogger("hushcut.api")

#: Statuses whose events a subscriber sees as the job read again.
RELOADED = frozenset({models.JobStatus.COMPLETED, models.JobStatus.REVIEW})


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


async def confirm_upload(ctx: Context, job_id: str, review: bool = False) -> models.VideoJob:
    """Charge and queue a job whose input landed in storage with the promised size
    (``review``: to be analyzed only, then wait in REVIEW)."""
    actor = ctx.mutating_actor()
    row = await ctx.call(job_service.get_job, actor, job_id)
    if row.status is not models.JobStatus.PENDING:
        # Said before touching storage, which may be slow or down.
        raise Conflict(f"job is {row.status.value}: its upload was already confirmed")
    stored = await ctx.api.runtime.storage.head(row.input_key)
    confirmed = await ctx.call(
        job_service.confirm_upload,
        actor,
        job_id,
        None if stored is None else stored.size,
        review=review,
    )
    await publish(ctx, confirmed)
    await ctx.api.queue.enqueue(confirmed.id)
    return confirmed


async def render_job(
    ctx: Context,
    job_id: str,
    segments: Sequence[job_service.KeptSegment] | None,
    options: Mapping[str, object] | None,
) -> models.VideoJob:
    """Queue a REVIEW job's render (free) or a COMPLETED job's re-edit (one credit).

    ``options`` change the job's options field by field (``plugins`` as a whole); the
    result is checked against what the workers offer, like a new job's.
    """
    actor = ctx.mutating_actor()
    row = await ctx.call(job_service.get_job, actor, job_id)
    if not job_service.Move.RENDER.allows(row.status):
        # Said before touching storage, which may be slow or down.
        raise Conflict(f"job is {row.status.value}: only REVIEW and COMPLETED jobs can be rendered")
    merged = None
    if options is not None:
        merged = await validated_options(ctx, {**(row.options or {}), **options})
    stored = await ctx.api.runtime.storage.head(row.input_key)
    queued = await ctx.call(
        job_service.render_job, actor, job_id, segments, merged, input_kept=stored is not None
    )
    await publish(ctx, queued)
    await ctx.api.queue.enqueue(queued.id)
    return queued


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


# --- teams ------------------------------------------------------------------------------


async def invite_member(
    ctx: Context, workspace_id: str, email: str, role: Role
) -> models.Invitation:
    """Invite ``email`` and send them the link (APP_URL/invite/<token>)."""
    settings = ctx.api.settings
    return await ctx.call(
        invitation_service.invite_member,
        ctx.mutating_actor(),
        workspace_id,
        email,
        role,
        sender=ctx.api.runtime.email,
        app_url=settings.app_url,
        ttl_hours=settings.invitation_ttl_hours,
    )


async def change_member_role(
    ctx: Context, workspace_id: str, user_id: str, role: Role
) -> tuple[models.Membership, models.User]:
    actor = ctx.mutating_actor()
    membership = await ctx.call(
        workspace_service.change_member_role, actor, workspace_id, user_id, role
    )
    return membership, await ctx.call(workspace_service.get_user, user_id)


async def remove_member(ctx: Context, workspace_id: str, user_id: str) -> models.Workspace:
    """Remove another member; the workspace as it is now."""
    actor = ctx.mutating_actor()
    if user_id == actor.user_id:
        raise BadUserInput("to remove yourself, use leaveWorkspace")
    await ctx.call(workspace_service.remove_member, actor, workspace_id, user_id)
    return await ctx.call(workspace_service.get_workspace, actor, workspace_id)


# --- deleting -----------------------------------------------------------------------------


def _deleting(ctx: Context) -> dict[str, Any]:
    return {
        "storage": ctx.api.runtime.storage,
        "policy": RetentionPolicy.from_settings(ctx.api.settings),
    }


async def delete_job(ctx: Context, job_id: str) -> None:
    await ctx.call(deletion_service.delete_job, ctx.mutating_actor(), job_id, **_deleting(ctx))


async def delete_workspace(ctx: Context, workspace_id: str, confirm_name: str) -> None:
    deleted = await ctx.call(
        deletion_service.delete_workspace,
        ctx.mutating_actor(),
        workspace_id,
        confirm_name,
        **_deleting(ctx),
    )
    for row in deleted.canceled_jobs:
        await publish(ctx, row)


async def delete_account(ctx: Context, confirm_email: str) -> str:
    """Delete the caller's account; returns its user id."""
    actor = ctx.mutating_actor()
    deleted = await ctx.call(
        deletion_service.delete_account, actor, confirm_email, **_deleting(ctx)
    )
    for row in deleted.canceled_jobs:
        await publish(ctx, row)
    return actor.user_id


async def job_updates(
    ctx: Context, job_id: str
) -> AsyncGenerator[models.VideoJob | JobEvent, None]:
    """The job now, then every event of it; ends after a final state.

    Subscribing before reading the current state means no event can fall between the
    two. A job that completed or awaits review is read again (its output, exports and
    review deadline are not in the event). Leaving
    the loop for any reason, a client that went away included, frees the event-bus
    subscription and the count of live subscriptions.
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
            async for event in events:
                if event.status in RELOADED:
                    yield await ctx.call(job_service.load_job, job_id)
                else:
                    yield event
                if event.is_final:
                    return
        finally:
            api.live_subscriptions -= 1


async def publish(ctx: Context, row: models.VideoJob) -> None:
    """Tell live subscribers about a change this request made (best effort)."""
    try:
        await ctx.api.runtime.events.publish(JobEvent.from_job(row))
    except Exception as exc:
        # The change is committed; a lost live event only delays what subscribers see.
        logger.warning("could not publish an event for job %s: %s", row.id, exc)
