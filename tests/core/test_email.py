"""Email: Resend's wire format against a local fake server, and the outbox."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from sqlalchemy import func, select

from hushcut.core import db
from hushcut.core.email import EmailError, OutboxEmailSender, ResendEmailSender
from hushcut.core.models import EmailOutbox, JobStatus, VideoJob
from hushcut.core.runtime import Runtime
from hushcut.core.services import emails, jobs
from hushcut.core.settings import Settings
from tests.platform import new_member

API_KEY = "re_test_secret_key"


@dataclass
class FakeResend:
    """Speaks POST /emails like api.resend.com and remembers idempotency keys."""

    url: str = ""
    requests: list[dict[str, Any]] = field(default_factory=list)
    sent: dict[str, str] = field(default_factory=dict)
    fail_with: int | None = None


@pytest.fixture
def resend() -> Iterator[FakeResend]:
    fake = FakeResend()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            fake.requests.append(
                {"path": self.path, "headers": dict(self.headers), "json": json.loads(body)}
            )
            if self.headers.get("Authorization") != f"Bearer {API_KEY}":
                return self.reply(401, {"name": "missing_api_key", "message": "Missing API key"})
            if fake.fail_with is not None:
                return self.reply(fake.fail_with, {"name": "error", "message": "Invalid `to`"})
            key = self.headers.get("Idempotency-Key", "")
            if key in fake.sent:
                return self.reply(200, {"id": fake.sent[key]})
            fake.sent[key] = f"email-{len(fake.sent) + 1}"
            return self.reply(200, {"id": fake.sent[key]})

        def reply(self, status: int, payload: dict[str, str]) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    fake.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield fake
    server.shutdown()
    server.server_close()


async def test_resend_wire_format(resend: FakeResend) -> None:
    sender = ResendEmailSender(API_KEY, "Hushcut <noreply@hushcut.example>", resend.url)
    try:
        sent = await sender.send(
            "ada@example.com",
            "Ready",
            "Your video is ready.",
            "<p>Ready</p>",
            idempotency_key="job-1-run-1-completed",
        )
    finally:
        await sender.close()
    assert sent
    [request] = resend.requests
    assert request["path"] == "/emails"
    assert request["headers"]["Authorization"] == f"Bearer {API_KEY}"
    assert request["headers"]["Idempotency-Key"] == "job-1-run-1-completed"
    assert request["headers"]["Content-Type"] == "application/json"
    assert request["json"] == {
        "from": "Hushcut <noreply@hushcut.example>",
        "to": ["ada@example.com"],
        "subject": "Ready",
        "text": "Your video is ready.",
        "html": "<p>Ready</p>",
    }
    assert list(resend.sent) == ["job-1-run-1-completed"]


async def test_resend_refusals_are_clear(
    resend: FakeResend, caplog: pytest.LogCaptureFixture
) -> None:
    resend.fail_with = 422
    sender = ResendEmailSender(API_KEY, "noreply@hushcut.example", resend.url)
    try:
        with pytest.raises(EmailError, match="HTTP 422 Invalid `to`"):
            await sender.send("x@example.com", "s", "t", idempotency_key="k")
    finally:
        await sender.close()
    wrong = ResendEmailSender("re_wrong", "noreply@hushcut.example", resend.url)
    try:
        with pytest.raises(EmailError, match="HTTP 401"):
            await wrong.send("x@example.com", "s", "t", idempotency_key="k")
    finally:
        await wrong.close()
    assert API_KEY not in caplog.text


async def test_resend_unreachable() -> None:
    from tests.servers import free_port

    sender = ResendEmailSender(
        API_KEY, "noreply@hushcut.example", f"http://127.0.0.1:{free_port()}"
    )
    try:
        with pytest.raises(EmailError, match="could not reach Resend"):
            await sender.send("x@example.com", "s", "t", idempotency_key="k")
    finally:
        await sender.close()


async def test_outbox_records_each_email_once(
    runtime: Runtime, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("INFO")
    outbox = OutboxEmailSender(runtime.sessionmaker, runtime.settings.email_from)
    assert await outbox.send("ada@example.com", "Hi", "Body", idempotency_key="k1")
    assert not await outbox.send("ada@example.com", "Hi", "Body", idempotency_key="k1")
    async with runtime.session() as session:
        rows = (await session.scalars(select(EmailOutbox))).all()
    assert [(r.to_address, r.subject, r.idempotency_key) for r in rows] == [
        ("ada@example.com", "Hi", "k1")
    ]
    assert "ada@example.com" not in caplog.text
    assert "k1" in caplog.text


async def finished_job(runtime: Runtime, fail: bool) -> tuple[str, str]:
    actor, workspace_id = await new_member(runtime, "owner@example.com")
    async with runtime.session() as session:
        job = await jobs.create_job(session, actor, workspace_id, "talk.mp4", 5, "video/mp4")
        await jobs.confirm_upload(session, actor, job.id, 5)
        await jobs.claim_job(session, job.id, "w", 30, 2)
        if fail:
            await jobs.fail_job(session, job.id, "w", "The file has no audio track.")
        else:
            await jobs.complete_job(session, job.id, "w", "output/x.mp4", 125.0, 61.0)
    return job.id, workspace_id


async def outbox_count(runtime: Runtime) -> int:
    async with runtime.session() as session:
        return int(await session.scalar(select(func.count()).select_from(EmailOutbox)) or 0)


async def test_job_completion_email_is_sent_once(runtime: Runtime, resend: FakeResend) -> None:
    job_id, _ = await finished_job(runtime, fail=False)
    sender = ResendEmailSender(API_KEY, "noreply@hushcut.example", resend.url)
    try:
        async with runtime.session() as session:
            for _ in range(2):
                await emails.notify_job_finished(session, sender, job_id, "https://app.example")
    finally:
        await sender.close()
    assert len(resend.sent) == 1
    body = resend.requests[0]["json"]
    assert body["to"] == ["owner@example.com"]
    assert body["subject"] == "Your video is ready: talk.mp4"
    assert "2:05 to 1:01" in body["text"]
    assert "https://app.example" in body["text"]


async def test_job_failure_email_through_the_outbox(runtime: Runtime) -> None:
    job_id, _ = await finished_job(runtime, fail=True)
    async with runtime.session() as session:
        assert isinstance(runtime.email, OutboxEmailSender)
        assert await emails.notify_job_finished(
            session, runtime.email, job_id, runtime.settings.app_url
        )
        assert not await emails.notify_job_finished(
            session, runtime.email, job_id, runtime.settings.app_url
        )
    async with runtime.session() as session:
        row = (await session.scalars(select(EmailOutbox))).one()
    assert row.subject == "Hushcut could not process talk.mp4"
    assert "The file has no audio track." in row.text
    assert "refunded" in row.text
    assert await outbox_count(runtime) == 1


async def test_unfinished_jobs_send_nothing(runtime: Runtime) -> None:
    actor, workspace_id = await new_member(runtime)
    async with runtime.session() as session:
        job = await jobs.create_job(session, actor, workspace_id, "a.mp4", 5, "video/mp4")
        assert not await emails.notify_job_finished(session, runtime.email, job.id, "x")
    assert await outbox_count(runtime) == 0


async def test_notifying_through_the_outbox_never_waits_for_a_database_lock(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The outbox writes in a session of its own. Were notify_job_finished to keep its
    # caller's transaction (and, on SQLite, the write lock) open across the send, that
    # write would wait out the busy timeout and fail "database is locked"; a short
    # timeout makes such a regression fail at once instead of after 30 s.
    monkeypatch.setattr(db, "SQLITE_BUSY_TIMEOUT_MS", 300)
    runtime = await Runtime.start(settings, upgrade=False)
    try:
        job_id, _ = await finished_job(runtime, fail=False)
        assert isinstance(runtime.email, OutboxEmailSender)
        async with runtime.session() as session:
            # The caller has just read the job in this session, as a worker does.
            assert (await jobs.load_job(session, job_id)).status is JobStatus.COMPLETED
            await session.get(VideoJob, job_id)
            sent = await asyncio.wait_for(
                emails.notify_job_finished(session, runtime.email, job_id, "https://app"), 20
            )
            assert sent
            again = await emails.notify_job_finished(session, runtime.email, job_id, "x")
            assert not again
            assert not session.in_transaction()
        assert await outbox_count(runtime) == 1
    finally:
        await runtime.close()


async def test_notifying_inside_a_write_transaction_is_refused(runtime: Runtime) -> None:
    # The email must describe a committed outcome; sending from inside the transaction
    # that finishes the job would mail people about a state that may yet roll back.
    job_id, _ = await finished_job(runtime, fail=True)
    async with runtime.session() as session:
        with pytest.raises(RuntimeError, match="after the job's transaction commits"):
            async with db.transaction(session):
                await emails.notify_job_finished(session, runtime.email, job_id, "x")
    assert await outbox_count(runtime) == 0
