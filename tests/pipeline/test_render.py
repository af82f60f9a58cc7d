"""Rendering: frame-accurate cuts, A/V sync, clean SMART splices, fallbacks, speed, cancel."""

from __future__ import annotations

from pathlib import Path

import av
import av.error
import numpy as np
import pytest

from hushcut.pipeline.errors import CanceledError, MediaError, PipelineError, RenderError
from hushcut.pipeline.render import RenderMode, RenderResult, RenderSettings, render
from hushcut.pipeline.testing import SAMPLES, SampleMedia
from hushcut.pipeline.timeline import Segment, Timeline
from tests.pipeline.clips import (
    FPS,
    MARKERS,
    Clip,
    Decoded,
    beep_onsets,
    decode,
    output_time,
    write_clip,
)

SECONDS = 12.0
FRAME = 1.0 / FPS
# Cuts land inside GOPs (1 s GOPs at 0, 1, 2, ...), so SMART must splice at each of them;
# 4.1-7.95 holds whole GOPs 5, 6 that can be copied. No marker sits on a cut.
CUTS = [Segment(0.2, 3.37), Segment(4.1, 7.95), Segment(9.05, 11.5)]
MODES: list[RenderMode] = ["smart", "reencode"]


@pytest.fixture(scope="session")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_clip(tmp_path_factory.mktemp("render") / "numbered.mp4", Clip(seconds=SECONDS))


def cut(
    source: Path, out_dir: Path, segments: list[Segment], **settings: object
) -> tuple[Path, Timeline, RenderResult]:
    """Render ``segments``; returns the output, the timeline as rendered, the result."""
    timeline = Timeline(source_duration=SECONDS, segments=segments)
    output = out_dir / "out.mp4"
    result = render(source, output, timeline, RenderSettings(**settings))  # type: ignore[arg-type]
    assert result.segments is not None
    return output, Timeline(source_duration=SECONDS, segments=result.segments), result


@pytest.fixture(scope="module", params=MODES)
def rendered(
    request: pytest.FixtureRequest, source: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[str, Decoded, Timeline, object]:
    mode = request.param
    output, timeline, result = cut(source, tmp_path_factory.mktemp(mode), CUTS, mode=mode)
    return mode, decode(output), timeline, result


def test_cuts_move_onto_frame_starts_by_at_most_half_a_frame(rendered) -> None:
    _, _, timeline, _ = rendered
    assert len(timeline.segments) == len(CUTS)
    for done, asked in zip(timeline.segments, CUTS, strict=True):
        for t, wanted in ((done.start, asked.start), (done.end, asked.end)):
            assert abs(t - wanted) <= FRAME / 2 + 1e-6
            assert t * FPS == pytest.approx(round(t * FPS), abs=1e-4)


def test_duration_is_the_planned_duration_within_one_frame(rendered) -> None:
    mode, out, timeline, result = rendered
    planned = timeline.output_duration
    assert result.mode_used == mode
    assert result.duration == pytest.approx(planned)
    assert abs(out.video_end - planned) <= FRAME, (mode, out.video_end, planned)
    assert abs(out.audio_seconds - planned) <= FRAME, (mode, out.audio_seconds, planned)
    with av.open(str(result.output)) as container:
        assert abs(container.duration / 1e6 - planned) <= FRAME


def test_every_frame_shows_the_source_frame_planned_for_its_time(rendered) -> None:
    mode, out, timeline, _ = rendered
    assert out.frame_numbers, "no video"
    for t, number in zip(out.frame_times, out.frame_numbers, strict=True):
        expected = output_time(timeline.segments, number / FPS)
        assert expected is not None, f"{mode}: frame {number} of a removed stretch shown at {t}"
        assert abs(expected - t) < 0.001, (mode, number, t, expected)
    # Every kept source frame is there, each exactly once.
    kept = [
        n for n in range(int(SECONDS * FPS)) if output_time(timeline.segments, n / FPS) is not None
    ]
    assert sorted(out.frame_numbers) == kept


def test_beeps_and_flashes_stay_together_across_cuts(rendered) -> None:
    mode, out, timeline, _ = rendered
    expected = [output_time(timeline.segments, t) for t in MARKERS]
    expected_kept = [t for t in expected if t is not None]
    beeps = beep_onsets(out.audio, out.audio_rate)
    assert len(beeps) == len(expected_kept) == len(out.flashes), (beeps, out.flashes)
    for beep, flash, planned in zip(beeps, out.flashes, expected_kept, strict=True):
        assert abs(beep - flash) <= FRAME, (mode, beep, flash)
        assert abs(beep - planned) <= 0.002, (mode, beep, planned)


def test_output_decodes_without_errors_and_with_monotonic_timestamps(rendered) -> None:
    mode, out, _, result = rendered
    assert out.errors == [], mode
    assert out.frame_times == sorted(set(out.frame_times))
    with av.open(str(result.output)) as container:
        last_dts: dict[int, int] = {}
        for packet in container.demux():
            if packet.dts is None:
                continue
            index = packet.stream.index
            assert packet.dts > last_dts.get(index, -(1 << 62)), (mode, index, packet.dts)
            assert packet.pts is None or packet.pts >= packet.dts
            last_dts[index] = packet.dts


def test_smart_copies_every_frame_that_needs_no_removed_one(source: Path, tmp_path: Path) -> None:
    output, _, result = cut(source, tmp_path, CUTS)
    assert result.mode_used == "smart"
    assert result.fallback_reason is None
    # Whole GOPs inside the kept parts (1 s, 2 s, 5 s, 6 s, 10 s: 150 frames), and the
    # start of each GOP cut out of (3 s to 3.367, 7 s to 7.933, 11 s to 11.5: 11 + 28 +
    # 15 frames), less the B-frames x264 shows after a frame beyond the cut (at most 2
    # per cut here); the frames from each cut-in to the next GOP are encoded.
    assert 204 - 3 * 2 <= result.copied_frames <= 204
    # Frames 6-100, 123-237 and 272-344 of the source are kept (cuts on frame starts).
    assert result.copied_frames + result.encoded_frames == 95 + 115 + 73
    with av.open(str(source)) as container:
        original = {bytes(p) for p in container.demux(container.streams.video[0]) if p.size}
    with av.open(str(output)) as container:
        copied = [bytes(p) in original for p in container.demux(container.streams.video[0])]
    # Every copied frame is the source's packet, except the first of each GOP (8 here),
    # which carries the source's parameter sets in front of it.
    assert sum(copied) == result.copied_frames - 8


def test_reencode_copies_nothing(source: Path, tmp_path: Path) -> None:
    _, timeline, result = cut(source, tmp_path, CUTS, mode="reencode")
    assert result.copied_video_s == 0
    assert result.reencoded_video_s == pytest.approx(timeline.output_duration, abs=FRAME * 3)


def test_hevc_source_falls_back_to_reencode_and_says_so(
    sample_media: SampleMedia, tmp_path: Path
) -> None:
    src = sample_media("hevc.mp4")
    timeline = Timeline(source_duration=2.0, segments=[Segment(0.1, 0.75), Segment(1.2, 1.9)])
    result = render(src, tmp_path / "out.mp4", timeline, RenderSettings())
    assert result.mode_used == "reencode"
    assert result.fallback_reason
    assert "hevc" in result.fallback_reason
    out = decode(result.output)
    assert out.errors == []
    assert abs(out.video_end - result.duration) <= 1 / 25
    assert abs(result.duration - timeline.output_duration) <= 2 / 25


def test_speed_segments_set_the_duration_and_keep_the_pitch(source: Path, tmp_path: Path) -> None:
    # Markers at 2.6 s (inside the 2x part) and 4.7 s (inside the 0.5x part).
    segments = [Segment(0.2, 2.2), Segment(2.2, 3.2, 2.0), Segment(4.5, 5.0, 0.5)]
    for mode in MODES:
        output, timeline, _ = cut(source, tmp_path / mode, segments, mode=mode)
        out = decode(output)
        planned = timeline.output_duration
        assert planned == pytest.approx(2.0 + 0.5 + 1.0)
        assert abs(out.video_end - planned) <= FRAME, (mode, out.video_end)
        assert abs(out.audio_seconds - planned) <= FRAME, (mode, out.audio_seconds)
        assert out.errors == []
        # 2x: the marker at 2.6 s is at 2.0 + 0.4/2; frames advance two at a time.
        assert any(abs(f - 2.2) <= FRAME for f in out.flashes), (mode, out.flashes)
        fast = [
            n for t, n in zip(out.frame_times, out.frame_numbers, strict=True) if 2.0 <= t < 2.5
        ]
        assert len(fast) == pytest.approx(15, abs=1)
        assert np.all(np.diff(fast) == 2)
        for beep in (2.2, 2.5 + 0.2 * 2):
            start = round(beep * out.audio_rate) + 200
            window = out.audio[start : start + 1024]
            spectrum = np.abs(np.fft.rfft(window * np.hanning(window.size)))
            peak = np.argmax(spectrum) * out.audio_rate / window.size
            assert abs(peak - 1000) < 60, (mode, beep, peak)


def test_cancel_from_progress_leaves_no_file(source: Path, tmp_path: Path) -> None:
    calls: list[tuple[str, float]] = []

    def progress(stage: str, fraction: float) -> None:
        calls.append((stage, fraction))
        if fraction > 0.0:
            raise CanceledError("stopped by the user")

    timeline = Timeline(source_duration=SECONDS, segments=CUTS)
    import hushcut.pipeline.render.engine as engine

    interval = engine.PROGRESS_INTERVAL
    engine.PROGRESS_INTERVAL = 0.0  # report at every packet, so the cancel lands mid-file
    try:
        with pytest.raises(CanceledError):
            render(source, tmp_path / "out.mp4", timeline, RenderSettings(), progress)
    finally:
        engine.PROGRESS_INTERVAL = interval
    assert calls[0] == ("render", 0.0)
    assert list(tmp_path.iterdir()) == []


def test_progress_reports_fractions_up_to_one(
    source: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import hushcut.pipeline.render.engine as engine

    monkeypatch.setattr(engine, "PROGRESS_INTERVAL", 0.0)  # every packet: no step may go back
    calls: list[tuple[str, float]] = []
    timeline = Timeline(source_duration=SECONDS, segments=CUTS)
    render(source, tmp_path / "o.mp4", timeline, RenderSettings(), lambda *c: calls.append(c))
    fractions = [f for _, f in calls]
    assert len(fractions) > 100
    assert fractions[0] == 0.0
    assert fractions[-1] == 1.0
    assert fractions == sorted(fractions)


def test_filters_apply_and_video_filters_disable_copying(source: Path, tmp_path: Path) -> None:
    output, _, result = cut(
        source,
        tmp_path,
        CUTS,
        audio_filters=["volume=0.5"],
        video_filters=["scale=160:120"],
    )
    assert result.mode_used == "reencode"
    assert "filter" in (result.fallback_reason or "")
    with av.open(str(output)) as container:
        assert container.streams.video[0].codec_context.width == 160
    loud = decode(cut(source, tmp_path / "plain", CUTS, mode="reencode")[0]).audio
    quiet = decode(output).audio
    ratio = np.sqrt(np.mean(quiet**2) / np.mean(loud**2))
    assert ratio == pytest.approx(0.5, abs=0.05)


def test_bad_timelines_and_inputs_fail_clearly(source: Path, tmp_path: Path) -> None:
    with pytest.raises(RenderError, match="keeps nothing"):
        render(source, tmp_path / "o.mp4", Timeline(SECONDS, []), RenderSettings())
    overlapping = Timeline(SECONDS, [Segment(1, 3), Segment(2, 4)])
    with pytest.raises(RenderError, match="overlap"):
        render(source, tmp_path / "o.mp4", overlapping, RenderSettings())
    with pytest.raises(RenderError, match="linear chain"):
        render(
            source,
            tmp_path / "o.mp4",
            Timeline(SECONDS, [Segment(1, 3)]),
            RenderSettings(audio_filters=["[a]volume=2[b];[b]anull"]),
        )
    notes = tmp_path / "notes.mp4"
    notes.write_text("not a video")
    with pytest.raises(MediaError, match=r"notes\.mp4"):
        render(notes, tmp_path / "o.mp4", Timeline(SECONDS, [Segment(1, 3)]), RenderSettings())
    assert not (tmp_path / "o.mp4").exists()


EDGE_FILES = [name for name in SAMPLES if name != "talk"]


@pytest.mark.parametrize("name", [*EDGE_FILES, "real speech"])
def test_every_edge_file_renders_or_fails_clearly(
    sample_media: SampleMedia, real_speech: Path, tmp_path: Path, name: str
) -> None:
    src = real_speech if name == "real speech" else sample_media(name)
    _renders_or_fails_clearly(src, tmp_path)


@pytest.mark.shared_media
def test_every_shared_edge_file_renders_or_fails_clearly(shared_media: Path, tmp_path: Path):
    for folder in ("edge", "real"):
        for src in sorted((shared_media / folder).glob("*")):
            _renders_or_fails_clearly(src, tmp_path / src.name)


def _renders_or_fails_clearly(src: Path, tmp_path: Path) -> None:
    tmp_path.mkdir(exist_ok=True)
    with av.open(str(src)) as container:
        duration = container.duration / 1e6 if container.duration else 4.0
        has_video = any(
            not (s.disposition & av.stream.Disposition.attached_pic)
            for s in container.streams.video
        )
        has_audio = bool(container.streams.audio)
        rate = container.streams.video[0].average_rate if has_video else None
    frame = 1 / float(rate) if rate else FRAME
    segments = [Segment(0.1 * duration, 0.4 * duration), Segment(0.6 * duration, 0.9 * duration)]
    timeline = Timeline(source_duration=duration, segments=segments)
    try:
        result = render(src, tmp_path / "out.mp4", timeline, RenderSettings())
    except PipelineError as exc:
        message = str(exc)
        assert message
        assert "\n" not in message
        return
    with av.open(str(result.output)) as container:
        kinds = sorted(s.type for s in container.streams)
    assert kinds == sorted(["video"] * has_video + ["audio"] * has_audio)
    out = decode(result.output)
    assert out.errors == []
    planned = result.duration
    assert abs(planned - timeline.output_duration) <= 2 * frame
    if has_video:
        assert abs(out.video_end - planned) <= frame, (src.name, out.video_end, planned)
    if has_audio:
        assert abs(out.audio_seconds - planned) <= frame, (src.name, out.audio_seconds, planned)


@pytest.mark.parametrize(
    "segments",
    [[Segment(0.0, SECONDS)], [Segment(0.0, 2.0), Segment(3.0, SECONDS)]],
    ids=["nothing-cut", "from-zero"],
)
def test_smart_copies_up_to_the_file_edges(
    source: Path, tmp_path: Path, segments: list[Segment]
) -> None:
    output, timeline, result = cut(source, tmp_path, segments)
    # Every frame is copied: each segment starts on a GOP and the source ends a GOP.
    assert result.encoded_frames == 0
    assert result.copied_frames == round(timeline.output_duration * FPS)
    out = decode(output)
    assert out.errors == []
    assert abs(out.video_end - timeline.output_duration) <= FRAME / 100
    assert abs(out.audio_seconds - timeline.output_duration) <= FRAME / 100
    assert out.frame_times[0] == 0.0


def test_display_rotation_survives_both_modes(source: Path, tmp_path: Path) -> None:
    rotated = tmp_path / "portrait.mp4"
    with av.open(str(source)) as src, av.open(str(rotated), "w", format="mp4") as dst:
        video = dst.add_stream_from_template(src.streams.video[0])
        video.set_display_rotation(90)  # how phones store portrait video
        audio = dst.add_stream_from_template(src.streams.audio[0])
        streams = {src.streams.video[0].index: video, src.streams.audio[0].index: audio}
        for packet in src.demux():
            if packet.dts is not None:
                packet.stream = streams[packet.stream.index]
                dst.mux(packet)
    for mode in MODES:
        output, _, _ = cut(rotated, tmp_path / mode, CUTS, mode=mode)
        with av.open(str(output)) as container:
            assert next(container.decode(video=0)).rotation == 90, mode


@pytest.mark.parametrize("mode", MODES)
def test_truncated_source_fails_instead_of_padding(
    source: Path, tmp_path: Path, mode: RenderMode
) -> None:
    truncated = tmp_path / "upload.mp4"
    truncated.write_bytes(source.read_bytes()[: source.stat().st_size // 2])
    output = tmp_path / "out.mp4"
    with pytest.raises(MediaError, match="truncated"):
        render(truncated, output, Timeline(SECONDS, CUTS), RenderSettings(mode=mode))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["upload.mp4"]
