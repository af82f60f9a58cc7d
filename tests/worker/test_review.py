"""The worker and reviews: every job keeps its analysis, a canceled render keeps it too,
and the reconciler's sweep cancels and refunds a review nobody rendered."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import opentimelineio as otio
import pytest
from sqlalchemy import select

from hushcut.core.clock import ManualClock
from hushcut.core.models import JobAnalysis, JobStatus, LedgerReason
from hushcut.core.scheduler import Sweeper
from hushcut.core.services import jobs as job_service
from hushcut.core.services.retention import SweepReport
from hushcut.core.settings import Settings
from hushcut.pipeline import Timeline
from tests.platform import wait_until
from tests.worker.conftest import Gate, Platform
from tests.worker.media import make_marker_talk

FINAL = {JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELED}


@pytest.fixture(scope="module")
def marker_talk(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_marker_talk(tmp_path_factory.mktemp("review") / "talk.mp4")


@pytest.fixture
def worker_settings(worker_settings: Settings) -> Settings:
    # Reviews expire an hour after the analysis; the test's clock jumps past it.
    return worker_settings.model_copy(update={"review_ttl_hours": 1.0})


async def analysis_of(platform: Platform, job_id: str) -> JobAnalysis | None:
    async with platform.runtime.sessionmaker() as session:
        row: JobAnalysis | None = await session.scalar(
            select(JobAnalysis).where(JobAnalysis.job_id == job_id)
        )
        return row


async def test_an_unrendered_review_expires_on_the_schedulers_sweep(
    platform: Platform, marker_talk: Path
) -> None:
    await platform.worker()
    actor, workspace_id = await platform.workspace(credits=2)
    job_id = await platform.submit(actor, workspace_id, marker_talk, review=True)
    reviewed = await platform.wait_for(job_id, {JobStatus.REVIEW, *FINAL})
    assert reviewed.status is JobStatus.REVIEW, reviewed.error
    assert reviewed.output_key is None
    assert await platform.outputs(job_id) == platform.written_for(reviewed)
    assert [email.idempotency_key for email in await platform.sent_emails(job_id, 1)] == [
        f"job-{job_id}-run-1-review"
    ]

    clock = ManualClock(datetime.now(UTC))
    sweeper = Sweeper(platform.runtime, clock)
    assert (await sweeper.run("reviews")) == SweepReport("reviews")  # not yet due
    clock.advance(timedelta(hours=2))
    report = await sweeper.run("reviews")
    assert report is not None
    assert report.canceled == [job_id]
    expired = await platform.wait_for(job_id, FINAL, timeout=30)
    assert expired.status is JobStatus.CANCELED
    assert expired.error is not None
    assert "review" in expired.error
    assert await platform.ledger(job_id) == {LedgerReason.JOB_CHARGE: 1, LedgerReason.JOB_REFUND: 1}
    assert await platform.runtime.storage.head(expired.input_key) is None
    # Another pass of the sweep changes nothing more.
    assert (await sweeper.run("reviews")) == SweepReport("reviews")
    assert await platform.ledger(job_id) == {LedgerReason.JOB_CHARGE: 1, LedgerReason.JOB_REFUND: 1}


async def test_a_canceled_render_keeps_the_analysis_and_a_retry_renders_the_edit(
    platform: Platform, marker_talk: Path, gate: Gate
) -> None:
    await platform.worker(cut=gate.cut)
    actor, workspace_id = await platform.workspace(credits=3)
    job_id = await platform.submit(actor, workspace_id, marker_talk, review=True)
    await platform.wait_for(job_id, {JobStatus.REVIEW})
    peaks = job_service.peaks_key(job_id)
    edit = [job_service.KeptSegment(0.0, 1.9), job_service.KeptSegment(3.6, 5.4)]
    async with platform.runtime.sessionmaker() as session:
        await job_service.render_job(session, actor, job_id, edit, None, input_kept=True)
    await platform.queue.enqueue(job_id)
    await platform.wait_for(job_id, lambda job: job.stage == "render")
    async with platform.runtime.sessionmaker() as session:
        await job_service.cancel_job(session, actor, job_id)
    gate.open()
    await platform.wait_for(job_id, {JobStatus.CANCELED})

    # The render's files are gone, the analysis it rendered from is not.
    async def only_peaks_left() -> bool:
        return await platform.outputs(job_id) == [peaks]

    await wait_until(only_peaks_left, 15, "the canceled render's files removed")
    assert await analysis_of(platform, job_id) is not None

    async with platform.runtime.sessionmaker() as session:
        await job_service.retry_job(session, actor, job_id)
    await platform.queue.enqueue(job_id)
    done = await platform.wait_for(job_id, FINAL)
    assert done.status is JobStatus.COMPLETED, done.error
    assert done.output_duration_s == pytest.approx(1.9 + 1.8, abs=1 / 30)
    async with platform.runtime.sessionmaker() as session:
        assert await job_service.load_timeline(session, job_id) == edit
    assert await platform.outputs(job_id) == platform.written_for(done)


#: OTIO adapter that reads each editor format back.
READERS = {"otio": "otio_json", "fcpxml": "fcpx_xml", "fcp7": "fcp_xml", "edl": "cmx_3600"}


async def test_a_job_without_review_keeps_its_analysis_and_exports_what_it_rendered(
    platform: Platform, marker_talk: Path, tmp_path: Path
) -> None:
    # The worker loads the installed plugins, hushcut-otio among them.
    await platform.worker()
    actor, workspace_id = await platform.workspace(credits=3)
    job_id = await platform.submit(actor, workspace_id, marker_talk, filename="My talk.mp4")
    done = await platform.wait_for(job_id, FINAL)
    assert done.status is JobStatus.COMPLETED, done.error
    analysis = await analysis_of(platform, job_id)
    assert analysis is not None
    async with platform.runtime.sessionmaker() as session:
        rendered = await job_service.load_timeline(session, job_id)
    # The plan as rendered: each cut on the start of the 30 fps frame it falls in (to
    # the microsecond, as timelines are stored).
    planned = job_service.segments_from_json(analysis.segments)
    assert len(rendered) == len(planned)
    for got, want in zip(rendered, planned, strict=True):
        assert (got.start, got.end) == pytest.approx((want.start, want.end), abs=1 / 60)
        assert got.start == pytest.approx(round(got.start * 30) / 30, abs=1e-6)
        assert got.end == pytest.approx(round(got.end * 30) / 30, abs=1e-6)
    assert done.output_duration_s == pytest.approx(
        sum(segment.end - segment.start for segment in rendered), abs=1 / 30
    )
    # Every platform format, each read back by OpenTimelineIO: one clip per kept segment,
    # to the frame (30 fps), naming the file as it was uploaded.
    exports = done.exports or {}
    assert sorted(exports) == sorted(job_service.EXPORT_FORMATS)
    for name, key in exports.items():
        assert key.startswith(f"derived/{job_id}/exports/My_talk_hushcut.")
        path = tmp_path / key.rsplit("/", 1)[-1]
        await platform.runtime.storage.download_file(key, path)
        if name == "json":
            stored = Timeline.read(path)
            assert stored.source == "My talk.mp4"
            assert [(s.start, s.end) for s in stored.segments] == [
                (pytest.approx(s.start), pytest.approx(s.end)) for s in rendered
            ]
            continue
        text = path.read_text()
        if name == "edl":
            back = otio.adapters.read_from_string(text, READERS[name], rate=30.0)
        else:
            back = otio.adapters.read_from_string(text, READERS[name])
        for track in back.tracks:
            clips = list(track.find_clips())
            assert len(clips) == len(rendered), (name, track.name)
            for clip, segment in zip(clips, rendered, strict=True):
                source_range = clip.source_range
                assert source_range.start_time.to_seconds() == pytest.approx(
                    segment.start, abs=1 / 30
                ), name
                assert source_range.end_time_exclusive().to_seconds() == pytest.approx(
                    segment.end, abs=1 / 30
                ), name
                if name != "edl":
                    assert "My%20talk.mp4" in clip.media_reference.target_url, name
