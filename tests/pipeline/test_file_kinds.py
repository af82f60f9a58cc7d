"""Kinds of real-world file that once cut wrong, each made small by ``clips`` and cut."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import av
import numpy as np
import pytest
from click.testing import CliRunner

from hushcut.pipeline import CutOptions, OptionsError, analyze, cut, detect, probe
from hushcut.pipeline.cli import main
from hushcut.pipeline.render import RenderSettings, render
from hushcut.pipeline.timeline import Segment, Timeline
from tests.pipeline.clips import (
    FPS,
    Clip,
    Decoded,
    Track,
    beep_onsets,
    copy_excerpt,
    decode,
    frame_number,
    output_time,
    shown_source_frame,
    write_clip,
    write_wav,
)

FRAME = 1 / FPS
#: A talk: speech, a 1.5 s pause, speech; beeps (and white frames) only inside speech.
TALK_MARKERS = (0.6, 1.3, 2.0, 2.6, 4.9, 5.6, 6.3, 7.0)
TALK = Track(speech=((0.3, 3.0), (4.5, 7.7)))
TALK_CLIP = Clip(seconds=8.0, tracks=(TALK,), markers=TALK_MARKERS)


def source_markers(path: Path) -> tuple[list[float], list[int], list[float], list[float]]:
    """(frame times, frame numbers, flash times, beep times) of a source, in seconds from
    its start."""
    with av.open(str(path)) as container:
        start = (container.start_time or 0) / av.time_base
        stream = container.streams.video[0]
        times, numbers, flashes = [], [], []
        for frame in container.decode(stream):
            t = float(frame.pts * frame.time_base) - start
            gray = frame.to_ndarray(format="gray")
            times.append(t)
            numbers.append(frame_number(gray))
            if gray[40:, :].mean() > 235:
                flashes.append(t)
        container.seek(0)
        audio = container.streams.audio[0]
        first = None
        chunks = []
        for frame in container.decode(audio):
            if first is None:
                first = float(frame.pts * frame.time_base) - start
            chunks.append(frame.to_ndarray().reshape(len(frame.layout.channels), -1)[0])
        rate = audio.codec_context.sample_rate
    beeps = [first + t for t in beep_onsets(np.concatenate(chunks), rate)]
    return times, numbers, flashes, beeps


def assert_cut_matches_timeline(source: Path, out: Decoded, segments: list[Segment]) -> None:
    """Each output frame shows the source frame on screen at its mapped time; beeps and
    flashes land where the timeline puts them; no frame is a sliver at a cut."""
    times, numbers, flashes, beeps = source_markers(source)
    assert out.errors == []
    for t, number in zip(out.frame_times, out.frame_numbers, strict=True):
        assert number == numbers[shown_source_frame(segments, times, t + 0.001)], (t, number)
    gaps = np.diff(out.frame_times)
    assert gaps.min() >= FRAME - 1e-3, gaps.min()
    expected = [output_time(segments, t) for t in beeps]
    kept = [t for t in expected if t is not None]
    heard = beep_onsets(out.audio, out.audio_rate)
    assert len(heard) == len(kept), (heard, kept)
    assert max(abs(a - b) for a, b in zip(heard, kept, strict=True)) <= 0.003
    seen = [t for t in (output_time(segments, t) for t in flashes) if t is not None]
    assert len(out.flashes) == len(seen)
    assert all(abs(a - b) < 0.002 for a, b in zip(out.flashes, seen, strict=True))


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("kinds")


# ------------------------------------------------------------------ start time other than 0


@pytest.mark.parametrize(
    ("name", "clip", "start"),
    [
        ("obs.ts", dataclasses.replace(TALK_CLIP, format="mpegts", offset=1.4), 1.4),
        ("offset.mp4", dataclasses.replace(TALK_CLIP, offset=5.0), 5.0),
        ("offset.mkv", dataclasses.replace(TALK_CLIP, offset=5.0), 5.0),
    ],
)
def test_a_file_that_starts_late_is_cut_where_its_pauses_are(
    folder: Path, name: str, clip: Clip, start: float
) -> None:
    source = write_clip(folder / name, clip)
    media = probe(source)
    assert media.start_time == pytest.approx(start, abs=0.1)
    assert media.duration == pytest.approx(8.0, abs=0.05)  # not 13 s: no "truncated"
    detection = detect(source)
    pauses = [(round(a, 1), round(b, 1)) for a, b in detection.silences if b - a > 1.0]
    assert pauses == [(3.0, 4.5)]
    # analyze(): the same silences, and waveform peaks from that one decode on the same
    # clock: quiet in the pause, loud in the speech around it.
    analysis = analyze(source)
    assert analysis.detection.silences == detection.silences
    assert not analysis.peaks_decoded_again
    assert analysis.peaks.duration == pytest.approx(8.0, abs=0.05)
    rate, wave = analysis.peaks.peaks_per_second, np.array(analysis.peaks.peaks[0])
    assert len(wave) == pytest.approx(8.0 * rate, abs=2)
    pause = wave[int(3.2 * rate) : int(4.3 * rate)]
    speech = wave[int(0.5 * rate) : int(2.8 * rate)]
    assert pause.max() < 0.25 * np.median(speech), (pause.max(), np.median(speech))
    result = cut(source, folder / f"{name}.mp4")
    assert result.render_result.mode_used == "smart"
    assert result.render_result.copied_frames > 100  # MPEG-TS's start codes are spliced too
    out = decode(result.output, end_slack_frames=2.1)
    assert_cut_matches_timeline(source, out, result.timeline.segments)
    assert out.video_end == pytest.approx(result.output_duration, abs=FRAME)
    # Durations to the millisecond (what the API's outputDurationS gets), plain floats.
    for value in (result.input_duration, result.output_duration, result.removed_s):
        assert value == round(value, 3)
    for shown in (repr(result.detection), repr(result.timeline), repr(result)):
        assert "np.float" not in shown
        assert "np.int" not in shown


# ------------------------------------------------------------------ odd sizes, 4:4:4, VP9


@pytest.mark.parametrize(
    ("name", "codec"), [("odd444.mp4", "libx264"), ("odd444-vp9.webm", "libvpx-vp9")]
)
def test_odd_sized_444_video_is_cropped_to_even_and_encoded(
    folder: Path, name: str, codec: str
) -> None:
    clip = Clip(seconds=2.0, width=1279, height=719, codec=codec, pix_fmt="yuv444p", gop=15)
    source = write_clip(folder / name, clip)
    timeline = Timeline(2.0, [Segment(0.2, 0.9), Segment(1.3, 1.8)])
    result = render(source, folder / f"{name}.mp4", timeline, RenderSettings())
    assert result.mode_used == "reencode"
    assert "yuv444p" in (result.fallback_reason or "") or "vp9" in (result.fallback_reason or "")
    out = decode(result.output)
    assert out.size == (1278, 718)
    assert result.segments is not None
    assert_cut_matches_timeline(source, out, result.segments)


def test_a_title_that_is_not_utf8_does_not_make_the_file_unreadable(folder: Path) -> None:
    # Older tools write Latin-1 tags: "Café" as 43 61 66 E9, which is not UTF-8.
    source = write_clip(
        folder / "latin1.mkv", dataclasses.replace(TALK_CLIP, tags={"title": "Caf~MARK~"})
    )
    data = source.read_bytes()
    assert data.count(b"~MARK~") == 1
    source.write_bytes(data.replace(b"~MARK~", b"\xe9 talk"))
    assert probe(source).duration == pytest.approx(8.0, abs=0.1)
    result = cut(source, folder / "latin1-out.mkv")
    assert result.output_duration < 7.0  # the talk's pause is gone
    runner = CliRunner()
    done = runner.invoke(main, ["detect", str(source), "--json"])
    assert done.exit_code == 0, done.output
    assert json.loads(done.stdout)["silences"]


# ------------------------------------------------------------------ sparse variable frame rate


@pytest.mark.parametrize("mode", ["smart", "reencode"])
def test_sparse_slides_open_each_segment_with_the_slide_on_screen(folder: Path, mode: str) -> None:
    slides = (0.0, 2.5, 5.0, 7.5)
    source = folder / "slides.mp4"
    if not source.exists():
        write_clip(source, Clip(seconds=10.0, frame_times=slides, markers=()))
    segments = [Segment(1.0, 2.0), Segment(3.0, 4.0), Segment(5.5, 6.0), Segment(8.0, 9.5)]
    result = render(
        source, folder / f"slides-{mode}.mp4", Timeline(10.0, segments), RenderSettings(mode=mode)
    )
    out = decode(result.output, end_slack_frames=100)
    assert out.errors == []
    # 0-1: slide 0; 1-2: slide 1 (shown since 2.5 s); 2-2.5: slide 2; 2.5-4: slide 3.
    assert list(zip(out.frame_times, out.frame_numbers, strict=True)) == [
        (0.0, 0),
        (1.0, 1),
        (2.0, 2),
        (2.5, 3),
    ]
    assert out.video_end == pytest.approx(4.0, abs=0.01)


# ------------------------------------------------------------------ several audio tracks


@pytest.fixture(scope="module")
def two_tracks(folder: Path) -> Path:
    """A steady tone (commentary music, no pauses) first, the talk second and default."""
    music = Track(background_db=-20, beep_hz=3000, language="fra")
    talk = Track(speech=TALK.speech, language="eng")
    clip = dataclasses.replace(TALK_CLIP, tracks=(music, talk), default_track=1)
    return write_clip(folder / "two-tracks.mkv", clip)


def test_the_default_track_is_analysed_and_every_track_is_cut_alike(
    folder: Path, two_tracks: Path
) -> None:
    assert probe(two_tracks).audio.index == 2  # video, music, talk
    result = cut(two_tracks, folder / "two-tracks-out.mkv")
    assert result.output_duration < 7.0  # the talk's pause is gone
    with av.open(str(result.output)) as container:
        assert container.format.name.startswith("matroska")
        tracks = container.streams.audio
        assert [s.metadata.get("language") for s in tracks] == ["fra", "eng"]
        assert [bool(s.disposition & av.stream.Disposition.default) for s in tracks] == [
            False,
            True,
        ]
    out = decode(result.output, end_slack_frames=2.1)
    music, talk = out.tracks
    # Both tracks beep at the same output times: they were cut identically.
    heard_music = beep_onsets(music, out.audio_rate, level=0.5)
    heard_talk = beep_onsets(talk, out.audio_rate, level=0.3)
    assert len(heard_music) == len(heard_talk) == len(TALK_MARKERS)
    assert max(abs(a - b) for a, b in zip(heard_music, heard_talk, strict=True)) < 0.002


def test_audio_track_chooses_the_track_to_analyse(two_tracks: Path) -> None:
    # The music never pauses: analysing it finds nothing to cut, and says why.
    music = detect(two_tracks, CutOptions(audio_track=0))
    assert music.silences == []
    assert any("threshold" in note for note in music.notes)
    # analyze() (review before render, the waveform) reads the same track as detect().
    assert analyze(two_tracks, {"audio_track": 0}).detection.silences == []
    talk = analyze(two_tracks)
    assert talk.media.audio.index == 2
    assert talk.detection.silences == detect(two_tracks).silences != []
    runner = CliRunner()
    result = runner.invoke(main, ["detect", str(two_tracks), "--audio-track", "1", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["silences"]
    wrong = runner.invoke(main, ["cut", str(two_tracks), "--audio-track", "2"])
    assert wrong.exit_code == 1
    assert wrong.stderr == (
        "error: audio track 2 does not exist: two-tracks.mkv has 2 audio tracks (0-1)\n"
    )
    with pytest.raises(OptionsError, match="audio_track"):
        CutOptions.from_mapping({"audio_track": -1})


# ------------------------------------------------------------------ sparse speech


def test_one_word_in_a_long_quiet_clip_is_kept_and_the_quiet_cut(folder: Path) -> None:
    wav = write_wav(folder / "word.wav", [(6.0, None), (0.4, -20.0), (6.0, None)], noise_db=-60)
    detection = detect(wav)
    assert [(round(a, 1), round(b, 1)) for a, b in detection.silences] == [(0.0, 6.0), (6.4, 12.4)]
    result = cut(wav, folder / "word-out.wav")
    assert result.output_duration == pytest.approx(0.4 + 2 * 0.15, abs=0.03)
    assert result.notes == []


def test_too_little_contrast_says_what_to_try(folder: Path) -> None:
    wav = write_wav(folder / "faint.wav", [(4.0, None), (1.0, -58.0), (4.0, None)], noise_db=-60)
    result = CliRunner().invoke(main, ["cut", str(wav), "-o", str(folder / "faint-out.wav")])
    assert result.exit_code == 0, result.output
    notes = [line for line in result.stderr.splitlines() if line.startswith("note: ")]
    assert len(notes) == 1, result.stderr
    assert "dB above the noise floor" in notes[0]
    assert "--threshold-db" in notes[0]
    assert "removed 0.000 s" in result.stdout


# ------------------------------------------------------------------ copy excerpts, codec names


@pytest.mark.parametrize("mode", ["smart", "reencode"])
def test_a_copy_excerpt_starting_off_a_keyframe_cuts_cleanly(folder: Path, mode: str) -> None:
    source = folder / "whole.mp4"
    if not source.exists():
        write_clip(source, Clip(seconds=12.0, gop=60))
    excerpt = folder / "excerpt.mp4"
    if not excerpt.exists():
        copy_excerpt(source, excerpt, 5.5)  # the edit list hides 1.5 s of pre-roll
    timeline = Timeline(6.5, [Segment(0.31, 2.2), Segment(2.91, 6.0)])
    result = render(excerpt, folder / f"excerpt-{mode}.mp4", timeline, RenderSettings(mode=mode))
    out = decode(result.output)
    assert result.segments is not None
    assert_cut_matches_timeline(excerpt, out, result.segments)
    assert out.frame_numbers[0] == round((5.5 + 0.3) * FPS)
    if mode == "smart":
        assert result.copied_frames > 60


def test_notes_name_the_codec_not_the_decoder(folder: Path) -> None:
    source = write_clip(folder / "av1.mkv", Clip(seconds=1.0, codec="libsvtav1"))
    assert probe(source).video.codec == "av1"  # type: ignore[union-attr]
    result = render(
        source, folder / "av1.mp4", Timeline(1.0, [Segment(0.1, 0.8)]), RenderSettings()
    )
    assert result.fallback_reason == "source video is av1, not H.264: re-encoding everything"


# ------------------------------------------------------------------ containers


@pytest.mark.parametrize(
    ("suffix", "format_name", "video", "audio"),
    [
        (".mkv", "matroska,webm", "h264", "aac"),
        (".mov", "mov,mp4,m4a,3gp,3g2,mj2", "h264", "aac"),
        (".webm", "matroska,webm", "vp9", "opus"),
        (".m4a", "mov,mp4,m4a,3gp,3g2,mj2", None, "aac"),
        (".mp3", "mp3", None, "mp3"),
    ],
)
def test_the_output_container_follows_the_extension(
    folder: Path, suffix: str, format_name: str, video: str | None, audio: str
) -> None:
    source = folder / "talk.mp4"
    if not source.exists():
        write_clip(source, TALK_CLIP)
    result = cut(source, folder / f"talk-out{suffix}")
    with av.open(str(result.output)) as container:
        assert container.format.name == format_name
        assert [s.codec_context.codec.canonical_name for s in container.streams.video] == (
            [video] if video else []
        )
        assert [s.codec_context.codec.canonical_name for s in container.streams.audio] == [audio]
        if suffix == ".mov":
            assert container.metadata.get("major_brand", "").strip() == "qt"
    if video:
        out = decode(result.output, end_slack_frames=2.1)
        assert out.errors == []
        segments = result.timeline.segments
        kept = [i for i in range(8 * FPS) if output_time(segments, i / FPS) is not None]
        assert len(out.frame_numbers) == len(kept)


@pytest.mark.parametrize(("suffix", "codec"), [(".wav", "pcm_s16le"), (".m4a", "aac")])
def test_audio_inputs_give_audio_outputs_in_their_own_container(
    folder: Path, suffix: str, codec: str
) -> None:
    pieces = [(2.0, -20.0), (1.5, None), (2.0, -20.0)]
    wav = write_wav(folder / "speech.wav", pieces, noise_db=-60)
    source = wav
    if suffix != ".wav":
        source = folder / f"speech{suffix}"
        cut(wav, source, timeline=Timeline(5.5, [Segment(0, 5.5)]))
    result = CliRunner().invoke(main, ["cut", str(source), "--progress", "none"])
    assert result.exit_code == 0, result.output
    output = folder / f"speech_hushcut{suffix}"
    made = probe(output)
    assert made.video is None
    assert made.audio.codec == codec
    assert made.duration == pytest.approx(5.5 - 1.5 + 0.3, abs=0.03)


def test_an_existing_output_is_kept_unless_overwrite_is_given(folder: Path) -> None:
    wav = write_wav(folder / "keep.wav", [(1.0, -20.0), (1.0, None), (1.0, -20.0)], noise_db=-60)
    target = folder / "keep-out.wav"
    target.write_bytes(b"precious")
    runner = CliRunner()
    refused = runner.invoke(main, ["cut", str(wav), "-o", str(target)])
    assert refused.exit_code == 1
    assert refused.stderr == f"error: {target} already exists: add -y (--overwrite) to replace it\n"
    assert target.read_bytes() == b"precious"
    done = runner.invoke(main, ["cut", str(wav), "-o", str(target), "-y", "--progress", "none"])
    assert done.exit_code == 0, done.output
    assert probe(target).duration == pytest.approx(2.3, abs=0.03)
