"""The hooks a Hushcut plugin can implement: every step of a cut is one of these.

Plugins are registered through the ``hushcut.pipeline`` entry-point group and implement
hooks with ``@hushcut.pipeline.hookimpl``. Built-in steps are ordinary plugins registered
first; pluggy calls later-registered plugins first, so an installed plugin is consulted
before the built-in step it wants to replace.
"""

from __future__ import annotations

from pathlib import Path

import pluggy

from hushcut.pipeline._detect import Detection
from hushcut.pipeline._probe import MediaInfo
from hushcut.pipeline.options import CutOptions, OptionSpec
from hushcut.pipeline.render import ProgressCallback, RenderResult, RenderSettings
from hushcut.pipeline.timeline import Timeline

PROJECT_NAME = "hushcut"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)


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
    """


@hookspec(firstresult=True)
def hushcut_detect(
    source: Path, media: MediaInfo, options: CutOptions, progress: ProgressCallback
) -> Detection | None:
    """Find the silences in ``source``.

    Called once per cut (and by ``hushcut detect``), after probing. A detector answers
    only when ``options.detector`` names it and returns None otherwise, so installing a
    detector never changes results until a user selects it; the built-in ``"loudness"``
    detector answers for ``detector="loudness"``. Report work done with
    ``progress("detect", fraction)``; the callback may raise CanceledError, which must
    propagate.

    First non-None result wins (``firstresult``).
    """


@hookspec(firstresult=True)
def hushcut_plan(detection: Detection, options: CutOptions) -> Timeline | None:
    """Turn ``detection`` into the timeline of kept segments.

    Called once per cut after detection (skipped when the caller supplies a timeline,
    e.g. one edited by hand). The built-in planner keeps margins around speech, skips
    short silences and drops tiny clips. Return None to leave planning to the next plugin.

    First non-None result wins (``firstresult``).
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
    """


@hookspec
def hushcut_audio_filters(options: CutOptions, media: MediaInfo) -> list[str] | None:
    """FFmpeg audio filter strings to apply to the kept audio (e.g. ``"highpass=f=80"``).

    Called once per cut before rendering. The filters run after the cut and speed
    changes, in the order collected: later-registered plugins first.

    Every result is used: the lists are concatenated into ``RenderSettings.audio_filters``.
    """


@hookspec
def hushcut_video_filters(options: CutOptions, media: MediaInfo) -> list[str] | None:
    """FFmpeg video filter strings to apply to the kept video (e.g. ``"hflip"``).

    Called once per cut before rendering, only for inputs with video. Video filters
    change every frame, so SMART rendering re-encodes the whole video when any is set.

    Every result is used: the lists are concatenated into ``RenderSettings.video_filters``.
    """


@hookspec(firstresult=True)
def hushcut_render(
    source: Path,
    output: Path,
    timeline: Timeline,
    settings: RenderSettings,
    progress: ProgressCallback,
) -> RenderResult | None:
    """Render ``timeline`` of ``source`` into ``output``.

    Called once per cut after planning. The built-in renderer writes MP4 (SMART or
    REENCODE per ``settings.mode``). Return None to leave rendering to the next plugin.
    Report with ``progress("render", fraction)``; CanceledError raised by it must
    propagate, and a failed render must not leave a partial ``output`` behind.

    First non-None result wins (``firstresult``).
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
    """
