"""Planning rules: margins, short silences, merged cuts, tiny clips, clamping, totals."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hushcut.pipeline import CutOptions, Detection, Segment, detect, plan, plan_timeline

RULES = {"min_silence_s": 0.3, "margin_s": 0.15, "min_cut_s": 0.1, "min_clip_s": 0.4}


def spans(timeline) -> list[tuple[float, float]]:
    return [(round(s.start, 3), round(s.end, 3)) for s in timeline.segments]


def test_margins_are_kept_around_speech() -> None:
    timeline = plan_timeline([(4.0, 6.0)], 10.0, **RULES)
    assert spans(timeline) == [(0.0, 4.15), (5.85, 10.0)]
    assert timeline.removed_duration == pytest.approx(1.7)


def test_no_margin_at_the_very_start_and_end() -> None:
    timeline = plan_timeline([(0.0, 1.0), (9.0, 10.0)], 10.0, **RULES)
    assert spans(timeline) == [(0.85, 9.15)]


def test_silences_shorter_than_min_silence_stay() -> None:
    timeline = plan_timeline([(2.0, 2.25), (5.0, 6.0)], 10.0, **RULES)
    assert spans(timeline) == [(0.0, 5.15), (5.85, 10.0)]


def test_cuts_that_margins_shrink_below_min_cut_are_skipped() -> None:
    # 0.35 s of silence minus 2 x 0.15 s margins leaves a 0.05 s cut: not worth a splice.
    timeline = plan_timeline([(3.0, 3.35)], 10.0, **RULES)
    assert spans(timeline) == [(0.0, 10.0)]


def test_a_clip_shorter_than_min_clip_between_two_cuts_is_dropped() -> None:
    # A 0.05 s click between two long pauses: with margins the clip would be 0.35 s.
    timeline = plan_timeline([(2.0, 4.0), (4.05, 6.0)], 10.0, **RULES)
    assert spans(timeline) == [(0.0, 2.15), (5.85, 10.0)]


def test_overlapping_and_unsorted_silences_merge_into_one_cut() -> None:
    timeline = plan_timeline([(5.0, 7.0), (2.0, 4.0), (3.5, 5.5)], 10.0, **RULES)
    assert spans(timeline) == [(0.0, 2.15), (6.85, 10.0)]


def test_silences_are_clamped_to_the_media() -> None:
    timeline = plan_timeline([(-1.0, 0.5), (9.5, 12.0)], 10.0, **RULES)
    assert spans(timeline) == [(0.35, 9.65)]
    assert timeline.source_duration == 10.0


def test_an_all_silent_recording_is_kept_whole_not_emptied() -> None:
    timeline = plan_timeline([(0.0, 10.0)], 10.0, **RULES)
    assert spans(timeline) == [(0.0, 10.0)]
    assert "nothing was cut" in timeline.meta["note"]


def test_totals_add_up() -> None:
    timeline = plan_timeline([(1.0, 2.0), (5.0, 8.0)], 10.0, **RULES)
    kept = sum(s.end - s.start for s in timeline.segments)
    assert timeline.output_duration == pytest.approx(kept)
    assert timeline.removed_duration == pytest.approx(10.0 - kept)


def test_plan_uses_options_and_records_how_it_was_made(pm) -> None:
    detection = Detection(10.0, [(4.0, 6.0)], -50.0, -15.0, -41.0)
    timeline = plan(detection, {"margin_s": 0.5}, plugin_manager=pm)
    assert spans(timeline) == [(0.0, 4.5), (5.5, 10.0)]
    assert timeline.meta["margin_s"] == 0.5
    assert timeline.meta["threshold_db"] == -41.0


def test_default_plan_of_the_talk_clips_no_word(talk: Path, pm) -> None:
    truth = json.loads(talk.with_suffix(".json").read_text())
    timeline = plan(detect(talk, plugin_manager=pm), CutOptions(), plugin_manager=pm)
    kept = timeline.segments
    for sentence in truth["speech"]:
        # Every spoken sentence lies inside one kept segment, with room to spare.
        assert any(
            s.start <= sentence["start"] - 0.05 or s.start == 0.0
            for s in kept
            if s.start <= sentence["start"] and s.end >= sentence["end"]
        ), f"sentence at {sentence['start']:.2f}-{sentence['end']:.2f} s is clipped"
    removed = timeline.removed_duration
    inserted = truth["inserted_silence_total"]
    # Margins keep some of each pause, but most of the inserted silence goes.
    assert 0.7 * inserted < removed < inserted


def test_segments_default_to_normal_speed() -> None:
    assert Segment(1.0, 3.0).output_duration == 2.0
    assert Segment(1.0, 3.0, speed=4.0).output_duration == 0.5
