"""The Python API: ``detect``, ``plan``, ``cut`` and ``export_timeline``, each step run
through the hooks (``probe`` needs none)."""

from __future__ import annotations

import dataclasses
import functools
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hushcut.pipeline._detect import Detection
from hushcut.pipeline._hooks import Hooks, failures_named
from hushcut.pipeline._plan import force_ranges
from hushcut.pipeline._probe import MediaInfo, probe
from hushcut.pipeline._registries import Detector, Registered, Renderer
from hushcut.pipeline.errors import OptionsError, PluginError
from hushcut.pipeline.options import CutOptions, resolve_plugin_options
from hushcut.pipeline.plugins import HushcutPluginManager, get_plugin_manager
from hushcut.pipeline.render import ProgressCallback, RenderResult, RenderSettings
from hushcut.pipeline.timeline import TIME_DECIMALS, Timeline

#: Stages of a cut in order, with the share of the overall fraction each one covers.
STAGES: dict[str, float] = {
    "probe": 0.02,
    "detect": 0.17,
    "plan": 0.01,
    "render": 0.75,
    "postprocess": 0.05,
}


#: Durations a cut reports are rounded to this many decimals (milliseconds).
DURATION_DECIMALS = 3


@dataclass
class CutResult:
    """What a cut did. Durations are seconds, rounded to the millisecond;
    ``removed_s`` = input − output."""

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
        return round(max(self.input_duration - self.output_duration, 0.0), DURATION_DECIMALS)

    @property
    def removed_fraction(self) -> float:
        return self.removed_s / self.input_duration if self.input_duration else 0.0


class StageProgress:
    """Turns per-stage fractions into one overall fraction for the caller's callback.

    The caller sees ``(stage, overall)`` with ``overall`` never going backwards, so a
    progress bar or a job's ``progress`` field can show it as is.
    """

    def __init__(
        self, callback: ProgressCallback | None, stages: dict[str, float] | None = None
    ) -> None:
        self._callback = callback
        self._stages = STAGES if stages is None else stages
        self._last = 0.0

    def report(self, stage: str, fraction: float) -> None:
        if self._callback is None:
            return
        start = 0.0
        for name, share in self._stages.items():
            if name == stage:
                break
            start += share
        fraction = min(max(float(fraction), 0.0), 1.0)
        overall = min(start + self._stages.get(stage, 0.0) * fraction, 1.0)
        self._last = max(self._last, overall)
        self._callback(stage, self._last)

    def for_stage(self, stage: str) -> ProgressCallback:
        """A callback for one stage's hook: whatever label a plugin passes, the caller
        sees the pipeline's own stage names."""
        return lambda _label, fraction: self.report(stage, fraction)


@functools.cache
def default_plugin_manager() -> HushcutPluginManager:
    """The process-wide plugin manager: built-ins plus installed plugins, loaded once."""
    return get_plugin_manager()


def resolve_options(
    options: CutOptions | Mapping[str, Any] | None, plugin_manager: HushcutPluginManager
) -> CutOptions:
    """Validate ``options`` (a CutOptions, a plain mapping or None) including the plugin
    options that ``plugin_manager``'s plugins declare and the detector and renderer they
    name; OptionsError names a bad key, or lists the installed names."""
    hooks = Hooks(plugin_manager)
    resolved = _resolve(options, hooks)
    _choices(resolved, hooks)
    return resolved


def _resolve(options: CutOptions | Mapping[str, Any] | None, hooks: Hooks) -> CutOptions:
    specs = hooks.options()
    if isinstance(options, CutOptions):
        return resolve_plugin_options(options, specs)
    return CutOptions.from_mapping(options, specs)


def _choices(
    options: CutOptions, hooks: Hooks
) -> tuple[Registered[Detector], Registered[Renderer]]:
    """The detector and renderer ``options`` name; OptionsError listing the installed
    ones when one is unknown."""
    return (
        hooks.register_detectors().get(options.detector),
        hooks.register_renderers().get(options.renderer),
    )


def detect(
    input: str | Path,
    options: CutOptions | Mapping[str, Any] | None = None,
    progress: ProgressCallback | None = None,
    *,
    plugin_manager: HushcutPluginManager | None = None,
    media: MediaInfo | None = None,
) -> Detection:
    """Find the silences in ``input`` with the detector ``options.detector`` names.

    ``progress`` receives ``("detect", fraction of detection done)``. Bad options (an
    unknown detector among them) are refused before ``input`` is read.
    """
    hooks = Hooks(plugin_manager or default_plugin_manager())
    opts = _resolve(options, hooks)
    detector, _ = _choices(opts, hooks)
    source = Path(input)
    # Detection needs no keyframes; the built-in detector checks the audio is complete.
    media = media or probe(source, keyframes=False, audio_track=opts.audio_track)
    return _run_detector(detector, source, media, opts, progress or _ignore)


def plan(
    detection: Detection,
    options: CutOptions | Mapping[str, Any] | None = None,
    *,
    plugin_manager: HushcutPluginManager | None = None,
) -> Timeline:
    """The timeline that ``cut`` would render for ``detection``: planned, then adjusted by
    plugins (``hushcut_plan``, ``hushcut_adjust_timeline``) and checked."""
    hooks = Hooks(plugin_manager or default_plugin_manager())
    return _run_plan(hooks, detection, _resolve(options, hooks))


def cut(
    input: str | Path,
    output: str | Path,
    options: CutOptions | Mapping[str, Any] | None = None,
    progress: ProgressCallback | None = None,
    timeline: Timeline | None = None,
    plugin_manager: HushcutPluginManager | None = None,
) -> CutResult:
    """Remove the silences of ``input`` and write the result to ``output`` with the
    renderer ``options.renderer`` names. The built-in one writes the container
    ``output``'s extension names (``.mp4``, ``.mov``, ``.mkv``, ``.webm``, or an audio
    one such as ``.m4a``, ``.mp3``, ``.wav``; see docs/pipeline.md).

    ``progress(stage, overall_fraction)`` is called as work advances, ``stage`` being one
    of ``probe``, ``detect``, ``plan``, ``render``, ``postprocess``; it may raise
    CanceledError to stop the cut (no partial output is left). With ``timeline``, the
    detection and planning steps are skipped and that timeline is rendered as it is.
    Expected failures raise a PipelineError subclass whose message is one line; bad
    options (an unknown detector or renderer among them) are refused before any work.
    """
    hooks = Hooks(plugin_manager or default_plugin_manager())
    opts = _resolve(options, hooks)
    detector, renderer = _choices(opts, hooks)
    source, target = Path(input), Path(output)
    if target.exists() and source.exists() and os.path.samefile(source, target):
        raise OptionsError(f"the output {target} is the input: choose another output path")
    reporter = StageProgress(progress)

    reporter.report("probe", 0.0)
    media = probe(source, audio_track=opts.audio_track)
    reporter.report("probe", 1.0)

    detection: Detection | None = None
    if timeline is None:
        detection = _run_detector(detector, source, media, opts, reporter.for_stage("detect"))
        reporter.report("detect", 1.0)
        timeline = _run_plan(hooks, detection, opts)
    else:
        timeline.check(media.duration)
    if timeline.source is None:
        timeline.source = source.name
    reporter.report("plan", 1.0)

    settings, notes = _render_settings(hooks, opts, media)
    if timeline.meta.get("note"):
        notes.insert(0, str(timeline.meta["note"]))
    if detection is not None:
        notes[:0] = [str(note) for note in detection.notes]
    existed = target.exists()
    try:
        with failures_named(renderer):
            result = renderer.implementation.render(
                source, target, timeline, settings, reporter.for_stage("render")
            )
        if not isinstance(result, RenderResult):
            raise PluginError.about(
                renderer.plugin,
                renderer.origin,
                f"returned {result!r} from renderer {renderer.name!r}, not a RenderResult",
            )
        reporter.report("render", 1.0)
        if result.fallback_reason:
            notes.append(result.fallback_reason)
        notes.extend(hooks.postprocess(target, result, opts, reporter.for_stage("postprocess")))
    except BaseException:
        if not existed:
            target.unlink(missing_ok=True)
        raise
    reporter.report("postprocess", 1.0)
    if result.segments is not None:
        # The renderer moves cuts onto frame starts: report what it really rendered, to
        # the microsecond as the timeline file holds it (so the API, --timeline and every
        # export show the same numbers; rendering them again lands on the same frames).
        timeline = dataclasses.replace(
            timeline,
            segments=[
                dataclasses.replace(
                    s, start=round(s.start, TIME_DECIMALS), end=round(s.end, TIME_DECIMALS)
                )
                for s in result.segments
            ],
        )
    return CutResult(
        input=source,
        output=target,
        input_duration=round(media.duration, DURATION_DECIMALS),
        output_duration=round(result.duration, DURATION_DECIMALS),
        timeline=timeline,
        render_result=result,
        detection=detection,
        notes=notes,
    )


def export_timeline(
    timeline: Timeline,
    exporter: str,
    media: MediaInfo,
    options: CutOptions | Mapping[str, Any] | None = None,
    *,
    plugin_manager: HushcutPluginManager | None = None,
) -> bytes:
    """``timeline`` (of the source ``media`` describes) in the format ``exporter`` names
    (``"json"`` built in; plugins add others), as the bytes of the file to write.

    OptionsError lists the installed exporters when ``exporter`` is none of them.
    """
    hooks = Hooks(plugin_manager or default_plugin_manager())
    opts = _resolve(options, hooks)
    chosen = hooks.register_exporters().get(exporter)
    with failures_named(chosen):
        content = chosen.implementation.export(timeline, media, opts)
    if isinstance(content, str):
        return content.encode()
    if isinstance(content, bytes | bytearray):
        return bytes(content)
    raise PluginError.about(
        chosen.plugin,
        chosen.origin,
        f"returned {type(content).__name__} from exporter {exporter!r}, not str or bytes",
    )


def _render_settings(
    hooks: Hooks, options: CutOptions, media: MediaInfo
) -> tuple[RenderSettings, list[str]]:
    notes: list[str] = []
    audio_filters = hooks.audio_filters(options, media)
    video_filters = hooks.video_filters(options, media) if media.has_video else []
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
        audio_track=media.audio_streams.index(media.audio),
    )
    return settings, notes


def _ignore(stage: str, fraction: float) -> None:
    """Progress sink for callers that pass none."""


def _run_detector(
    detector: Registered[Detector],
    source: Path,
    media: MediaInfo,
    options: CutOptions,
    progress: ProgressCallback,
) -> Detection:
    with failures_named(detector):
        detection = detector.implementation.detect(source, media, options, progress)
    if not isinstance(detection, Detection):
        raise PluginError.about(
            detector.plugin,
            detector.origin,
            f"returned {type(detection).__name__} from detector {detector.name!r}, not a Detection",
        )
    detection.detector = detector.name
    return detection


def _run_plan(hooks: Hooks, detection: Detection, options: CutOptions) -> Timeline:
    timeline = hooks.plan(detection, options)
    if timeline is None:
        raise PluginError("no plugin planned the timeline (is the built-in planner blocked?)")
    hooks.adjust_timeline(timeline, detection, options)
    # The user's forced ranges come last: over the planner's and every plugin's choices.
    force_ranges(
        timeline, add_in=options.add_in, cut_out=options.cut_out, min_clip_s=options.min_clip_s
    )
    timeline.check(detection.duration)
    return timeline
