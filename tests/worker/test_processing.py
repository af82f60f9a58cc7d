"""A worker processes jobs end to end: output, durations, progress, one charge, one email."""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path
from typing import Any

import pytest

from hushcut.core.events import JobEvent
from hushcut.core.models import JobStatus, LedgerReason
from hushcut.core.services import jobs as job_service
from hushcut.worker.processor import INPUT_MISSING_MESSAGE, INPUT_REPLACED_MESSAGE
from tests.pipeline.clips import Clip, Track, write_clip
from tests.platform import balance, wait_until
from tests.worker.conftest import Gate, Platform
from tests.worker.media import media_duration

FINAL = {JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELED}


async def test_job_is_processed_end_to_end(
    platform: Platform, talk_clip: Path, tmp_path: Path
) -> None:
    actor, workspace = await platform.workspace(credits=3)
    job_id = await platform.submit(actor, workspace, talk_clip, enqueue=False)
    events: list[JobEvent] = []

    async def collect() -> None:
        async with platform.runtime.events.subscribe(job_id) as stream:
            async for event in stream:
                events.append(event)
                if event.is_final:
                    return

    collector = asyncio.create_task(collect())
    await asyncio.sleep(0)  # let the subscription start before the job does
    await platform.queue.enqueue(job_id)
    await platform.worker()

    job = await platform.wait_for(job_id, FINAL)
    assert job.status is JobStatus.COMPLETED, job.error
    assert job.output_key == f"output/{job_id}/talk_hushcut.mp4"
    assert job.input_duration_s is not None
    assert job.output_duration_s is not None
    assert job.input_duration_s == pytest.approx(6.0, abs=0.1)
    assert job.output_duration_s < job.input_duration_s - 1.5  # the 2.4 s pause is gone
    # What the API shows as outputDurationS: to the millisecond, no float noise.
    assert job.output_duration_s == round(job.output_duration_s, 3)
    assert job.input_duration_s == round(job.input_duration_s, 3)
    assert (job.stage, job.progress, job.attempts) == ("done", 1.0, 1)

    assert await platform.outputs(job_id) == platform.written_for(job)
    downloaded = tmp_path / "result.mp4"
    await platform.runtime.storage.download_file(job.output_key, downloaded)
    assert media_duration(downloaded) == pytest.approx(job.output_duration_s, abs=0.1)

    assert await platform.ledger(job_id) == {LedgerReason.JOB_CHARGE: 1}
    assert await balance(platform.runtime, workspace) == 2
    emails = await platform.sent_emails(job_id, 1)
    assert len(emails) == 1
    assert "ready" in emails[0].subject

    await asyncio.wait_for(collector, 10)
    stages = [event.stage for event in events if event.status is JobStatus.PROCESSING]
    assert {"download", "render", "upload"} <= set(stages)
    progress = [event.progress for event in events if event.status is JobStatus.PROCESSING]
    assert progress == sorted(progress), "progress never goes backwards"
    assert job.started_at is not None
    assert job.finished_at is not None
    seconds = (job.finished_at - job.started_at).total_seconds()
    # Throttled: about four updates a second, plus the first and last value of each stage.
    assert len(progress) <= 4 * seconds + 2 * len(set(stages)) + 2, (len(progress), seconds)
    assert events[-1].status is JobStatus.COMPLETED


async def test_the_jobs_audio_track_is_the_one_cut_on(platform: Platform, tmp_path: Path) -> None:
    # A steady tone first (commentary music, no pause), the talk second and default.
    talk = Track(speech=((0.3, 3.0), (4.5, 7.7)), language="eng")
    music = Track(background_db=-20, beep_hz=3000, language="fra")
    clip = write_clip(
        tmp_path / "two-tracks.mp4",
        Clip(seconds=8.0, tracks=(music, talk), default_track=1, markers=(0.6, 5.6)),
    )
    actor, workspace = await platform.workspace(credits=3)
    on_talk = await platform.submit(actor, workspace, clip)
    on_music = await platform.submit(actor, workspace, clip, options={"audio_track": 0})
    await platform.worker()
    cut = await platform.wait_for(on_talk, FINAL)
    kept = await platform.wait_for(on_music, FINAL)
    assert cut.status is kept.status is JobStatus.COMPLETED, (cut.error, kept.error)
    assert cut.output_duration_s is not None
    assert kept.output_duration_s is not None
    assert cut.output_duration_s < 7.0  # the default track's 1.5 s pause is gone
    assert kept.output_duration_s > 7.9  # the music never pauses: nothing to cut


@pytest.mark.parametrize(
    ("kind", "message"), [("no-audio", "no audio track"), ("not-media", "not")]
)
async def test_bad_media_fails_once_with_a_clear_message_and_a_refund(
    platform: Platform, silent_movie: Path, tmp_path: Path, kind: str, message: str
) -> None:
    source = silent_movie
    if kind == "not-media":
        source = tmp_path / "notes.mp4"
        source.write_bytes(b"these are meeting notes, not video frames\n" * 50)
    actor, workspace = await platform.workspace(credits=3)
    job_id = await platform.submit(actor, workspace, source)
    await platform.worker()

    job = await platform.wait_for(job_id, FINAL)
    assert job.status is JobStatus.FAILED
    assert job.error
    assert message in job.error.lower(), job.error
    print(job.error)
    assert "\n" not in job.error
    assert "Traceback" not in job.error
    assert job.attempts == 1, "bad media is never retried"
    assert await platform.ledger(job_id) == {LedgerReason.JOB_CHARGE: 1, LedgerReason.JOB_REFUND: 1}
    assert await balance(platform.runtime, workspace) == 3
    assert await platform.outputs(job_id) == []
    emails = await platform.sent_emails(job_id, 1)
    assert len(emails) == 1
    assert job.error in emails[0].text


async def test_cancel_stops_a_running_job_within_seconds_and_leaves_no_output(
    platform: Platform,
    talk_clip: Path,
    gate: Gate,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    actor, workspace = await platform.workspace(credits=3)
    job_id = await platform.submit(actor, workspace, talk_clip)
    worker = await platform.worker(cut=gate.cut)
    await platform.wait_for(job_id, lambda job: job.stage == "render")
    assert any(scratch.iterdir()), "the job works in a temporary directory"

    async with platform.runtime.sessionmaker() as session:
        await job_service.cancel_job(session, actor, job_id)
    assert worker.processor is not None
    processor = worker.processor
    await wait_until(lambda: processor.running == 0, timeout=5, message="worker stopped the job")

    job = await platform.job(job_id)
    assert job.status is JobStatus.CANCELED
    assert await platform.outputs(job_id) == []
    assert list(scratch.iterdir()) == [], "partial output and input are removed"
    assert await platform.ledger(job_id) == {LedgerReason.JOB_CHARGE: 1, LedgerReason.JOB_REFUND: 1}
    assert await platform.emails(job_id) == []

    # The worker is free again: the next job runs to completion.
    gate.open()
    next_id = await platform.submit(actor, workspace, talk_clip)
    assert (await platform.wait_for(next_id, FINAL)).status is JobStatus.COMPLETED


async def test_an_input_gone_from_storage_fails_at_once_with_a_clear_message(
    platform: Platform, talk_clip: Path
) -> None:
    actor, workspace = await platform.workspace(credits=3)
    job_id = await platform.submit(actor, workspace, talk_clip, enqueue=False)
    await platform.runtime.storage.delete((await platform.job(job_id)).input_key)
    await platform.queue.enqueue(job_id)
    await platform.worker()

    job = await platform.wait_for(job_id, FINAL)
    assert job.status is JobStatus.FAILED
    assert job.error == INPUT_MISSING_MESSAGE
    assert job.attempts == 1
    assert await platform.ledger(job_id) == {LedgerReason.JOB_CHARGE: 1, LedgerReason.JOB_REFUND: 1}
    assert len(await platform.sent_emails(job_id, 1)) == 1


@pytest.mark.services  # local storage refuses the write itself (tests/core/test_uploads.py)
async def test_an_input_replaced_after_confirmation_fails_the_job_with_a_refund(
    platform: Platform, talk_clip: Path
) -> None:
    actor, workspace = await platform.workspace(credits=3)
    job_id = await platform.submit(actor, workspace, talk_clip, enqueue=False)
    job = await platform.job(job_id)
    assert job.input_etag
    # What a still-valid presigned PUT allows on S3: another file of the same size.
    storage: Any = platform.runtime.storage
    swapped = bytes(reversed(talk_clip.read_bytes()))
    await asyncio.to_thread(
        storage.client.put_object, Bucket=storage.bucket, Key=job.input_key, Body=swapped
    )
    await platform.queue.enqueue(job_id)
    await platform.worker()

    job = await platform.wait_for(job_id, FINAL)
    assert job.status is JobStatus.FAILED
    assert job.error == INPUT_REPLACED_MESSAGE
    assert await platform.ledger(job_id) == {LedgerReason.JOB_CHARGE: 1, LedgerReason.JOB_REFUND: 1}
    assert await balance(platform.runtime, workspace) == 3
    assert len(await platform.sent_emails(job_id, 1)) == 1


async def test_an_input_longer_than_allowed_fails_at_probe_with_a_refund(
    platform: Platform, talk_clip: Path
) -> None:
    platform.settings.max_input_duration_s = 4.0
    actor, workspace = await platform.workspace(credits=3)
    job_id = await platform.submit(actor, workspace, talk_clip)
    await platform.worker()

    job = await platform.wait_for(job_id, FINAL)
    assert job.status is JobStatus.FAILED
    assert job.error == "talk.mp4 is 6s long; the longest input accepted is 4s"
    assert job.attempts == 1
    assert job.stage == "download", "stopped before any detection or rendering"
    assert await platform.ledger(job_id) == {LedgerReason.JOB_CHARGE: 1, LedgerReason.JOB_REFUND: 1}
    assert await balance(platform.runtime, workspace) == 3
    assert len(await platform.sent_emails(job_id, 1)) == 1


async def test_a_job_over_its_time_budget_is_stopped_and_refunded_once(
    platform: Platform, talk_clip: Path, gate: Gate
) -> None:
    # 0.5 s of processing per second of input: 3 s for the 6 s clip, which the gate
    # holds at render for as long as it takes.
    platform.settings.job_time_budget_factor = 0.5
    platform.settings.job_time_budget_min_s = 0.0
    actor, workspace = await platform.workspace(credits=3)
    job_id = await platform.submit(actor, workspace, talk_clip)
    await platform.worker(cut=gate.cut)

    job = await platform.wait_for(job_id, FINAL, timeout=30)
    assert job.status is JobStatus.FAILED
    assert job.error is not None
    assert job.error.startswith("processing took longer than the 3s allowed for this file")
    assert job.attempts == 1, "failed, not handed to another worker"
    assert await platform.ledger(job_id) == {LedgerReason.JOB_CHARGE: 1, LedgerReason.JOB_REFUND: 1}
    assert await balance(platform.runtime, workspace) == 3
    assert len(await platform.sent_emails(job_id, 1)) == 1
    assert await platform.outputs(job_id) == []
