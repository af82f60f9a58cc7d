"""Command line of the pipeline library: `hushcut cut`, `hushcut detect`, `hushcut plugins`."""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click

from hushcut.pipeline._capabilities import capabilities
from hushcut.pipeline._cli_plan import (
    edit_flags,
    export_plan,
    export_summary,
    plan_table,
    with_edit_options,
)
from hushcut.pipeline._hooks import Hooks
from hushcut.pipeline._probe import probe
from hushcut.pipeline.api import (
    CutResult,
    cut,
    default_plugin_manager,
    detect,
    plan,
    resolve_options,
)
from hushcut.pipeline.commands import HushcutGroup
from hushcut.pipeline.errors import PipelineError
from hushcut.pipeline.options import CutOptions, parse_assignments
from hushcut.pipeline.plugins import HushcutPluginManager, describe_plugins
from hushcut.pipeline.render import render as builtin_render
from hushcut.pipeline.render.formats import default_suffix, output_format
from hushcut.pipeline.timeline import Timeline

#: Set to 1 to see the traceback of an unexpected failure instead of its one-line summary.
DEBUG_ENV = "HUSHCUT_DEBUG"

OUTPUT_SUFFIX = "_hushcut"


@click.group(cls=HushcutGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="hushcut-pipeline", prog_name="hushcut")
def main() -> None:
    """Hushcut removes silences from talking videos."""


def one_line(message: object) -> str:
    """``message`` flattened to one line: the CLI promises one line per error."""
    return "; ".join(part.strip() for part in str(message).splitlines() if part.strip())


def fail(message: object, code: int = 1) -> None:
    click.echo(f"error: {one_line(message)}", err=True)
    sys.exit(code)


@contextmanager
def errors_as_one_line() -> Iterator[None]:
    """Expected failures become ``error: <message>`` on stderr and exit status 1."""
    try:
        yield
    except PipelineError as exc:
        fail(exc)
    except FileNotFoundError as exc:
        fail(f"{exc.filename or exc}: no such file" if exc.filename else exc)
    except OSError as exc:
        where = f"{exc.filename}: " if exc.filename else ""
        fail(f"{where}{exc.strerror or exc}")
    except KeyboardInterrupt:
        fail("interrupted", code=130)
    except Exception as exc:
        if os.environ.get(DEBUG_ENV):
            raise
        fail(
            f"unexpected {type(exc).__name__}: {exc or 'no details'} "
            f"(set {DEBUG_ENV}=1 to see the traceback)"
        )


def _options(assignments: tuple[str, ...], pm: HushcutPluginManager, **flags: Any) -> CutOptions:
    """Options from ``--set`` assignments, overridden by the dedicated flags given."""
    data = parse_assignments(assignments)
    data.update({key: value for key, value in flags.items() if value is not None})
    return resolve_options(data, pm)


def default_output(source: Path, extension: str = ".mp4") -> Path:
    """``talk.mov`` -> ``talk_hushcut.mp4`` beside it (the renderer's ``extension``)."""
    return source.with_name(f"{source.stem}{OUTPUT_SUFFIX}{extension}")


PROGRESS_MODES = ("auto", "bar", "json", "none")
#: JSON progress lines are written at most this often (s), besides stage changes.
JSON_PROGRESS_INTERVAL = 0.5


@contextmanager
def progress_display(mode: str) -> Iterator[Callable[[str, float], None] | None]:
    """Progress on stderr: a bar with an ETA on a terminal, JSON lines for scripts.

    ``auto`` draws the bar when stderr is a terminal and writes JSON lines otherwise.
    """
    if mode == "auto":
        mode = "bar" if sys.stderr.isatty() else "json"
    if mode == "json":
        yield json_progress()
        return
    if mode != "bar":
        yield None
        return
    # Imported here: rich costs a noticeable share of start-up, and scripts (the
    # benchmark, the worker) never draw a bar.
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        Progress,
        TaskProgressColumn,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    console = Console(stderr=True)
    columns = (
        TextColumn("{task.description:<12}"),
        BarColumn(),
        TaskProgressColumn(),
        TimeElapsedColumn(),
        TextColumn("eta"),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=console, transient=True) as bar:
        task = bar.add_task("probe", total=1.0)

        def update(stage: str, fraction: float) -> None:
            bar.update(task, description=stage, completed=fraction)

        yield update


def json_progress() -> Callable[[str, float], None]:
    """A progress callback printing ``{"stage", "progress", "elapsed_s", "eta_s"}`` lines."""
    started = time.monotonic()
    last: dict[str, Any] = {"stage": None, "at": -JSON_PROGRESS_INTERVAL}

    def update(stage: str, fraction: float) -> None:
        now = time.monotonic()
        final = fraction >= 1.0 and stage == "postprocess"
        if stage == last["stage"] and now - last["at"] < JSON_PROGRESS_INTERVAL and not final:
            return
        last.update(stage=stage, at=now)
        elapsed = now - started
        # Overall fractions advance roughly with time once a few percent are done.
        eta = elapsed * (1 - fraction) / fraction if fraction >= 0.02 else None
        line = {
            "stage": stage,
            "progress": round(fraction, 4),
            "elapsed_s": round(elapsed, 3),
            "eta_s": None if eta is None else round(eta, 3),
        }
        click.echo(json.dumps(line), err=True)

    return update


def echo_notes(notes: list[str]) -> None:
    for note in notes:
        click.echo(f"note: {one_line(note)}", err=True)


detection_options = [
    click.option(
        "--threshold-db",
        type=float,
        help="Silence threshold in dBFS (e.g. -40). Default: measured from the recording.",
    ),
    click.option(
        "--above-floor-db",
        "threshold_above_floor_db",
        type=float,
        help="Silence threshold in dB above the measured noise floor (e.g. 8).",
    ),
    click.option(
        "--min-silence",
        "min_silence_s",
        type=float,
        help="Shortest pause that counts as silence, in seconds (default 0.3).",
    ),
    click.option(
        "--audio-track",
        "audio_track",
        type=click.IntRange(min=0),
        metavar="N",
        help="Audio track to find silences in, counted from 0 (default: the file's default "
        "track). Every track is cut the same way.",
    ),
    click.option(
        "--set",
        "assignments",
        multiple=True,
        metavar="[PLUGIN.]KEY=VALUE",
        help="Set any option, e.g. --set margin_s=0.2 or --set speedup.factor=4 (repeatable).",
    ),
]


def with_detection_options(function: Callable[..., Any]) -> Callable[..., Any]:
    for option in reversed(detection_options):
        function = option(function)
    return function


progress_option = click.option(
    "--progress",
    "progress_mode",
    type=click.Choice(PROGRESS_MODES, case_sensitive=False),
    default="auto",
    show_default=True,
    help="bar: a progress bar with an ETA; json: one JSON line per update on stderr; "
    "auto: the bar on a terminal, JSON lines otherwise.",
)


@main.command("cut")
@click.argument("source", metavar="IN", type=click.Path(path_type=Path))
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Output file; with the built-in renderer its extension picks the container: .mp4 "
    ".mov .mkv .webm, or .m4a .mp3 .wav .flac .ogg .opus for audio (default: <IN "
    "stem>_hushcut.mp4 beside IN, audio inputs keeping their container, or the extension "
    "of the chosen renderer).",
)
@click.option("-y", "--overwrite", is_flag=True, help="Replace OUT if it already exists.")
@with_detection_options
@with_edit_options
@click.option(
    "--mode",
    type=click.Choice(["smart", "reencode"], case_sensitive=False),
    help="smart (default): copy every frame it can, encode only around cuts; reencode: one pass.",
)
@click.option(
    "--timeline",
    "timeline_out",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Also write the rendered timeline to this JSON file.",
)
@click.option(
    "--from-timeline",
    "timeline_in",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Render this timeline (e.g. one written by --timeline and edited) instead of detecting.",
)
@click.option("--plan-only", is_flag=True, help="Detect and plan only: print what would be cut.")
@progress_option
@click.option("-q", "--quiet", is_flag=True, help="No progress, notes or summary.")
def cut_command(
    source: Path,
    output: Path | None,
    overwrite: bool,
    assignments: tuple[str, ...],
    timeline_out: Path | None,
    timeline_in: Path | None,
    plan_only: bool,
    progress_mode: str,
    quiet: bool,
    **flags: Any,
) -> None:
    """Remove the silences of IN and write the shorter video."""
    with errors_as_one_line():
        pm = default_plugin_manager()
        if flags.get("mode"):
            flags["mode"] = flags["mode"].lower()
        export_format = flags.pop("export_format")
        flags.update(edit_flags(flags.pop("margin_s"), flags.pop("cut_out"), flags.pop("add_in")))
        options = _options(assignments, pm, **flags)
        progress_mode = "none" if quiet else progress_mode.lower()
        timeline = Timeline.read(timeline_in) if timeline_in else None
        if export_format:
            exporter = Hooks(pm).register_exporters().get(export_format)
            target = output or default_output(source, exporter.implementation.extension)
            refuse_existing(target, overwrite)
            with progress_display(progress_mode) as progress:
                timeline = export_plan(source, target, exporter, options, timeline, pm, progress)
            _write_timeline(timeline, timeline_out, source)
            if not quiet:
                if plan_only:
                    click.echo(plan_table(timeline))
                click.echo(export_summary(source, target, exporter, timeline))
            return
        if plan_only:
            notes: list[str] = []
            if timeline is None:
                with progress_display(progress_mode) as progress:
                    detection = detect(source, options, progress, plugin_manager=pm)
                timeline = plan(detection, options, plugin_manager=pm)
                notes = [*detection.notes]
            _write_timeline(timeline, timeline_out, source)
            if not quiet:
                if timeline.meta.get("note"):
                    notes.append(str(timeline.meta["note"]))
                echo_notes(notes)
                click.echo(plan_table(timeline))
                click.echo(_plan_summary(source, timeline))
            return
        renderer = Hooks(pm).register_renderers().get(options.renderer)
        # The built-in renderer writes the container the output's extension names.
        builtin = renderer.implementation.render is builtin_render
        if output is not None:
            target = output
        elif builtin:
            media = probe(source, keyframes=False, audio_track=options.audio_track)
            target = default_output(source, default_suffix(source, audio_only=not media.has_video))
        else:
            target = default_output(source, renderer.implementation.extension)
        if builtin:
            output_format(target)  # an extension we cannot write fails before any work
        refuse_existing(target, overwrite)
        with progress_display(progress_mode) as progress:
            result = cut(source, target, options, progress, timeline=timeline, plugin_manager=pm)
        _write_timeline(result.timeline, timeline_out, source)
        if not quiet:
            echo_notes(result.notes)
            click.echo(cut_summary(result))


def refuse_existing(target: Path, overwrite: bool) -> None:
    """An existing output is replaced only with ``-y``."""
    if target.exists() and not overwrite:
        fail(f"{target} already exists: add -y (--overwrite) to replace it")


def cut_summary(result: CutResult) -> str:
    """The one line ``hushcut cut`` ends with: input, output, what was removed."""
    return (
        f"{result.input} -> {result.output}: {result.input_duration:.3f} s -> "
        f"{result.output_duration:.3f} s, removed {result.removed_s:.3f} s "
        f"({100 * result.removed_fraction:.1f}%)"
    )


def _write_timeline(timeline: Timeline, path: Path | None, source: Path) -> None:
    if path is None:
        return
    if timeline.source is None:
        timeline.source = source.name
    timeline.write(path)


def _plan_summary(source: Path, timeline: Timeline) -> str:
    removed = timeline.removed_duration
    share = 100 * removed / timeline.source_duration if timeline.source_duration else 0.0
    return (
        f"{source}: would keep {timeline.output_duration:.3f} s of "
        f"{timeline.source_duration:.3f} s in {len(timeline.segments)} segments, "
        f"removing {removed:.3f} s ({share:.1f}%)"
    )


@main.command("detect")
@click.argument("source", metavar="IN", type=click.Path(path_type=Path))
@with_detection_options
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help='Print {"duration": s, "silences": [[start, end], ...], ...} as JSON.',
)
@progress_option
def detect_command(
    source: Path, assignments: tuple[str, ...], as_json: bool, progress_mode: str, **flags: Any
) -> None:
    """Find the silences in IN without cutting anything."""
    with errors_as_one_line():
        pm = default_plugin_manager()
        options = _options(assignments, pm, **flags)
        with progress_display(progress_mode.lower()) as progress:
            detection = detect(source, options, progress, plugin_manager=pm)
        echo_notes(detection.notes)
        if as_json:
            click.echo(json.dumps(detection.to_dict()))
            return
        levels = [
            f"{label} {level:.1f} dBFS"
            for label, level in (
                ("noise floor", detection.noise_floor_db),
                ("speech", detection.speech_db),
                ("threshold", detection.threshold_db),
            )
            if level is not None
        ]
        click.echo(", ".join([f"{source}: {detection.duration:.3f} s", *levels]))
        for start, end in detection.silences:
            click.echo(f"silence {start:9.3f} - {end:9.3f}  ({end - start:.3f} s)")
        share = 100 * detection.silent_duration / detection.duration if detection.duration else 0
        click.echo(
            f"{len(detection.silences)} silences, {detection.silent_duration:.3f} s ({share:.1f}%)"
        )


@main.command("plugins")
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Print the capabilities (plugins, detectors, renderers, exporters, options) as JSON.",
)
def plugins_command(as_json: bool) -> None:
    """List the plugins and what they offer.

    Every plugin (built-in steps and installed ones) with its hooks, its options and the
    detectors, renderers and exporters it registers; then the names of each of those.
    """
    with errors_as_one_line():
        pm = default_plugin_manager()
        if as_json:
            click.echo(json.dumps(capabilities(pm), indent=2))
            return
        for info in describe_plugins(pm):
            click.echo(f"{info.name} ({info.origin})")
            click.echo(f"  hooks: {', '.join(info.hooks) or 'none'}")
            for detector in info.detectors:
                click.echo(f"  detector {detector.name}" + _described(detector.description))
            for kind, formats in (("renderer", info.renderers), ("exporter", info.exporters)):
                for item in formats:
                    click.echo(
                        f"  {kind} {item.name} ({item.extension}, {item.media_type})"
                        + _described(item.description)
                    )
            for spec in info.options:
                click.echo(
                    f"  option {spec.name} ({spec.type_name}, default {spec.default!r})"
                    + _described(spec.help)
                )
        defaults = CutOptions()
        hooks = Hooks(pm)
        click.echo("")
        for kind, names, default in (
            ("detectors", hooks.register_detectors().names(), defaults.detector),
            ("renderers", hooks.register_renderers().names(), defaults.renderer),
            ("exporters", hooks.register_exporters().names(), None),
        ):
            listed = [f"{name} (default)" if name == default else name for name in names]
            click.echo(f"{kind}: {', '.join(listed) or 'none'}")


def _described(text: str) -> str:
    return f": {text}" if text else ""
