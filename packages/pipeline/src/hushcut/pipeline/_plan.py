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
    margin_before_s: float | None = None,
    margin_after_s: float | None = None,
) -> list[tuple[float, float]]:
    """The ranges to remove: each long enough silence minus margins of it beside speech:
    ``margin_after_s`` after the speech before it, ``margin_before_s`` before the speech
    after it (each ``margin_s`` when None).

    No margin is kept at the very start or end of the media: there is no speech beyond it
    to protect. Cuts shorter than ``min_cut_s`` after the margins are not worth a splice.
    """
    before = margin_s if margin_before_s is None else margin_before_s
    after = margin_s if margin_after_s is None else margin_after_s
    cuts: list[tuple[float, float]] = []
    for raw_start, raw_end in sorted((float(a), float(b)) for a, b in silences):
        start, end = max(0.0, raw_start), min(duration, raw_end)
        if end - start < min_silence_s:
            continue
        cut_start = 0.0 if start <= EDGE_S else start + after
        cut_end = duration if end >= duration - EDGE_S else end - before
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
    margin_before_s: float | None = None,
    margin_after_s: float | None = None,
) -> Timeline:
    """The built-in plan: cut every silence (minus margins), keep the rest at normal speed."""
    if duration <= 0:
        return Timeline(source_duration=0.0, segments=[], source=source)
    cuts = plan_cuts(
        silences,
        duration,
        min_silence_s=min_silence_s,
        margin_s=margin_s,
        min_cut_s=min_cut_s,
        margin_before_s=margin_before_s,
        margin_after_s=margin_after_s,
    )
    segments = kept_segments(cuts, duration, min_clip_s=min_clip_s)
    timeline = Timeline(source_duration=duration, segments=segments, source=source)
    if not segments:
        # Never plan an empty output: when nothing is louder than the threshold, the
        # recording is mute or the threshold is wrong for it, and an empty file helps nobody.
        timeline.segments = [Segment(0.0, duration)]
        timeline.meta["note"] = NOTHING_AUDIBLE_NOTE
    return timeline


def force_ranges(
    timeline: Timeline,
    *,
    add_in: Iterable[tuple[float, float | None]] = (),
    cut_out: Iterable[tuple[float, float | None]] = (),
    min_clip_s: float = 0.0,
) -> None:
    """Keep every ``add_in`` range and remove every ``cut_out`` range, whatever the plan
    said (``cut_out`` wins where both name the same time). In place.

    Ranges are ``(start, end)`` seconds, ``end`` None meaning the end of the source, and
    are clipped to it. An added range plays at normal speed and joins the kept segments it
    touches. A piece a cut-out leaves of a kept segment is dropped when shorter than
    ``min_clip_s`` (the planner's rule for clips too short to show), unless it was added.
    """
    duration = timeline.source_duration
    added = _clipped(add_in, duration)
    removed = _clipped(cut_out, duration)
    if not added and not removed:
        return
    segments = list(timeline.segments)
    for start, end in added:
        segments = [*_without(segments, start, end, 0.0), Segment(start, end)]
    segments = _joined(sorted(segments, key=lambda s: s.start))
    for start, end in removed:
        segments = _without(segments, start, end, min_clip_s, keep=added)
    timeline.segments = segments


def _clipped(
    ranges: Iterable[tuple[float, float | None]], duration: float
) -> list[tuple[float, float]]:
    clipped = []
    for start, end in ranges:
        a, b = max(0.0, start), min(duration, duration if end is None else end)
        if b - a > EDGE_S:
            clipped.append((a, b))
    return clipped


def _without(
    segments: list[Segment],
    start: float,
    end: float,
    min_piece_s: float,
    keep: Sequence[tuple[float, float]] = (),
) -> list[Segment]:
    """``segments`` with ``[start, end]`` taken out; pieces left shorter than
    ``min_piece_s`` go too, unless they lie inside a ``keep`` range."""
    result: list[Segment] = []
    for segment in segments:
        if segment.end <= start or segment.start >= end:
            result.append(segment)
            continue
        pieces = (
            Segment(segment.start, start, segment.speed),
            Segment(end, segment.end, segment.speed),
        )
        for piece in pieces:
            if piece.source_duration <= EDGE_S:
                continue
            kept = any(a - EDGE_S <= piece.start and piece.end <= b + EDGE_S for a, b in keep)
            if piece.source_duration >= min_piece_s or kept:
                result.append(piece)
    return result


def _joined(segments: list[Segment]) -> list[Segment]:
    """Sorted ``segments`` with touching ones of the same speed made one."""
    joined: list[Segment] = []
    for segment in segments:
        last = joined[-1] if joined else None
        if last and last.speed == segment.speed and segment.start - last.end <= EDGE_S:
            joined[-1] = Segment(last.start, max(last.end, segment.end), last.speed)
        else:
            joined.append(segment)
    return joined
