"""The planning side of ``hushcut cut``: margins before and after speech, ranges forced
out or in (``--cut-out``, ``--add-in``), the ``--plan-only`` table and ``--export``."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from hushcut.pipeline._probe import probe
from hushcut.pipeline._registries import Exporter, Registered
from hushcut.pipeline.api import detect, export_timeline, plan
from hushcut.pipeline.errors import OptionsError
from hushcut.pipeline.options import CutOptions
from hushcut.pipeline.plugins import HushcutPluginManager
from hushcut.pipeline.render import ProgressCallback
from hushcut.pipeline.timeline import Timeline

#: Words a range may use for its ends: ``--cut-out start,12.5``, ``--add-in 3:10,end``.
RANGE_START, RANGE_END = "start", "end"


def parse_seconds(text: str) -> float:
    """``"90"``, ``"1.5"``, ``"1:30"`` or ``"0:01:30.5"`` as seconds; ValueError otherwise."""
    parts = text.strip().split(":")
    if not 1 <= len(parts) <= 3 or any(not part.strip() for part in parts):
        raise ValueError(text)
    seconds = 0.0
    for part in parts:
        seconds = seconds * 60 + float(part)
    if not (seconds >= 0 and seconds < float("inf")):
        raise ValueError(text)
    return seconds


def parse_range(text: str) -> tuple[float, float | None]:
    """``START,END`` in seconds (or ``[h:]m:s``), ``start`` and ``end`` naming the ends;
    click.BadParameter otherwise."""
    start_text, comma, end_text = text.partition(",")
    try:
        if not comma:
            raise ValueError(text)
        start = 0.0 if start_text.strip() == RANGE_START else parse_seconds(start_text)
        end = None if end_text.strip() == RANGE_END else parse_seconds(end_text)
    except ValueError:
        raise click.BadParameter(
            f"{text!r} is not START,END in seconds (e.g. 12.5,20 or 1:05,1:30.5; "
            f"'{RANGE_START}' and '{RANGE_END}' name the ends)"
        ) from None
    if end is not None and end <= start:
        raise click.BadParameter(f"{text!r} ends before it starts")
    return start, end


def _ranges(
    ctx: click.Context, param: click.Parameter, values: tuple[str, ...]
) -> tuple[tuple[float, float | None], ...]:
    return tuple(parse_range(value) for value in values)


def _margins(
    ctx: click.Context, param: click.Parameter, value: str | None
) -> float | tuple[float, float] | None:
    """``SECONDS`` (both sides) or ``BEFORE,AFTER`` (before speech starts, after it stops)."""
    if value is None:
        return None
    try:
        numbers = [float(part) for part in value.split(",")]
        if len(numbers) > 2:
            raise ValueError(value)
    except ValueError:
        raise click.BadParameter(
            f"{value!r} is not SECONDS or BEFORE,AFTER (e.g. 0.2 or 0.2,0.5)"
        ) from None
    return numbers[0] if len(numbers) == 1 else (numbers[0], numbers[1])


margin_option = click.option(
    "--margin",
    "margin_s",
    metavar="SECONDS[,SECONDS]",
    callback=_margins,
    help="Seconds kept around speech at each cut (default 0.15); BEFORE,AFTER keeps "
    "different amounts before speech starts and after it stops (e.g. 0.2,0.5).",
)

edit_options = [
    margin_option,
    click.option(
        "--cut-out",
        "cut_out",
        metavar="START,END",
        multiple=True,
        callback=_ranges,
        help="Always remove this range, speech or not (repeatable), e.g. --cut-out 0,4.5.",
    ),
    click.option(
        "--add-in",
        "add_in",
        metavar="START,END",
        multiple=True,
        callback=_ranges,
        help="Always keep this range, silence or not (repeatable), e.g. --add-in 61,63.5; "
        "--cut-out wins where both name the same time.",
    ),
    click.option(
        "--export",
        "export_format",
        metavar="FORMAT",
        help="Write the timeline that would be rendered in FORMAT (json, or one a plugin "
        "adds: fcpxml, fcp7, edl, otio with hushcut-otio) to -o or <IN stem>_hushcut.<ext>, "
        "and render nothing.",
    ),
]


def with_edit_options(function: Callable[..., Any]) -> Callable[..., Any]:
    for option in reversed(edit_options):
        function = option(function)
    return function


def edit_flags(
    margin: float | tuple[float, float] | None,
    cut_out: tuple[tuple[float, float | None], ...],
    add_in: tuple[tuple[float, float | None], ...],
) -> dict[str, Any]:
    """The options ``--margin``, ``--cut-out`` and ``--add-in`` set (None: not given)."""
    flags: dict[str, Any] = {
        "cut_out": list(cut_out) or None,
        "add_in": list(add_in) or None,
    }
    if isinstance(margin, tuple):
        flags["margin_before_s"], flags["margin_after_s"] = margin
    else:
        flags["margin_s"] = margin
    return flags


def plan_table(timeline: Timeline) -> str:
    """The kept segments as a table: number, start, end, length (s) and speed."""
    lines = [f"{'#':>4}  {'start':>10}  {'end':>10}  {'length':>8}  {'speed':>5}"]
    for number, segment in enumerate(timeline.segments, start=1):
        lines.append(
            f"{number:>4}  {segment.start:>10.3f}  {segment.end:>10.3f}  "
            f"{segment.source_duration:>8.3f}  {segment.speed:>5.2f}"
        )
    return "\n".join(lines)


def export_plan(
    source: Path,
    target: Path,
    exporter: Registered[Exporter],
    options: CutOptions,
    timeline: Timeline | None,
    pm: HushcutPluginManager,
    progress: ProgressCallback | None,
) -> Timeline:
    """Write ``timeline`` (or the one ``cut`` would render: detected and planned) to
    ``target`` in ``exporter``'s format, referencing ``source`` by its absolute path."""
    media = probe(source, keyframes=False, audio_track=options.audio_track)
    if timeline is None:
        detection = detect(source, options, progress, plugin_manager=pm, media=media)
        timeline = plan(detection, options, plugin_manager=pm)
    else:
        timeline.check(media.duration)
    if timeline.source is None:
        timeline.source = source.name
    if target.exists() and os.path.samefile(source, target):
        raise OptionsError(f"the output {target} is the input: choose another output path")
    # The editor opening the export finds the media where it is on this machine.
    located = dataclasses.replace(media, path=source.resolve())
    content = export_timeline(timeline, exporter.name, located, options, plugin_manager=pm)
    partial = target.with_name(f".{target.name}.partial")
    try:
        partial.write_bytes(content)
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)
    return timeline


def export_summary(
    source: Path, target: Path, exporter: Registered[Exporter], timeline: Timeline
) -> str:
    return (
        f"{source} -> {target}: {exporter.name} timeline keeping "
        f"{timeline.output_duration:.3f} s of {timeline.source_duration:.3f} s in "
        f"{len(timeline.segments)} segments (nothing rendered)"
    )
