"""Probing and bad input: every sample file works or fails with one clear line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from hushcut.pipeline import MediaError, NoAudioError, detect, probe
from hushcut.pipeline._detect import detect_silences
from hushcut.pipeline.cli import main
from hushcut.pipeline.testing import SAMPLES, SampleMedia, score_against_truth

MEDIA_SUFFIXES = {".mp4", ".mkv", ".m4a", ".mp3", ".wav"}


def shared_files(media_dir: Path) -> list[Path]:
    return sorted(p for p in media_dir.rglob("*") if p.is_file())


def test_talk_streams_durations_and_keyframes(talk: Path) -> None:
    media = probe(talk)
    assert media.duration == pytest.approx(60.0, abs=0.05)
    assert media.video is not None
    assert (media.video.codec, media.video.width, media.video.height) == ("h264", 640, 360)
    assert media.video.fps == pytest.approx(30.0)
    assert media.audio.codec == "aac"
    assert (media.audio.sample_rate, media.audio.channels, media.audio.layout) == (
        48_000,
        2,
        "stereo",
    )
    # A keyint of 250 frames (x264's default) at 30 fps: a keyframe every 8.33 s.
    assert media.keyframes[:3] == pytest.approx([0.0, 250 / 30, 500 / 30])
    assert len(media.keyframes) == 8


def test_extra_streams_are_described_but_never_chosen(sample_media: SampleMedia) -> None:
    with_cover = probe(sample_media("cover-art.mp4"))
    assert [s.codec for s in with_cover.streams] == ["h264", "aac", "mjpeg"]
    assert with_cover.streams[2].attached_picture
    assert with_cover.video is not None
    assert with_cover.video.codec == "h264"
    subtitled = probe(sample_media("subtitles.mp4"))
    assert "subtitle" in {s.type for s in subtitled.streams}
    assert subtitled.audio.codec == "aac"


def test_audio_only_input_has_no_video_and_no_keyframes(sample_media: SampleMedia) -> None:
    media = probe(sample_media("mono.mp3"))
    assert media.video is None
    assert media.keyframes == ()
    assert media.audio.channels == 1


@pytest.mark.parametrize(
    ("kind", "error", "wording"),
    [
        ("text", MediaError, "not a media file"),
        ("empty", MediaError, "not a media file"),
        ("truncated", MediaError, "truncated"),
        ("no_audio", NoAudioError, "no audio track"),
    ],
)
def test_broken_inputs_raise_clear_errors(broken_media, kind: str, error, wording: str) -> None:
    with pytest.raises(error, match=wording) as info:
        probe(broken_media[kind])
    assert "\n" not in str(info.value)
    assert broken_media[kind].name in str(info.value)


def test_detect_refuses_a_truncated_file_without_the_keyframe_scan(broken_media) -> None:
    # detect() skips probe's packet scan (it needs no keyframes); the audio decode itself
    # notices that the data stops long before the declared length.
    with pytest.raises(MediaError, match="truncated") as info:
        detect(broken_media["truncated"])
    assert "\n" not in str(info.value)


def test_a_few_damaged_packets_are_skipped_like_players_do(broken_media, talk: Path) -> None:
    detection = detect_silences(broken_media["damaged"])
    assert score_against_truth(detection.silences, talk).f1 >= 0.97


def test_audio_damaged_throughout_is_refused_in_one_line(broken_media) -> None:
    with pytest.raises(MediaError, match="is corrupt") as info:
        detect_silences(broken_media["wrecked"])
    assert "\n" not in str(info.value)


def _detect_json_outcome(runner: CliRunner, path: Path) -> int:
    """Exit status of ``hushcut detect --json PATH``, checked to be one clean line."""
    result = runner.invoke(main, ["detect", str(path), "--json"])
    assert "Traceback" not in result.output, path
    if result.exit_code == 0:
        assert result.stdout.count("\n") == 1
    else:
        assert result.exit_code == 1, f"{path.name}: {result.output}"
        assert result.stderr.startswith("error: ")
        assert result.stderr.count("\n") == 1, result.stderr
    return result.exit_code


def test_every_sample_detects_or_fails_in_one_line(
    sample_media: SampleMedia, real_speech: Path, tmp_path: Path
) -> None:
    runner = CliRunner()
    for name, spec in SAMPLES.items():
        path = sample_media(name)
        # Files with a sound track are analysed; a video without one is refused.
        assert _detect_json_outcome(runner, path) == (0 if spec.audio else 1), name
        # Its ground truth is no media file: refused in one line.
        assert _detect_json_outcome(runner, path.with_suffix(".json")) == 1
    assert _detect_json_outcome(runner, real_speech) == 0
    notes = tmp_path / "README.md"
    notes.write_text("# Not media\n")
    assert _detect_json_outcome(runner, notes) == 1


@pytest.mark.shared_media
def test_every_shared_media_file_detects_or_fails_in_one_line(shared_media: Path) -> None:
    runner = CliRunner()
    outcomes = {}
    for path in shared_files(shared_media):
        outcomes[path.name] = _detect_json_outcome(runner, path)
        assert (outcomes[path.name] == 0) == (path.suffix in MEDIA_SUFFIXES), path.name
    assert outcomes["talk1.mp4"] == 0
    assert outcomes["man-on-green-screen.mp4"] == 0  # it does have an audio track


@pytest.mark.parametrize("kind", ["text", "empty", "truncated", "no_audio", "wrecked"])
def test_cli_refuses_broken_input_with_one_line_and_no_traceback(broken_media, kind: str) -> None:
    # The real console script, as a user runs it: exit status and stderr exactly.
    result = subprocess.run(
        [sys.executable, "-m", "hushcut.pipeline", "cut", str(broken_media[kind])],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    # Piped stderr gets JSON progress lines for scripts before the failure: one error line.
    lines = [line for line in result.stderr.splitlines() if not line.startswith('{"stage"')]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    assert not (broken_media[kind].parent / f"{broken_media[kind].stem}_hushcut.mp4").exists()


def test_cli_reports_a_missing_file_in_one_line(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["detect", str(tmp_path / "nope.mp4")])
    assert result.exit_code == 1
    assert result.stderr == f"error: {tmp_path / 'nope.mp4'}: no such file\n"
