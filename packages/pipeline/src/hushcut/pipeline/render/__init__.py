"""Rendering a timeline into the output file: SMART (copy what can be) or REENCODE."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import av.error

from hushcut.pipeline.errors import MediaError, PipelineError, RenderError
from hushcut.pipeline.timeline import Segment, Timeline

log = logging.getLogger(__name__)

RenderMode = Literal["smart", "reencode"]

#: Called with (stage, fraction in 0..1). It may raise CanceledError to stop the work.
ProgressCallback = Callable[[str, float], None]


@dataclass
class RenderSettings:
    """How to render. Filters are FFmpeg filtergraph strings contributed by plugins.

    ``preset``/``crf`` drive libx264 for everything that is encoded (all of REENCODE,
    the frames around cuts in SMART). veryfast/20 is the documented default: about
    twice as fast as x264's medium at a visually transparent quality for talks
    (screen content and faces), and the encoded pieces in SMART are short anyway.
    Filters are linear chains ("highpass=f=80,loudnorm"); any video filter makes
    SMART re-encode everything, since copied frames cannot be filtered.
    ``audio_track`` is the position of the primary audio stream among the source's
    audio streams (None: the default one); every audio stream is cut the same way.
    """

    mode: RenderMode = "smart"
    preset: str = "veryfast"
    crf: int = 20
    audio_bitrate: int = 160_000
    audio_filters: list[str] = field(default_factory=list)
    video_filters: list[str] = field(default_factory=list)
    audio_track: int | None = None


@dataclass
class RenderResult:
    """What rendering produced.

    ``duration`` is the output duration; ``segments`` the timeline as rendered (its cuts
    moved onto the nearest frame start, see docs/pipeline.md), when the renderer says.
    ``copied_frames`` were stream-copied from the source, ``encoded_frames`` went
    through the encoder; ``copied_video_s``/``reencoded_video_s`` are the same in
    seconds of nominal frame duration.
    """

    output: Path
    mode_used: RenderMode
    duration: float
    fallback_reason: str | None = None
    copied_video_s: float = 0.0
    reencoded_video_s: float = 0.0
    copied_frames: int = 0
    encoded_frames: int = 0
    segments: list[Segment] | None = None

    @property
    def copied_fraction(self) -> float:
        """The share of output video frames copied from the source (0 without video)."""
        frames = self.copied_frames + self.encoded_frames
        return self.copied_frames / frames if frames else 0.0


def render(
    source: Path,
    output: Path,
    timeline: Timeline,
    settings: RenderSettings,
    progress: ProgressCallback | None = None,
) -> RenderResult:
    """Render ``timeline`` of ``source`` into ``output``.

    The container follows ``output``'s extension (see ``formats.FORMATS``: MP4, MOV and
    Matroska hold H.264 + AAC, WebM VP9 + Opus, audio containers their own codec). The
    output holds the source's main video stream (cover art is not video; none for
    audio containers) and all its audio streams, cut identically, the primary one
    (``settings.audio_track``) marked default; subtitles and data streams are dropped
    because their cues would point at the wrong times after cutting. The file appears
    at ``output`` only when it is complete: a failure or a cancel (``progress`` raising
    ``CanceledError``) leaves nothing behind.
    """
    from hushcut.pipeline.render import engine
    from hushcut.pipeline.render.formats import output_format
    from hushcut.pipeline.render.video import SpliceError

    segments = _checked_segments(timeline)
    source = Path(source)
    output = Path(output)
    fmt = output_format(output)
    if not source.is_file():
        raise MediaError(f"{source}: no such file")
    output.parent.mkdir(parents=True, exist_ok=True)
    partial = output.with_name(f".{output.name}.{os.getpid()}.part{output.suffix}")
    mode: RenderMode = settings.mode
    try:
        try:
            stats = engine.Renderer(source, partial, segments, settings, progress, fmt, mode).run()
        except SpliceError as exc:
            partial.unlink(missing_ok=True)
            stats = engine.Renderer(
                source, partial, segments, settings, progress, fmt, "reencode"
            ).run()
            stats.fallback_reason = f"splicing failed ({exc}): re-encoded everything"
        os.replace(partial, output)
    except PipelineError:
        partial.unlink(missing_ok=True)
        raise
    except av.error.FFmpegError as exc:
        partial.unlink(missing_ok=True)
        raise RenderError(f"rendering {source.name} failed: {exc}") from exc
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    if stats.fallback_reason:
        log.info("render %s: %s", source.name, stats.fallback_reason)
    return RenderResult(
        output=output,
        mode_used=stats.mode,
        duration=timeline_output_duration(stats.segments),
        fallback_reason=stats.fallback_reason,
        copied_video_s=stats.copied_video_s,
        reencoded_video_s=stats.reencoded_video_s,
        copied_frames=stats.copied_frames,
        encoded_frames=stats.encoded_frames,
        segments=stats.segments,
    )


def timeline_output_duration(segments: list[Segment]) -> float:
    return sum(s.output_duration for s in segments)


def _checked_segments(timeline: Timeline) -> list[Segment]:
    """The timeline's segments, validated: ordered, non-overlapping, positive speed."""
    segments = [s for s in timeline.segments if s.end > s.start]
    if not segments:
        raise RenderError("the timeline keeps nothing: there is no output to render")
    previous_end = float("-inf")
    for seg in segments:
        if seg.start < 0 or not seg.speed > 0:
            raise RenderError(f"invalid segment {seg.start:.3f}-{seg.end:.3f} x{seg.speed}")
        if seg.start < previous_end - 1e-9:
            raise RenderError(
                f"segments overlap or are out of order at {seg.start:.3f}s: "
                "a timeline lists kept stretches in source order"
            )
        previous_end = seg.end
    return segments
