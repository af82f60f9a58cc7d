"""Emails the platform sends people: a job finished, failed, or is ready for review."""

from __future__ import annotations

import html as html_lib
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from hushcut.core.db import end_read, in_write_transaction
from hushcut.core.email import EmailSender
from hushcut.core.models import JobStatus, User, VideoJob
from hushcut.core.services.jobs import load_job


@dataclass(frozen=True, slots=True)
class EmailMessage:
    to: str
    subject: str
    text: str
    html: str
    idempotency_key: str


def job_email_key(job: VideoJob) -> str:
    """One key per job run and outcome: a retried job may email again, a run never twice."""
    return f"job-{job.id}-run-{job.charges}-{job.status.value.lower()}"


#: The statuses a job's owner hears about (once per run each).
NOTIFIED_STATUSES = frozenset({JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.REVIEW})


def job_finished_message(job: VideoJob, to: str, app_url: str) -> EmailMessage:
    """The email telling the job's owner it completed, failed, or waits for review."""
    if job.status is JobStatus.REVIEW:
        subject = f"Your cuts are ready to review: {job.filename}"
        lines = [f"Hushcut found the silences in {job.filename}."]
        if job.review_expires_at is not None:
            deadline = job.review_expires_at.strftime("%Y-%m-%d %H:%M UTC")
            lines.append(
                f"Review the cuts and render the video before {deadline}; after that the "
                "job is canceled and your credit refunded."
            )
        lines.append(f"Review it in Hushcut: {app_url}")
    elif job.status is JobStatus.COMPLETED:
        subject = f"Your video is ready: {job.filename}"
        saved = ""
        if job.input_duration_s is not None and job.output_duration_s is not None:
            saved = (
                f" It went from {_duration(job.input_duration_s)} to "
                f"{_duration(job.output_duration_s)}."
            )
        lines = [
            f"Hushcut finished cutting the silences out of {job.filename}.{saved}",
            f"Download it from Hushcut: {app_url}",
        ]
    elif job.status is JobStatus.FAILED:
        subject = f"Hushcut could not process {job.filename}"
        lines = [
            f"Processing {job.filename} failed: {job.error or 'unknown error'}",
            "Your credit was refunded. You can retry the job once the problem is fixed.",
            f"Hushcut: {app_url}",
        ]
    else:
        raise ValueError(f"no email for a job that is {job.status.value}")
    text = "\n\n".join(lines) + "\n"
    body = "".join(f"<p>{html_lib.escape(line)}</p>" for line in lines)
    return EmailMessage(to, subject, text, body, job_email_key(job))


def _duration(seconds: float) -> str:
    minutes, secs = divmod(round(seconds), 60)
    return f"{minutes}:{secs:02d}"


async def notify_job_finished(
    session: AsyncSession, sender: EmailSender, job_id: str, app_url: str
) -> bool:
    """Email the job's creator about its outcome (REVIEW counts: the job waits for
    them), once per run and status; False if not sent now (already sent, no creator,
    or the job is in no status people are told about).

    Call it after the transaction that finished the job committed, not inside a
    ``transaction`` block: the email must only ever describe a committed outcome. The
    message is built from one read whose transaction ends before sending, so the sender
    may write in a session of its own (the outbox does) without waiting for this one's
    lock on SQLite, and no connection idles in a transaction while a provider answers.
    """
    if in_write_transaction(session):
        raise RuntimeError("notify_job_finished runs after the job's transaction commits")
    job = await load_job(session, job_id)
    message: EmailMessage | None = None
    if job.status in NOTIFIED_STATUSES and job.created_by is not None:
        user = await session.get(User, job.created_by)
        if user is not None:
            message = job_finished_message(job, user.email, app_url)
    await end_read(session)
    if message is None:
        return False
    return await sender.send(
        message.to,
        message.subject,
        message.text,
        message.html,
        idempotency_key=message.idempotency_key,
    )
