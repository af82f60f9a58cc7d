"""`hushcut cut` end to end with the real renderer: outputs, durations, summary, bad input."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from hushcut.pipeline import CutOptions, cut, probe
from hushcut.pipeline.cli import main
from hushcut.pipeline.testing import SAMPLES, GroundTruth, SampleMedia

#: Small inputs of every kind the kit makes (the talk gets its own test), and real speech.
SMALL_INPUTS = [name for name, spec in SAMPLES.items() if name != "talk" and spec.audio]


def frame_duration(path: Path) -> float:
    media = probe(path)
    return 1.0 / media.video.fps if media.video and media.video.fps else 1024 / 44_100


@pytest.mark.parametrize("name", [*SMALL_INPUTS, "real speech"])
def test_every_small_input_cuts_to_a_valid_output(
    sample_media: SampleMedia, real_speech: Path, tmp_path: Path, name: str
) -> None:
    source = real_speech if name == "real speech" else sample_media(name)
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


def test_default_cut_of_the_talk_removes_the_pauses_and_matches_the_plan(
    workdir: Path, talk: Path
) -> None:
    source = workdir / "talk.mp4"
    runner = CliRunner()
    result = runner.invoke(main, ["cut", str(source), "--timeline", str(workdir / "plan.json")])
    assert result.exit_code == 0, result.output
    output = workdir / "talk_hushcut.mp4"  # default: beside the input
    planned = json.loads((workdir / "plan.json").read_text())
    made = probe(output)
    assert made.duration == pytest.approx(planned["output_duration"], abs=1 / 30)
    inserted = GroundTruth.load(talk).silent_duration
    removed = 60.0 - made.duration
    assert 0.7 * inserted < removed < inserted
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
        main, ["cut", str(workdir / "talk.mp4"), "-o", str(output), "--from-timeline", str(edited)]
    )
    assert result.exit_code == 0, result.output
    assert probe(output).duration == pytest.approx(3.0, abs=1 / 30)


def test_cut_api_reports_every_stage_and_returns_durations(
    sample_media: SampleMedia, tmp_path: Path
) -> None:
    source = sample_media("pcm-s16le.wav")
    truth = GroundTruth.load(source)
    reports: list[tuple[str, float]] = []
    result = cut(
        source,
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
    assert result.input_duration == pytest.approx(truth.duration, abs=0.01)
    assert result.removed_s == pytest.approx(result.input_duration - result.output_duration)
    # Its pauses, less the 0.1 s margins on each side of each.
    margins = 0.1 * (2 * len(truth.silences) - 2)
    assert result.removed_s > 0.9 * (truth.silent_duration - margins)
    assert probe(tmp_path / "speech.mp4").duration == pytest.approx(
        result.output_duration, abs=0.03
    )
