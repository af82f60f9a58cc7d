"""Mutations and the subscription that combine a core service with what the API holds:
storage, the job queue, the event bus, billing. They take and return core values; the
GraphQL resolvers map those to the schema's types."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncGenerator, Mapping, Sequence
from contextlib import aclosing
from dataclasses import dataclass
from typing import Any

from hushcut.api.graphql.context import Context
from hushcut.core import models
from hushcut.core.errors import BadUserInput, Conflict, Forbidden, StorageUnavailable
from hushcut.core.events import JobEvent
from hushcut.core.models import Role
from hushcut.core.services import deletion as deletion_service
from hushcut.core.services import invitations as invitation_service
from hushcut.core.services import jobs as job_service
from hushcut.core.services import uploads
from hushcut.core.services import workspaces as workspace_service
from hushcut.core.services.auth import MANAGERS, Actor
from hushcut.core.storage import (
    DEFAULT_PART_SIZE,
    MAX_PART_SIZE,
    MAX_SINGLE_PUT_SIZE,
    MIN_PART_SIZE,
    PresignedRequest,
    UploadedPart,
    UploadGone,
)

logger = logging.getLogger("hushcut.api")

#: Statuses whose events a subscriber sees as the job read again.
RELOADED = frozenset({models.JobStatus.COMPLETED, models.JobStatus.REVIEW})


async def validated_options(ctx: Context, options: Mapping[str, object]) -> dict[str, object]:
    """The options as given, after what the running workers offer accepted them."""
    mapping = dict(options)
    await ctx.api.options.validate(mapping)
    return mapping


@dataclass(frozen=True, slots=True)
class NewJob:
    """What a person asks for when they start an upload: the job its file becomes."""

    workspace_id: str
    filename: str
    size_bytes: int
    content_type: str
    options: Mapping[str, object]


async def request_upload(ctx: Context, new: NewJob) -> tuple[models.VideoJob, PresignedRequest]:
    """A new PENDING job and the presigned request that uploads its input in one PUT."""
    actor = ctx.mutating_actor()
    if new.size_bytes > MAX_SINGLE_PUT_SIZE:
        raise BadUserInput(
            f"a file over {MAX_SINGLE_PUT_SIZE} bytes (5 GiB) goes up in parts: use "
            "startMultipartUpload"
        )
    row = await _create(ctx, actor, new)
    upload = await ctx.api.runtime.storage.presign_put(
        row.input_key, row.size_bytes, row.content_type, ctx.api.settings.upload_url_ttl_s
    )
    return row, upload


async def start_multipart_upload(
    ctx: Context, new: NewJob, part_size: int | None
) -> models.VideoJob:
    """A new PENDING job whose input goes to storage in parts (any size up to the limit).

    If storage cannot start the upload, the job is canceled at once (nothing was
    charged) and the caller gets STORAGE_UNAVAILABLE to retry.
    """
    actor = ctx.mutating_actor()
    if part_size is not None and not MIN_PART_SIZE <= part_size <= MAX_PART_SIZE:
        raise BadUserInput(f"a part must be {MIN_PART_SIZE} to {MAX_PART_SIZE} bytes")
    row = await _create(ctx, actor, new)
    try:
        upload = await uploads.start_multipart_upload(
            ctx.api.runtime.storage,
            row.input_key,
            row.size_bytes,
            row.content_type,
            max_size=ctx.api.settings.max_upload_bytes,
            part_size=part_size or DEFAULT_PART_SIZE,
        )
    except StorageUnavailable:
        await ctx.call(job_service.cancel_job, actor, row.id)
        raise
    return await ctx.call(
        job_service.record_upload, actor, row.id, upload.upload_id, upload.plan.part_size
    )


async def _create(ctx: Context, actor: Actor, new: NewJob) -> models.VideoJob:
    mapping = await validated_options(ctx, new.options)
    return await ctx.call(
        job_service.create_job,
        actor,
        new.workspace_id,
        new.filename,
        new.size_bytes,
        new.content_type,
        mapping,
        max_upload_bytes=ctx.api.settings.max_upload_bytes,
    )


async def _uploading(ctx: Context, job_id: str) -> tuple[models.VideoJob, uploads.MultipartUpload]:
    """The job (of the caller's workspaces) and its upload in parts, still going on."""
    row = await ctx.call(job_service.get_job, ctx.mutating_actor(), job_id)
    if row.status is not models.JobStatus.PENDING:
        raise Conflict(f"job is {row.status.value}: its upload is over")
    upload = _multipart(row)
    if upload is None:
        raise Conflict("this job's input is not uploaded in parts: use the URL of requestUpload")
    return row, upload


def _multipart(row: models.VideoJob) -> uploads.MultipartUpload | None:
    """The job's upload in parts; None if its input goes up in one PUT."""
    if row.upload_id is None or row.upload_part_size is None:
        return None
    return uploads.resume_multipart_upload(
        row.input_key, row.upload_id, row.size_bytes, row.upload_part_size
    )


async def sign_upload_parts(
    ctx: Context, job_id: str, numbers: list[int]
) -> list[tuple[int, int, PresignedRequest]]:
    """A presigned PUT for each part asked for: (number, its length, the request)."""
    _, upload = await _uploading(ctx, job_id)
    requests = await uploads.sign_upload_parts(
        ctx.api.runtime.storage, upload, numbers, ctx.api.settings.upload_url_ttl_s
    )
    wanted = sorted(set(numbers))
    return [
        (number, upload.plan.part_length(number), request)
        for number, request in zip(wanted, requests, strict=True)
    ]


async def uploaded_parts(
    ctx: Context, key: str, upload: tuple[str, int, int]
) -> list[UploadedPart]:
    """The parts storage holds of the upload ``(upload id, size, part size)`` to ``key``."""
    upload_id, size, part_size = upload
    return await uploads.uploaded_parts(
        ctx.api.runtime.storage, uploads.resume_multipart_upload(key, upload_id, size, part_size)
    )


async def abort_multipart_upload(ctx: Context, job_id: str) -> models.VideoJob:
    """Give up an upload in parts: its parts are dropped and its job canceled (it was
    never charged)."""
    await _uploading(ctx, job_id)
    return await cancel_job(ctx, job_id)


async def confirm_upload(ctx: Context, job_id: str, review: bool = False) -> models.VideoJob:
    """Charge and queue a job whose input landed in storage with the promised size
    (``review``: to be analyzed only, then wait in REVIEW).

    An input uploaded in parts is assembled first. The input is then sealed (local
    storage refuses to replace it) and its ETag recorded, which the worker checks.
    """
    actor = ctx.mutating_actor()
    row = await ctx.call(job_service.get_job, actor, job_id)
    if row.status is not models.JobStatus.PENDING:
        # Said before touching storage, which may be slow or down.
        raise Conflict(f"job is {row.status.value}: its upload was already confirmed")
    storage = ctx.api.runtime.storage
    upload = _multipart(row)
    if upload is not None:
        # Gone: assembled by an earlier confirmation that could not charge.
        with contextlib.suppress(UploadGone):
            await uploads.complete_multipart_upload(storage, upload)
    stored = await storage.seal(row.input_key)
    confirmed = await ctx.call(
        job_service.confirm_upload,
        actor,
        job_id,
        None if stored is None else stored.size,
        etag=None if stored is None else stored.etag,
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
    if row.upload_id is not None:
        # Its parts cost storage until aborted; if storage is away now, the workers'
        # sweep of abandoned uploads aborts it later.
        try:
            await ctx.api.runtime.storage.abort_multipart_upload(row.input_key, row.upload_id)
            await ctx.call(job_service.forget_upload, row.id, row.upload_id)
        except StorageUnavailable as exc:
            logger.warning("job %s: could not abort its upload yet: %s", row.id, exc)
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
        "policy": ctx.api.retention,
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
    """The job now, then every change of it; ends after a final state.

    Subscribing before reading the current state means no event can fall between the
    two. The job is read again whenever events may have been missed (the bus lost
    Redis, or the checks of :mod:`hushcut.api.live` saw its status change unseen), so
    the final state always arrives; and a job that completed or awaits review is read
    again (its output, exports and review deadline are not in the event). The
    subscription ends with an error when its caller loses access. Leaving the loop for
    any reason, a client that went away included, frees the event-bus subscription and
    the count of live subscriptions.
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
                # aclosing: leaving the loop ends the read of the events it may have under
                # way, before the event-bus subscription is closed.
                async with aclosing(live.follow(events)) as changes:
                    async for change in changes:
                        if isinstance(change, JobEvent) and change.status not in RELOADED:
                            state: models.VideoJob | JobEvent = change
                        else:  # missed events, completed or in review: the job as it is now
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
