"""A Hushcut timeline as an OpenTimelineIO timeline: one clip of the source per kept segment.

Times become whole frames of the source's video (its frame rate, snapped to the editing
rate it is meant to be: a phone's 29.93 average is 29.97). A clip starts at the first
frame the renderer keeps for its segment and ends after the last one: a frame at ``t``
is kept when ``start <= t < end``.
"""

from __future__ import annotations

import math
from fractions import Fraction
from pathlib import Path
from urllib.parse import quote

import opentimelineio as otio

from hushcut.pipeline import MediaInfo, Timeline

#: Frame rates editors use; a source within ``SNAP_TOLERANCE`` of one is edited at it.
EDITING_RATES = (
    Fraction(24000, 1001),
    Fraction(24),
    Fraction(25),
    Fraction(30000, 1001),
    Fraction(30),
    Fraction(48),
    Fraction(50),
    Fraction(60000, 1001),
    Fraction(60),
)
SNAP_TOLERANCE = 0.02
#: Timebase of an audio-only source's timeline: editors need frames even without video.
AUDIO_ONLY_RATE = Fraction(30)
#: Seconds within this of a frame boundary count as on it (timeline times are rounded to µs).
ON_FRAME_S = 1e-6


def edit_rate(media: MediaInfo) -> Fraction:
    """The frame rate the exported timeline counts in."""
    fps = media.video.fps if media.video is not None else None
    if not fps or not math.isfinite(fps) or fps <= 0:
        return AUDIO_ONLY_RATE
    nearest = min(EDITING_RATES, key=lambda rate: abs(float(rate) - fps))
    if abs(float(nearest) - fps) <= SNAP_TOLERANCE * float(nearest):
        return nearest
    return Fraction(fps).limit_denominator(1001)


def frame_at(seconds: float, rate: Fraction) -> int:
    """The first frame at or after ``seconds`` (frames are at ``n / rate``)."""
    return max(0, math.ceil(seconds * rate - ON_FRAME_S * rate))


def media_url(path: Path) -> str:
    """``file://`` URL of an absolute path; a relative one (just a file name, as the
    platform passes) stays a relative URL for the editor to resolve."""
    if path.is_absolute():
        return path.as_uri()
    return quote(path.as_posix())


def to_otio(timeline: Timeline, media: MediaInfo) -> otio.schema.Timeline:
    """``timeline`` as an OTIO timeline: a video track (when the source has video) and an
    audio track, each holding one clip of the source per segment, back to back.

    A segment played faster than normal (``speed`` above 1) keeps its place in the
    timeline: the clip lasts its output duration and carries a LinearTimeWarp of that
    speed (OTIO's convention); ``metadata["hushcut"]`` keeps every segment's exact times.
    """
    rate = edit_rate(media)
    fps = float(rate)
    name = media.path.name
    url = media_url(media.path)
    available = otio.opentime.TimeRange(
        otio.opentime.RationalTime(0, fps),
        otio.opentime.RationalTime(frame_at(media.duration, rate), fps),
    )
    result = otio.schema.Timeline(name=f"{Path(name).stem} (hushcut)")
    result.global_start_time = otio.opentime.RationalTime(0, fps)
    result.metadata["hushcut"] = {
        "source": name,
        "source_duration": timeline.source_duration,
        "rate": [rate.numerator, rate.denominator],
    }
    kinds = [otio.schema.TrackKind.Video] if media.has_video else []
    kinds.append(otio.schema.TrackKind.Audio)
    for kind in kinds:
        track = otio.schema.Track(name=f"{kind[0]}1", kind=kind)
        for number, segment in enumerate(timeline.segments, start=1):
            first, end = frame_at(segment.start, rate), frame_at(segment.end, rate)
            if segment.speed != 1.0:
                end = first + max(1, round((end - first) / segment.speed))
            if end <= first:
                continue  # shorter than a frame: nothing of it is shown
            clip = otio.schema.Clip(
                name=name,
                media_reference=otio.schema.ExternalReference(
                    target_url=url, available_range=available
                ),
                source_range=otio.opentime.TimeRange(
                    otio.opentime.RationalTime(first, fps),
                    otio.opentime.RationalTime(end - first, fps),
                ),
            )
            clip.metadata["hushcut"] = {
                "segment": number,
                "start": segment.start,
                "end": segment.end,
                "speed": segment.speed,
            }
            if segment.speed != 1.0:
                clip.effects.append(otio.schema.LinearTimeWarp(time_scalar=segment.speed))
            track.append(clip)
        result.tracks.append(track)
    return result
