"""Probing and bad input: every shared media file works or fails with one clear line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from hushcut.pipeline import MediaError, NoAudioError, detect, detect_silences, probe
from hushcut.pipeline.cli import main
from tests.pipeline.scoring import score_against_truth

MEDIA_SUFFIXES = {".mp4", ".mkv", ".m4a", ".mp3", ".wav"}


def shared_files(media_dir: Path) -> list[Path]:
    return sorted(p for p in media_dir.rglob("*") if p.is_file())


def test_talk1_streams_durations_and_keyframes(talk1: Path) -> None:
    media = probe(talk1)
    assert media.duration == pytest.approx(60.0, abs=0.05)
    assert media.video is not None
    assert (media.video.codec, media.video.width, media.video.height) == ("h264", 1280, 720)
    assert media.video.fps == pytest.approx(30.0)
    assert media.audio.codec == "aac"
    assert (media.audio.sample_rate, media.audio.channels, media.audio.layout) == (
        48_000,
        2,
        "stereo",
    )
    # x264's default keyint of 250 frames at 30 fps: a keyframe every 8.33 s.
    assert media.keyframes[:3] == pytest.approx([0.0, 250 / 30, 500 / 30])
    assert len(media.keyframes) == 8


def test_extra_streams_are_described_but_never_chosen(media_dir: Path) -> None:
    with_cover = probe(media_dir / "edge" / "h264-mjpeg.mp4")
    assert [s.codec for s in with_cover.streams] == ["h264", "aac", "mjpeg"]
    assert with_cover.video is not None
    assert with_cover.video.codec == "h264"
    subtitled = probe(media_dir / "edge" / "mov_text.mp4")
    assert "subtitle" in {s.type for s in subtitled.streams}
    assert subtitled.audio.codec == "aac"


def test_audio_only_input_has_no_video_and_no_keyframes(media_dir: Path) -> None:
    media = probe(media_dir / "edge" / "mono.mp3")
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


def test_a_few_damaged_packets_are_skipped_like_players_do(broken_media, talk1: Path) -> None:
    detection = detect_silences(broken_media["damaged"])
    assert score_against_truth(detection.silences, talk1.with_suffix(".json")).f1 >= 0.97


def test_audio_damaged_throughout_is_refused_in_one_line(broken_media) -> None:
    with pytest.raises(MediaError, match="is corrupt") as info:
        detect_silences(broken_media["wrecked"])
    assert "\n" not in str(info.value)


def test_every_shared_media_file_detects_or_fails_in_one_line(media_dir: Path) -> None:
    runner = CliRunner()
    outcomes = {}
    for path in shared_files(media_dir):
        result = runner.invoke(main, ["detect", str(path), "--json"])
        assert "Traceback" not in result.output, path
        if path.suffix in MEDIA_SUFFIXES:
            assert result.exit_code == 0, f"{path.name}: {result.output}"
            assert result.stdout.count("\n") == 1
        else:
            assert result.exit_code == 1, f"{path.name} should be refused"
            assert result.stderr.startswith("error: ")
            assert result.stderr.count("\n") == 1, result.stderr
        outcomes[path.name] = result.exit_code
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
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    assert not (broken_media[kind].parent / f"{broken_media[kind].stem}_hushcut.mp4").exists()


def test_cli_reports_a_missing_file_in_one_line(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["detect", str(tmp_path / "nope.mp4")])
    assert result.exit_code == 1
    assert result.stderr == f"error: {tmp_path / 'nope.mp4'}: no such file\n"
