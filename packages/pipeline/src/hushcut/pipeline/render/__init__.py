"""Rendering a timeline into the output file: SMART (copy GOPs, re-encode edges) or REENCODE."""

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
    the cut-boundary pieces of SMART). veryfast/20 is the documented default: about
    twice as fast as x264's medium at a visually transparent quality for talks
    (screen content and faces), and the boundary pieces in SMART are short anyway.
    Filters are linear chains ("highpass=f=80,loudnorm"); any video filter makes
    SMART re-encode everything, since copied frames cannot be filtered.
    """

    mode: RenderMode = "smart"
    preset: str = "veryfast"
    crf: int = 20
    audio_bitrate: int = 160_000
    audio_filters: list[str] = field(default_factory=list)
    video_filters: list[str] = field(default_factory=list)


@dataclass
class RenderResult:
    """What rendering produced.

    ``duration`` is the planned output duration; ``copied_video_s`` is video stream-copied
    from the source, ``reencoded_video_s`` video that went through the encoder.
    """

    output: Path
    mode_used: RenderMode
    duration: float
    fallback_reason: str | None = None
    copied_video_s: float = 0.0
    reencoded_video_s: float = 0.0


def render(
    source: Path,
    output: Path,
    timeline: Timeline,
    settings: RenderSettings,
    progress: ProgressCallback | None = None,
) -> RenderResult:
    """Render ``timeline`` of ``source`` into ``output`` (MP4, faststart).

    The output holds the source's first video stream (cover art is not video) and its
    first audio stream; subtitles and data streams are dropped because their cues
    would point at the wrong times after cutting. Audio-only sources give an
    audio-only MP4 (playable as .m4a). The file appears at ``output`` only when it
    is complete: a failure or a cancel (``progress`` raising ``CanceledError``)
    leaves nothing behind.
    """
    from hushcut.pipeline.render import engine
    from hushcut.pipeline.render.video import SpliceError

    segments = _checked_segments(timeline)
    source = Path(source)
    output = Path(output)
    if not source.is_file():
        raise MediaError(f"{source}: no such file")
    mode: RenderMode = settings.mode
    fallback: str | None = None
    splice: engine.SpliceParams | None = None
    if mode == "smart":
        with engine.open_input(source) as probe:
            video, _ = engine.pick_streams(probe)
            if video is not None:
                if settings.video_filters:
                    fallback = "video filters change every frame: re-encoding everything"
                else:
                    params = engine.splice_params(video)
                    if isinstance(params, str):
                        fallback = params
                    else:
                        splice = params
        if fallback is not None:
            mode = "reencode"
    output.parent.mkdir(parents=True, exist_ok=True)
    partial = output.with_name(f".{output.name}.{os.getpid()}.part")
    try:
        try:
            stats = engine.Renderer(source, partial, segments, settings, progress, splice).run()
        except SpliceError as exc:
            fallback = f"splicing failed ({exc}): re-encoded everything"
            mode = "reencode"
            partial.unlink(missing_ok=True)
            stats = engine.Renderer(source, partial, segments, settings, progress, None).run()
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
    if fallback:
        log.info("render %s: %s", source.name, fallback)
    return RenderResult(
        output=output,
        mode_used=mode,
        duration=timeline_output_duration(segments),
        fallback_reason=fallback,
        copied_video_s=stats.copied_video_s,
        reencoded_video_s=stats.reencoded_video_s,
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
