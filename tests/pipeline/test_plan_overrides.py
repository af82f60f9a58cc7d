"""What the user forces on a plan: asymmetric margins, ranges cut out and added in."""

from __future__ import annotations

import pytest

from hushcut.pipeline import (
    CutOptions,
    Detection,
    OptionsError,
    Segment,
    Timeline,
    TimelineError,
    hookimpl,
    plan,
)

#: One pause, 4-6 s, in 10 s of speech.
PAUSE = Detection(10.0, [(4.0, 6.0)], -50.0, -15.0, -41.0)


def spans(timeline: Timeline) -> list[tuple[float, float]]:
    return [(round(s.start, 3), round(s.end, 3)) for s in timeline.segments]


def planned(pm, detection: Detection = PAUSE, **options) -> Timeline:
    return plan(detection, options, plugin_manager=pm)


def test_margins_before_and_after_speech_differ(pm) -> None:
    # 0.2 s kept after the speech that stops at 4 s, 0.5 s before the speech at 6 s.
    timeline = planned(pm, margin_before_s=0.5, margin_after_s=0.2)
    assert spans(timeline) == [(0.0, 4.2), (5.5, 10.0)]
    assert (timeline.meta["margin_before_s"], timeline.meta["margin_after_s"]) == (0.5, 0.2)


def test_an_unset_side_takes_margin_s(pm) -> None:
    assert spans(planned(pm, margin_s=0.3, margin_before_s=0.6)) == [(0.0, 4.3), (5.4, 10.0)]
    assert spans(planned(pm, margin_s=0.3)) == [(0.0, 4.3), (5.7, 10.0)]
    assert CutOptions(margin_s=0.3, margin_after_s=0.0).margins == (0.3, 0.0)


def test_a_range_cut_out_goes_even_where_there_is_speech(pm) -> None:
    timeline = planned(pm, cut_out=[(1.0, 2.0), (8.0, None)])
    assert spans(timeline) == [(0.0, 1.0), (2.0, 4.15), (5.85, 8.0)]
    assert timeline.output_duration == pytest.approx(1.0 + 2.15 + 2.15)


def test_a_range_added_in_stays_and_joins_what_it_touches(pm) -> None:
    assert spans(planned(pm, add_in=[(4.6, 5.0)])) == [(0.0, 4.15), (4.6, 5.0), (5.85, 10.0)]
    assert spans(planned(pm, add_in=[(4.1, 5.9)])) == [(0.0, 10.0)]
    assert spans(planned(pm, add_in=[(4.0, 5.0)])) == [(0.0, 5.0), (5.85, 10.0)]


def test_cut_out_wins_over_add_in(pm) -> None:
    timeline = planned(pm, add_in=[(4.0, 6.0)], cut_out=[(4.5, 5.5)])
    assert spans(timeline) == [(0.0, 4.5), (5.5, 10.0)]


def test_slivers_a_cut_out_leaves_are_dropped_unless_added(pm) -> None:
    # Cutting 0.2-4.0 s leaves 0-0.2 s and 4.0-4.15 s: too short to show (min_clip_s 0.4).
    assert spans(planned(pm, cut_out=[(0.2, 4.0)])) == [(5.85, 10.0)]
    kept = planned(pm, cut_out=[(0.2, 4.0)], add_in=[(0.0, 0.2)])
    assert spans(kept) == [(0.0, 0.2), (5.85, 10.0)]


def test_ranges_past_the_end_are_clipped_and_cutting_everything_is_an_error(pm) -> None:
    assert spans(planned(pm, add_in=[(9.0, 60.0)], cut_out=[(20.0, 30.0)])) == [
        (0.0, 4.15),
        (5.85, 10.0),
    ]
    with pytest.raises(TimelineError, match="keeps nothing"):
        planned(pm, cut_out=[(0.0, None)])


class SpeedSilences:
    """Stands in for hushcut-speedup: every cut stretch played at 4x."""

    @hookimpl
    def hushcut_adjust_timeline(self, timeline: Timeline) -> None:
        filled: list[Segment] = []
        position = 0.0
        for segment in timeline.segments:
            if segment.start > position:
                filled.append(Segment(position, segment.start, 4.0))
            filled.append(segment)
            position = segment.end
        timeline.segments = filled


def test_forced_ranges_override_plugins_adjustments_too(pm) -> None:
    pm.register(SpeedSilences(), name="speed-silences")
    assert spans(planned(pm)) == [(0.0, 4.15), (4.15, 5.85), (5.85, 10.0)]
    # Added in: at normal speed, not 4x; cut out: gone, not sped up.
    timeline = planned(pm, add_in=[(4.5, 5.0)], cut_out=[(5.0, 5.3)])
    assert [(round(s.start, 3), round(s.end, 3), s.speed) for s in timeline.segments] == [
        (0.0, 4.15, 1.0),
        (4.15, 4.5, 4.0),
        (4.5, 5.0, 1.0),
        (5.3, 5.85, 4.0),
        (5.85, 10.0, 1.0),
    ]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"cut_out": [[2.0, 1.0]]}, "option 'cut_out.0'.*ends after it starts"),
        ({"add_in": [[-1.0, 1.0]]}, "option 'add_in.0.0'"),
        ({"add_in": [[1.0]]}, "option 'add_in.0.1'"),
        ({"margin_before_s": -0.1}, "option 'margin_before_s'"),
        ({"margin_after_s": 9}, "option 'margin_after_s'"),
    ],
)
def test_bad_ranges_and_margins_are_one_clear_error(options, message: str) -> None:
    with pytest.raises(OptionsError, match=message):
        CutOptions.from_mapping(options)
