"""The timeline file: written by `--timeline`, read back, and a hand edit renders as edited."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from hushcut.pipeline import Segment, Timeline, TimelineError, cut
from hushcut.pipeline.cli import main
from tests.pipeline.fake_plugins import use_fake_renderer


def test_round_trip_keeps_every_field(tmp_path: Path) -> None:
    timeline = Timeline(
        source_duration=12.5,
        segments=[Segment(0.0, 2.0), Segment(3.0, 5.5, speed=2.0)],
        source="talk.mp4",
        meta={"threshold_db": -40.7},
    )
    path = tmp_path / "plan.json"
    timeline.write(path)
    again = Timeline.read(path)
    assert again == timeline
    data = json.loads(path.read_text())
    assert data["version"] == 1
    assert data["output_duration"] == pytest.approx(3.25)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        ({"segments": [{"start": 2, "end": 1}]}, "end after its start"),
        ({"segments": [{"start": 0, "end": 2}, {"start": 1, "end": 3}]}, "overlaps"),
        ({"segments": [{"start": 0, "end": 99}]}, "ends after the source"),
        ({"segments": [{"start": 0, "end": 1, "speed": 0}]}, "speed"),
        ({"segments": []}, "no segments"),
        ({"segments": [{"start": "x", "end": 1}]}, "malformed"),
        ({"version": 7}, "version"),
    ],
)
def test_bad_edits_are_refused_with_one_line(tmp_path: Path, edit: dict, message: str) -> None:
    data = {"version": 1, "source_duration": 10.0, "segments": [{"start": 0, "end": 1}]}
    data.update(edit)
    path = tmp_path / "edited.json"
    path.write_text(json.dumps(data))
    with pytest.raises(TimelineError, match=message) as info:
        Timeline.read(path)
    assert "\n" not in str(info.value)


def test_timeline_that_is_not_json_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "edited.json"
    path.write_text("{not json")
    with pytest.raises(TimelineError, match="not valid JSON"):
        Timeline.read(path)


def test_cli_writes_the_plan_and_a_hand_edit_is_what_gets_planned(workdir: Path) -> None:
    source = workdir / "talk.mp4"
    plan_file = workdir / "plan.json"
    runner = CliRunner()
    written = runner.invoke(main, ["cut", str(source), "--plan-only", "--timeline", str(plan_file)])
    assert written.exit_code == 0, written.output
    data = json.loads(plan_file.read_text())
    assert data["source"] == "talk.mp4"
    assert len(data["segments"]) > 3
    # The user keeps only the first two kept segments and slows nothing down.
    data["segments"] = data["segments"][:2]
    plan_file.write_text(json.dumps(data))
    edited = Timeline.read(plan_file)
    replayed = runner.invoke(
        main, ["cut", str(source), "--plan-only", "--from-timeline", str(plan_file)]
    )
    assert replayed.exit_code == 0, replayed.output
    assert f"would keep {edited.output_duration:.3f} s" in replayed.stdout
    assert "in 2 segments" in replayed.stdout


def test_cut_renders_a_supplied_timeline_exactly_as_given(workdir: Path, pm) -> None:
    renderer = use_fake_renderer(pm)
    edited = Timeline(source_duration=60.0, segments=[Segment(1.0, 7.5), Segment(20.0, 23.0, 2.0)])
    result = cut(workdir / "talk.mp4", workdir / "out.mp4", timeline=edited, plugin_manager=pm)
    assert renderer.timelines == [edited]
    assert result.detection is None  # nothing was detected or re-planned
    assert result.output_duration == pytest.approx(8.0)


def test_cut_refuses_a_timeline_longer_than_the_source(workdir: Path, pm) -> None:
    use_fake_renderer(pm)
    too_long = Timeline(source_duration=90.0, segments=[Segment(50.0, 80.0)])
    with pytest.raises(TimelineError, match="ends after the source"):
        cut(workdir / "talk.mp4", workdir / "out.mp4", timeline=too_long, plugin_manager=pm)
    assert not (workdir / "out.mp4").exists()
