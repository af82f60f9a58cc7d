"""`hushcut cut` end to end with the real renderer: outputs, durations, summary, bad input."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from hushcut.pipeline import CutOptions, cut, probe
from hushcut.pipeline.cli import main

#: Small inputs of every kind in the shared media (talk1 gets its own test).
SMALL_INPUTS = [
    "edge/aac.m4a",
    "edge/h264-mjpeg.mp4",
    "edge/man-on-green-screen.mp4",
    "edge/mono.mp3",
    "edge/mov_text.mp4",
    "edge/pcm-s32le.wav",
    "edge/testsrc-hevc.mp4",
    "edge/testsrc.mkv",
    "edge/testsrc.mp4",
    "real/example-cut-s16le.wav",
    "real/new-commentary.mp3",
]


def frame_duration(path: Path) -> float:
    media = probe(path)
    return 1.0 / media.video.fps if media.video and media.video.fps else 1024 / 44_100


@pytest.mark.parametrize("relative_path", SMALL_INPUTS)
def test_every_small_shared_input_cuts_to_a_valid_output(
    media_dir: Path, tmp_path: Path, relative_path: str
) -> None:
    source = media_dir / relative_path
    output = tmp_path / "out.mp4"
    plan_file = tmp_path / "plan.json"
    result = CliRunner().invoke(
        main, ["cut", str(source), "-o", str(output), "--timeline", str(plan_file)]
    )
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output
    planned = json.loads(plan_file.read_text())["output_duration"]
    made = probe(output)
    assert made.duration == pytest.approx(planned, abs=frame_duration(source))
    # Expected streams: audio always, video exactly when the source has real video.
    assert made.audio is not None
    assert (made.video is not None) == (probe(source).video is not None)


def test_default_cut_of_talk1_removes_the_pauses_and_matches_the_plan(
    workdir: Path, talk1: Path
) -> None:
    source = workdir / "talk1.mp4"
    runner = CliRunner()
    result = runner.invoke(main, ["cut", str(source), "--timeline", str(workdir / "plan.json")])
    assert result.exit_code == 0, result.output
    output = workdir / "talk1_hushcut.mp4"  # default: beside the input
    planned = json.loads((workdir / "plan.json").read_text())
    made = probe(output)
    assert made.duration == pytest.approx(planned["output_duration"], abs=1 / 30)
    truth = json.loads(talk1.with_suffix(".json").read_text())
    removed = 60.0 - made.duration
    assert 0.7 * truth["inserted_silence_total"] < removed < truth["inserted_silence_total"]
    summary = result.stdout.strip().splitlines()[-1]
    assert summary.startswith(f"{source} -> {output}: 60.000 s -> ")
    numbers = re.search(r"-> (\d+\.\d{3}) s, removed (\d+\.\d{3}) s \(([\d.]+)%\)$", summary)
    assert numbers, summary
    # Durations to the millisecond, as the written timeline says.
    assert float(numbers[1]) == planned["output_duration"]
    planned_removed = 60.0 - planned["output_duration"]
    assert float(numbers[2]) == pytest.approx(planned_removed, abs=0.0015)
    assert float(numbers[3]) == pytest.approx(100 * planned_removed / 60, abs=0.06)


def test_hand_edited_timeline_renders_as_edited(workdir: Path) -> None:
    edited = workdir / "edited.json"
    edited.write_text(
        json.dumps(
            {
                "version": 1,
                "source_duration": 60.0,
                "segments": [
                    {"start": 1.0, "end": 3.0},
                    {"start": 9.0, "end": 11.0, "speed": 2.0},
                ],
            }
        )
    )
    output = workdir / "edited.mp4"
    result = CliRunner().invoke(
        main, ["cut", str(workdir / "talk1.mp4"), "-o", str(output), "--from-timeline", str(edited)]
    )
    assert result.exit_code == 0, result.output
    assert probe(output).duration == pytest.approx(3.0, abs=1 / 30)


def test_cut_api_reports_every_stage_and_returns_durations(media_dir: Path, tmp_path) -> None:
    reports: list[tuple[str, float]] = []
    result = cut(
        media_dir / "real" / "example-cut-s16le.wav",
        tmp_path / "speech.mp4",
        CutOptions(margin_s=0.1),
        progress=lambda stage, fraction: reports.append((stage, fraction)),
    )
    assert list(dict.fromkeys(stage for stage, _ in reports)) == [
        "probe",
        "detect",
        "plan",
        "render",
        "postprocess",
    ]
    assert reports[-1][1] == 1.0
    assert result.input_duration == pytest.approx(17.6, abs=0.01)
    assert result.removed_s == pytest.approx(result.input_duration - result.output_duration)
    assert result.removed_s > 0.3  # its five pauses, less the margins
    assert probe(tmp_path / "speech.mp4").duration == pytest.approx(
        result.output_duration, abs=0.03
    )
