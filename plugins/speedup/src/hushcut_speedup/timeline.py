"""Turning the cuts of a planned timeline into stretches played faster."""

from __future__ import annotations

from hushcut.pipeline import Segment, Timeline

#: Highest speed-up allowed: beyond it a silence lasts less than a frame at 30 fps
#: unless it is over three seconds long, so cutting it is the honest choice.
MAX_FACTOR = 100.0
#: Gaps shorter than this (s) between kept segments are rounding, not cuts.
MIN_GAP_S = 0.001


def speed_up_gaps(timeline: Timeline, factor: float) -> None:
    """Fill every stretch ``timeline`` leaves out (before, between and after the kept
    segments) with a segment of the source played ``factor`` times faster, in place.

    The audio of those segments is tempo-corrected by the renderer (FFmpeg ``atempo``),
    so voices and music in them keep their pitch. ``timeline.meta["speedup_factor"]``
    records the factor.
    """
    if not factor > 1.0:
        raise ValueError(f"a speed-up factor must be above 1, not {factor:g}")
    filled: list[Segment] = []
    position = 0.0
    for segment in timeline.segments:
        if segment.start - position >= MIN_GAP_S:
            filled.append(Segment(position, segment.start, speed=factor))
        filled.append(segment)
        position = max(position, segment.end)
    if timeline.source_duration - position >= MIN_GAP_S:
        filled.append(Segment(position, timeline.source_duration, speed=factor))
    timeline.segments[:] = filled
    timeline.meta["speedup_factor"] = factor
