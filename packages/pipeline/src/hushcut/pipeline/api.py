"""The Python API: ``probe``, ``detect``, ``plan`` and ``cut``, each step run through the hooks."""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pluggy

from hushcut.pipeline._detect import Detection
from hushcut.pipeline._probe import MediaInfo, probe
from hushcut.pipeline.errors import OptionsError, PluginError
from hushcut.pipeline.options import CutOptions, resolve_plugin_options
from hushcut.pipeline.plugins import call_hook, get_plugin_manager, option_specs
from hushcut.pipeline.render import ProgressCallback, RenderResult, RenderSettings
from hushcut.pipeline.timeline import Timeline

#: Stages of a cut in order, with the share of the overall fraction each one covers.
STAGES: dict[str, float] = {
    "probe": 0.02,
    "detect": 0.17,
    "plan": 0.01,
    "render": 0.75,
    "postprocess": 0.05,
}


@dataclass
class CutResult:
    """What a cut did. Durations are seconds; ``removed_s`` = input − output."""

    input: Path
    output: Path
    input_duration: float
    output_duration: float
    timeline: Timeline
    render_result: RenderResult
    #: The detection the plan came from; None when the caller supplied the timeline.
    detection: Detection | None = None
    #: One-line remarks for the user: render fallbacks, post-processing done.
    notes: list[str] = field(default_factory=list)

    @property
    def removed_s(self) -> float:
        return max(self.input_duration - self.output_duration, 0.0)

    @property
    def removed_fraction(self) -> float:
        return self.removed_s / self.input_duration if self.input_duration else 0.0


class StageProgress:
    """Turns per-stage fractions into one overall fraction for the caller's callback.

    The caller sees ``(stage, overall)`` with ``overall`` never going backwards, so a
    progress bar or a job's ``progress`` field can show it as is.
    """

    def __init__(self, callback: ProgressCallback | None) -> None:
        self._callback = callback
        self._last = 0.0

    def report(self, stage: str, fraction: float) -> None:
        if self._callback is None:
            return
        start = 0.0
        for name, share in STAGES.items():
            if name == stage:
                break
            start += share
        fraction = min(max(float(fraction), 0.0), 1.0)
        overall = min(start + STAGES.get(stage, 0.0) * fraction, 1.0)
        self._last = max(self._last, overall)
        self._callback(stage, self._last)

    def for_stage(self, stage: str) -> ProgressCallback:
        """A callback for one stage's hook: whatever label a plugin passes, the caller
        sees the pipeline's own stage names."""
        return lambda _label, fraction: self.report(stage, fraction)


@functools.cache
def default_plugin_manager() -> pluggy.PluginManager:
    """The process-wide plugin manager: built-ins plus installed plugins, loaded once."""
    return get_plugin_manager()


def resolve_options(
    options: CutOptions | Mapping[str, Any] | None, plugin_manager: pluggy.PluginManager
) -> CutOptions:
    """Validate ``options`` (a CutOptions, a plain mapping or None) including the plugin
    options that ``plugin_manager``'s plugins declare; OptionsError names a bad key."""
    specs = option_specs(plugin_manager)
    if isinstance(options, CutOptions):
        return resolve_plugin_options(options, specs)
    return CutOptions.from_mapping(options, specs)


def detect(
    input: str | Path,
    options: CutOptions | Mapping[str, Any] | None = None,
    progress: ProgressCallback | None = None,
    *,
    plugin_manager: pluggy.PluginManager | None = None,
    media: MediaInfo | None = None,
) -> Detection:
    """Find the silences in ``input`` with the detector ``options.detector`` selects.

    ``progress`` receives ``("detect", fraction of detection done)``.
    """
    pm = plugin_manager or default_plugin_manager()
    opts = resolve_options(options, pm)
    source = Path(input)
    # Detection needs no keyframes; the built-in detector checks the audio is complete.
    media = media or probe(source, keyframes=False)
    return _run_detect(pm, source, media, opts, progress or _ignore)


def plan(
    detection: Detection,
    options: CutOptions | Mapping[str, Any] | None = None,
    *,
    plugin_manager: pluggy.PluginManager | None = None,
) -> Timeline:
    """The timeline that ``cut`` would render for ``detection``: planned, then adjusted by
    plugins (``hushcut_plan``, ``hushcut_adjust_timeline``) and checked."""
    pm = plugin_manager or default_plugin_manager()
    return _run_plan(pm, detection, resolve_options(options, pm))


def cut(
    input: str | Path,
    output: str | Path,
    options: CutOptions | Mapping[str, Any] | None = None,
    progress: ProgressCallback | None = None,
    timeline: Timeline | None = None,
    plugin_manager: pluggy.PluginManager | None = None,
) -> CutResult:
    """Remove the silences of ``input`` and write the result to ``output`` (MP4).

    ``progress(stage, overall_fraction)`` is called as work advances, ``stage`` being one
    of ``probe``, ``detect``, ``plan``, ``render``, ``postprocess``; it may raise
    CanceledError to stop the cut (no partial output is left). With ``timeline``, the
    detection and planning steps are skipped and that timeline is rendered as it is.
    Expected failures raise a PipelineError subclass whose message is one line.
    """
    pm = plugin_manager or default_plugin_manager()
    opts = resolve_options(options, pm)
    source, target = Path(input), Path(output)
    if target.exists() and source.exists() and os.path.samefile(source, target):
        raise OptionsError(f"the output {target} is the input: choose another output path")
    reporter = StageProgress(progress)

    reporter.report("probe", 0.0)
    media = probe(source)
    reporter.report("probe", 1.0)

    detection: Detection | None = None
    if timeline is None:
        detection = _run_detect(pm, source, media, opts, reporter.for_stage("detect"))
        reporter.report("detect", 1.0)
        timeline = _run_plan(pm, detection, opts)
    else:
        timeline.check(media.duration)
    if timeline.source is None:
        timeline.source = source.name
    reporter.report("plan", 1.0)

    settings, notes = render_settings(pm, opts, media)
    if timeline.meta.get("note"):
        notes.insert(0, str(timeline.meta["note"]))
    existed = target.exists()
    try:
        result = call_hook(
            pm,
            "hushcut_render",
            source=source,
            output=target,
            timeline=timeline,
            settings=settings,
            progress=reporter.for_stage("render"),
        )
        if result is None:
            raise PluginError("no plugin rendered the output (is the built-in renderer blocked?)")
        reporter.report("render", 1.0)
        if result.fallback_reason:
            notes.append(result.fallback_reason)
        for note in call_hook(
            pm,
            "hushcut_postprocess",
            output=target,
            result=result,
            options=opts,
            progress=reporter.for_stage("postprocess"),
        ):
            if note:
                notes.append(str(note))
    except BaseException:
        if not existed:
            target.unlink(missing_ok=True)
        raise
    reporter.report("postprocess", 1.0)
    return CutResult(
        input=source,
        output=target,
        input_duration=media.duration,
        output_duration=result.duration,
        timeline=timeline,
        render_result=result,
        detection=detection,
        notes=notes,
    )


def render_settings(
    pm: pluggy.PluginManager, options: CutOptions, media: MediaInfo
) -> tuple[RenderSettings, list[str]]:
    """Render settings from the options plus the filters plugins add, and notes about them."""
    notes: list[str] = []
    audio_filters = _flatten(call_hook(pm, "hushcut_audio_filters", options=options, media=media))
    video_filters = (
        _flatten(call_hook(pm, "hushcut_video_filters", options=options, media=media))
        if media.has_video
        else []
    )
    mode = options.mode
    if video_filters and mode == "smart":
        # A filter changes every frame, so there is nothing left to stream-copy.
        mode = "reencode"
        notes.append("video filters change every frame: rendered with reencode, not smart")
    settings = RenderSettings(
        mode=mode,
        preset=options.preset,
        crf=options.crf,
        audio_filters=audio_filters,
        video_filters=video_filters,
    )
    return settings, notes


def _flatten(results: list[Any]) -> list[str]:
    filters: list[str] = []
    for result in results:
        if result is None:
            continue
        if isinstance(result, str):
            raise PluginError(f"a filter hook returned the string {result!r}, not a list")
        filters.extend(str(item) for item in result if item)
    return filters


def _ignore(stage: str, fraction: float) -> None:
    """Progress sink for callers that pass none."""


def _run_detect(
    pm: pluggy.PluginManager,
    source: Path,
    media: MediaInfo,
    options: CutOptions,
    progress: ProgressCallback,
) -> Detection:
    detection = call_hook(
        pm, "hushcut_detect", source=source, media=media, options=options, progress=progress
    )
    if detection is None:
        raise OptionsError(
            f"no installed detector is called {options.detector!r} (see `hushcut plugins`)"
        )
    if not isinstance(detection, Detection):
        raise PluginError(
            f"detector {options.detector!r} returned {type(detection).__name__}, not a Detection"
        )
    return detection


def _run_plan(pm: pluggy.PluginManager, detection: Detection, options: CutOptions) -> Timeline:
    timeline = call_hook(pm, "hushcut_plan", detection=detection, options=options)
    if timeline is None:
        raise PluginError("no plugin planned the timeline (is the built-in planner blocked?)")
    call_hook(
        pm, "hushcut_adjust_timeline", timeline=timeline, detection=detection, options=options
    )
    timeline.check(detection.duration)
    return timeline
