"""Plugins the pipeline tests register at runtime: a fast stand-in renderer and a detector."""

from __future__ import annotations

from pathlib import Path

from hushcut.pipeline import (
    CutOptions,
    Detection,
    Detector,
    HushcutPluginManager,
    MediaInfo,
    OptionSpec,
    ProgressCallback,
    Renderer,
    RenderResult,
    RenderSettings,
    Timeline,
    hookimpl,
)


class FakeRenderer:
    """A renderer plugin that writes a small file instead of a video and remembers what it
    was asked to render. It registers ``name`` (``"mp4"``: it stands in for the built-in
    one, see :func:`use_fake_renderer`)."""

    def __init__(self, name: str = "mp4", extension: str = ".mp4", progress_steps: int = 4) -> None:
        self.name = name
        self.extension = extension
        self.progress_steps = progress_steps
        self.settings: RenderSettings | None = None
        self.timelines: list[Timeline] = []

    @property
    def timeline(self) -> Timeline:
        return self.timelines[-1]

    @hookimpl
    def hushcut_register_renderers(self, register) -> None:
        register(Renderer(self.name, self.render, self.extension, "application/octet-stream"))

    def render(
        self,
        source: Path,
        output: Path,
        timeline: Timeline,
        settings: RenderSettings,
        progress: ProgressCallback,
    ) -> RenderResult:
        self.settings = settings
        self.timelines.append(timeline)
        Path(output).write_bytes(b"partial")
        for step in range(1, self.progress_steps + 1):
            progress("render", step / self.progress_steps)
        return RenderResult(
            output=Path(output), mode_used=settings.mode, duration=timeline.output_duration
        )


def use_fake_renderer(pm: HushcutPluginManager) -> FakeRenderer:
    """Replace the built-in ``mp4`` renderer of ``pm`` by a FakeRenderer of that name, the
    way a plugin replaces a built-in step: unregister (or block) it, register your own."""
    pm.unregister(name="renderer")
    fake = FakeRenderer()
    pm.register(fake, name="fake-renderer")
    return fake


class ConstantDetector:
    """A detector plugin (``detector="constant"``) finding one silence of a set length."""

    @hookimpl
    def hushcut_options(self) -> list[OptionSpec]:
        return [OptionSpec("constant", "gap", float, 2.0, "Length of the pretend silence.")]

    @hookimpl
    def hushcut_register_detectors(self, register) -> None:
        register(Detector("constant", self.detect, "One silence at 10 s."))

    def detect(
        self, source: Path, media: MediaInfo, options: CutOptions, progress: ProgressCallback
    ) -> Detection:
        progress("detect", 0.5)
        gap = options.plugin_option("constant", "gap")
        return Detection(media.duration, [(10.0, 10.0 + gap)], -60, -20, -50)
