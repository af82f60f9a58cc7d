"""Built-in renderer: SMART (copy every frame it can) or REENCODE, via ``render.render``."""

from __future__ import annotations

from pathlib import Path

from hushcut.pipeline import render as rendering
from hushcut.pipeline.plugins import hookimpl
from hushcut.pipeline.render import ProgressCallback, RenderResult, RenderSettings
from hushcut.pipeline.timeline import Timeline


@hookimpl
def hushcut_render(
    source: Path,
    output: Path,
    timeline: Timeline,
    settings: RenderSettings,
    progress: ProgressCallback,
) -> RenderResult:
    return rendering.render(source, output, timeline, settings, progress)
