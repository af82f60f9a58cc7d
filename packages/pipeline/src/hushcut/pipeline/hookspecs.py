"""The hooks a Hushcut plugin can implement: every step of a cut is one of these.

Plugins are registered through the ``hushcut.pipeline`` entry-point group and implement
hooks with ``@hushcut.pipeline.hookimpl``. Built-in steps are ordinary plugins registered
first; pluggy calls later-registered plugins first, so an installed plugin is consulted
before the built-in step it wants to replace. Where users choose one implementation by
name (a detector, a renderer, an export format), plugins register named implementations
through a ``hushcut_register_*`` hook instead, and the cut calls the one chosen.

Each hook's docstring says when it was added; docs/plugins.md says how hooks are
deprecated and removed.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pluggy

from hushcut.pipeline._detect import Detection
from hushcut.pipeline._probe import MediaInfo
from hushcut.pipeline._registries import Detector, Exporter, Renderer
from hushcut.pipeline.options import CutOptions, OptionSpec
from hushcut.pipeline.render import ProgressCallback, RenderResult
from hushcut.pipeline.timeline import Timeline

PROJECT_NAME = "hushcut"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)

#: Hooks that no longer exist: name -> (the version that removed it, what replaces it).
#: A plugin still implementing one fails to load with a message naming the replacement.
REMOVED_HOOKS: dict[str, tuple[str, str]] = {
    "hushcut_detect": ("0.2", "hushcut_register_detectors"),
    "hushcut_render": ("0.2", "hushcut_register_renderers"),
}


@hookspec
def hushcut_options() -> list[OptionSpec]:  # type: ignore[empty-body]
    """Declare the options this plugin accepts.

    Called whenever options are validated (``hushcut cut --set plugin.key=value``, the
    API, ``cut()``) and by ``hushcut plugins``. Return a list of
    :class:`~hushcut.pipeline.options.OptionSpec`; their ``plugin`` field is the namespace
    users write before the dot. Values reach every hook through
    ``options.plugins[plugin][key]``, converted to the declared type, with the default
    filled in when the user set nothing.

    Every result is used: the lists of all plugins are concatenated.

    Added in 0.1.
    """


@hookspec
def hushcut_register_detectors(register: Callable[[Detector], None]) -> None:
    """Register detectors: call ``register(Detector(name, detect, description))`` for each.

    Called whenever a cut or ``hushcut detect`` starts (before the input is read, so an
    unknown ``options.detector`` is refused at once), and by ``hushcut plugins``; keep
    it cheap, with no side effects. The cut calls only the detector ``options.detector``
    names, so installing a detector changes nothing until a user selects it; the
    built-in one is ``"loudness"``. A name registered twice is a PluginError.

    Every implementation is called; return values are ignored.

    Added in 0.2.
    """


@hookspec
def hushcut_register_renderers(register: Callable[[Renderer], None]) -> None:
    """Register renderers: call ``register(Renderer(name, render, extension, media_type))``.

    Called like ``hushcut_register_detectors``; the cut calls only the renderer
    ``options.renderer`` names (the built-in one, ``"mp4"``, writes the container the
    output's extension names, MP4 by default, in SMART or REENCODE ``mode``). A name
    registered twice is a PluginError.

    Every implementation is called; return values are ignored.

    Added in 0.2.
    """


@hookspec
def hushcut_register_exporters(register: Callable[[Exporter], None]) -> None:
    """Register timeline export formats: ``register(Exporter(name, export, extension,
    media_type))`` for each, ``export(timeline, media, options)`` returning the file's
    text or bytes.

    Called when a timeline is exported (``export_timeline``) and by ``hushcut plugins``;
    the built-in ``"json"`` exporter writes the timeline JSON of ``hushcut cut
    --timeline``. A name registered twice is a PluginError.

    Every implementation is called; return values are ignored.

    Added in 0.2.
    """


@hookspec(firstresult=True)
def hushcut_plan(detection: Detection, options: CutOptions) -> Timeline | None:
    """Turn ``detection`` into the timeline of kept segments.

    Called once per cut after detection (skipped when the caller supplies a timeline,
    e.g. one edited by hand). The built-in planner keeps margins around speech, skips
    short silences and drops tiny clips. Return None to leave planning to the next plugin.

    First non-None result wins (``firstresult``).

    Added in 0.1.
    """


@hookspec
def hushcut_adjust_timeline(timeline: Timeline, detection: Detection, options: CutOptions) -> None:
    """Change the planned ``timeline`` in place (e.g. keep silences sped up instead of
    cutting them: add :class:`~hushcut.pipeline.timeline.Segment` entries with
    ``speed > 1``; the renderer honours speed).

    Called once per cut right after ``hushcut_plan``, never for a timeline the caller
    supplied. Keep ``timeline.segments`` in source order and non-overlapping; the
    pipeline checks that before rendering.

    Every implementation is called, later-registered plugins first; each sees the changes
    of those before it. Return values are ignored.

    Added in 0.1.
    """


@hookspec
def hushcut_audio_filters(options: CutOptions, media: MediaInfo) -> list[str] | None:
    """FFmpeg audio filter strings to apply to the kept audio (e.g. ``"highpass=f=80"``).

    Called once per cut before rendering. The filters run after the cut and speed
    changes, in the order collected: later-registered plugins first.

    Every result is used: the lists are concatenated into ``RenderSettings.audio_filters``.

    Added in 0.1.
    """


@hookspec
def hushcut_video_filters(options: CutOptions, media: MediaInfo) -> list[str] | None:
    """FFmpeg video filter strings to apply to the kept video (e.g. ``"hflip"``).

    Called once per cut before rendering, only for inputs with video. Video filters
    change every frame, so SMART rendering re-encodes the whole video when any is set.

    Every result is used: the lists are concatenated into ``RenderSettings.video_filters``.

    Added in 0.1.
    """


@hookspec
def hushcut_postprocess(
    output: Path, result: RenderResult, options: CutOptions, progress: ProgressCallback
) -> str | None:
    """Work on the rendered ``output`` (e.g. normalise its loudness, rewriting it in place).

    Called once per cut after rendering succeeded. Replace the file atomically (write a
    sibling, then ``os.replace``) so a failure never leaves a broken output. Return a
    one-line note for the user (shown in the summary and ``CutResult.notes``) or None.

    Every result is used: notes are collected in call order (later-registered first).

    Added in 0.1.
    """
