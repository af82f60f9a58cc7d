"""Rendering a timeline into the output file: SMART (copy GOPs, re-encode edges) or REENCODE."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from hushcut.pipeline.timeline import Timeline

RenderMode = Literal["smart", "reencode"]

#: Called with (stage, fraction in 0..1). It may raise CanceledError to stop the work.
ProgressCallback = Callable[[str, float], None]


@dataclass
class RenderSettings:
    """How to render. Filters are FFmpeg filtergraph strings contributed by plugins."""

    mode: RenderMode = "smart"
    preset: str = "veryfast"
    crf: int = 20
    audio_bitrate: int = 160_000
    audio_filters: list[str] = field(default_factory=list)
    video_filters: list[str] = field(default_factory=list)


@dataclass
class RenderResult:
    """What rendering produced."""

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
    """Render ``timeline`` of ``source`` into ``output`` (MP4, faststart)."""
    raise NotImplementedError("the renderer is being written")  # replaced by the render work
