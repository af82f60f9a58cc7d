"""`hushcut cut` for editing the plan: --plan-only's table, --margin BEFORE,AFTER,
--cut-out/--add-in, and --export (the timeline that would be rendered, nothing rendered)."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from hushcut.pipeline import Segment, Timeline, detect, plan
from hushcut.pipeline.cli import main

ROW = re.compile(r"^\s*(\d+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)$")


def table_rows(output: str) -> list[tuple[float, float, float]]:
    """(start, end, speed) of each row of the --plan-only table."""
    rows = []
    for line in output.splitlines():
        match = ROW.match(line)
        if match:
            number, start, end, length, speed = match.groups()
            assert int(number) == len(rows) + 1
            assert float(length) == pytest.approx(float(end) - float(start), abs=0.0011)
            rows.append((float(start), float(end), float(speed)))
    return rows


def cut(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["cut", *args])
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def talk(talk: Path, tmp_path: Path) -> Path:
    """The kit's talk in a folder of its own, so default outputs land where the test looks."""
    return Path(shutil.copy(talk, tmp_path / "talk.mp4"))


def test_plan_only_prints_the_kept_segments_as_a_table(talk: Path, pm) -> None:
    code, out, err = cut(str(talk), "--plan-only")
    assert code == 0, err
    expected = plan(detect(talk, plugin_manager=pm), plugin_manager=pm)
    rows = table_rows(out)
    assert rows == [
        (pytest.approx(s.start, abs=5e-4), pytest.approx(s.end, abs=5e-4), s.speed)
        for s in expected.segments
    ]
    assert out.splitlines()[0].split() == ["#", "start", "end", "length", "speed"]
    assert out.splitlines()[-1].startswith(f"{talk}: would keep {expected.output_duration:.3f} s")
    assert not (talk.parent / "talk_hushcut.mp4").exists()


def test_margin_before_after_cut_out_and_add_in_shape_the_plan(talk: Path, pm) -> None:
    detection = detect(talk, plugin_manager=pm)
    code, out, err = cut(
        str(talk),
        "--plan-only",
        "--margin",
        "0.05,0.4",
        "--cut-out",
        "0,5",
        "--cut-out",
        "0:50,end",
        "--add-in",
        "20.5,22",
    )
    assert code == 0, err
    expected = plan(
        detection,
        {
            "margin_before_s": 0.05,
            "margin_after_s": 0.4,
            "cut_out": [(0.0, 5.0), (50.0, None)],
            "add_in": [(20.5, 22.0)],
        },
        plugin_manager=pm,
    )
    rows = table_rows(out)
    assert rows == [(round(s.start, 3), round(s.end, 3), s.speed) for s in expected.segments]
    assert rows[0][0] >= 5.0  # nothing kept before the forced cut
    assert rows[-1][1] <= 50.0
    assert any(start <= 20.5 and end >= 22.0 for start, end, _ in rows)
    # The margins really are uneven: speech-before-pause keeps 0.4 s, pause-before-speech 0.05.
    plain = plan(detection, plugin_manager=pm)
    assert rows != [(round(s.start, 3), round(s.end, 3), s.speed) for s in plain.segments]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--cut-out", "3"], "START,END"),
        (["--add-in", "5,2"], "ends before it starts"),
        (["--margin", "0.1,0.2,0.3"], "BEFORE,AFTER"),
        (["--margin", "9,0.1"], "margin_before_s"),
    ],
)
def test_bad_ranges_and_margins_fail_before_any_work(
    tmp_path: Path, args: list[str], message: str
) -> None:
    code, _out, err = cut(str(tmp_path / "never-read.mp4"), "--plan-only", *args)
    assert code != 0
    assert message in err
    assert "no such file" not in err


def test_export_json_writes_the_timeline_a_cut_would_render_and_renders_nothing(
    talk: Path, pm
) -> None:
    code, out, err = cut(str(talk), "--export", "json", "--cut-out", "10,12")
    assert code == 0, err
    written = talk.parent / "talk_hushcut.json"
    timeline = Timeline.read(written)
    expected = plan(detect(talk, plugin_manager=pm), {"cut_out": [(10.0, 12.0)]}, plugin_manager=pm)
    assert [(s.start, s.end) for s in timeline.segments] == [
        (pytest.approx(s.start), pytest.approx(s.end)) for s in expected.segments
    ]
    assert timeline.source == "talk.mp4"
    assert out.strip() == (
        f"{talk} -> {written}: json timeline keeping {expected.output_duration:.3f} s of "
        f"{expected.source_duration:.3f} s in {len(expected.segments)} segments (nothing rendered)"
    )
    assert sorted(p.name for p in talk.parent.iterdir()) == ["talk.mp4", "talk_hushcut.json"]


def test_export_of_a_given_timeline_is_that_timeline(talk: Path, tmp_path: Path) -> None:
    edited = Timeline(60.0, [Segment(1.0, 2.5), Segment(30.0, 31.25, 2.0)])
    source = tmp_path / "edited.json"
    edited.write(source)
    target = tmp_path / "out" / "plan.json"
    target.parent.mkdir()
    code, _out, err = cut(
        str(talk), "--from-timeline", str(source), "--export", "json", "-o", str(target)
    )
    assert code == 0, err
    data = json.loads(target.read_text())
    assert data["segments"] == [
        {"start": 1.0, "end": 2.5, "speed": 1.0},
        {"start": 30.0, "end": 31.25, "speed": 2.0},
    ]


def test_export_to_an_unknown_format_is_one_line_listing_the_installed_ones(talk: Path) -> None:
    code, _out, err = cut(str(talk), "--export", "premiere")
    assert code == 1
    assert err.strip() == (
        "error: no installed exporter is called 'premiere' "
        "(installed exporters: json; see `hushcut plugins`)"
    )
    assert list(talk.parent.iterdir()) == [talk]
