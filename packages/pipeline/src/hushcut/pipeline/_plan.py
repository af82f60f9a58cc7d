"""Planning the edit: from detected silences to the kept segments of the timeline."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from hushcut.pipeline.timeline import Segment, Timeline

#: Times closer than this (s) to the start or end of the media count as touching it.
EDGE_S = 1e-3

NOTHING_AUDIBLE_NOTE = "no sound above the silence threshold anywhere: nothing was cut"


def plan_cuts(
    silences: Iterable[Sequence[float]],
    duration: float,
    *,
    min_silence_s: float,
    margin_s: float,
    min_cut_s: float,
) -> list[tuple[float, float]]:
    """The ranges to remove: each long enough silence minus ``margin_s`` of it beside speech.

    No margin is kept at the very start or end of the media: there is no speech beyond it
    to protect. Cuts shorter than ``min_cut_s`` after the margins are not worth a splice.
    """
    cuts: list[tuple[float, float]] = []
    for raw_start, raw_end in sorted((float(a), float(b)) for a, b in silences):
        start, end = max(0.0, raw_start), min(duration, raw_end)
        if end - start < min_silence_s:
            continue
        cut_start = 0.0 if start <= EDGE_S else start + margin_s
        cut_end = duration if end >= duration - EDGE_S else end - margin_s
        if cut_end - cut_start < max(min_cut_s, EDGE_S):
            continue
        if cuts and cut_start <= cuts[-1][1]:
            cuts[-1] = (cuts[-1][0], max(cuts[-1][1], cut_end))
        else:
            cuts.append((cut_start, cut_end))
    return cuts


def kept_segments(
    cuts: Iterable[tuple[float, float]], duration: float, *, min_clip_s: float
) -> list[Segment]:
    """The complement of ``cuts`` in [0, duration], without clips shorter than ``min_clip_s``.

    A clip that short between two cuts is a click, a breath or a lip smack, and flashing
    it on screen looks like a glitch.
    """
    segments: list[Segment] = []
    position = 0.0
    for start, end in sorted(cuts):
        if start - position > EDGE_S:
            segments.append(Segment(position, start))
        position = max(position, end)
    if duration - position > EDGE_S:
        segments.append(Segment(position, duration))
    return [s for s in segments if s.source_duration >= min_clip_s]


def plan_timeline(
    silences: Iterable[Sequence[float]],
    duration: float,
    *,
    min_silence_s: float,
    margin_s: float,
    min_cut_s: float,
    min_clip_s: float,
    source: str | None = None,
) -> Timeline:
    """The built-in plan: cut every silence (minus margins), keep the rest at normal speed."""
    if duration <= 0:
        return Timeline(source_duration=0.0, segments=[], source=source)
    cuts = plan_cuts(
        silences, duration, min_silence_s=min_silence_s, margin_s=margin_s, min_cut_s=min_cut_s
    )
    segments = kept_segments(cuts, duration, min_clip_s=min_clip_s)
    timeline = Timeline(source_duration=duration, segments=segments, source=source)
    if not segments:
        # Never plan an empty output: when nothing is louder than the threshold, the
        # recording is mute or the threshold is wrong for it, and an empty file helps nobody.
        timeline.segments = [Segment(0.0, duration)]
        timeline.meta["note"] = NOTHING_AUDIBLE_NOTE
    return timeline
