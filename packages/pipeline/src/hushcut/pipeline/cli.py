"""Command line of the pipeline library: `hushcut cut`, `hushcut detect`, `hushcut plugins`."""

from __future__ import annotations

import json
import os
import sys
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


@contextmanager
def progress_display(enabled: bool) -> Iterator[Callable[[str, float], None] | None]:
    """A rich progress bar on stderr when it is a terminal; nothing when piped."""
    if not enabled or not sys.stderr.isatty():
        yield None
        return
    # Imported here: rich costs a noticeable share of start-up, and piped runs (scripts,
    # the benchmark) never draw a bar.
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        Progress,
        TaskProgressColumn,
        TextColumn,
        TimeElapsedColumn,
    )

    console = Console(stderr=True)
    columns = (
        TextColumn("{task.description:<12}"),
        BarColumn(),
        TaskProgressColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console, transient=True) as bar:
        task = bar.add_task("probe", total=1.0)

        def update(stage: str, fraction: float) -> None:
            bar.update(task, description=stage, completed=fraction)

        yield update


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


@main.command("cut")
@click.argument("source", metavar="IN", type=click.Path(path_type=Path))
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Output file (default: <IN stem>_hushcut.mp4 beside IN, or the extension of the "
    "chosen renderer).",
)
@with_detection_options
@with_edit_options
@click.option(
    "--mode",
    type=click.Choice(["smart", "reencode"], case_sensitive=False),
    help="smart (default): copy whole GOPs, re-encode only cut edges; reencode: one pass.",
)
@click.option(
    "--timeline",
    "timeline_out",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Also write the planned timeline to this JSON file.",
)
@click.option(
    "--from-timeline",
    "timeline_in",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Render this timeline (e.g. one written by --timeline and edited) instead of detecting.",
)
@click.option("--plan-only", is_flag=True, help="Detect and plan only: print what would be cut.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar and no summary.")
def cut_command(
    source: Path,
    output: Path | None,
    assignments: tuple[str, ...],
    timeline_out: Path | None,
    timeline_in: Path | None,
    plan_only: bool,
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
        timeline = Timeline.read(timeline_in) if timeline_in else None
        if export_format:
            exporter = Hooks(pm).register_exporters().get(export_format)
            target = output or default_output(source, exporter.implementation.extension)
            with progress_display(not quiet) as progress:
                timeline = export_plan(source, target, exporter, options, timeline, pm, progress)
            _write_timeline(timeline, timeline_out, source)
            if not quiet:
                if plan_only:
                    click.echo(plan_table(timeline))
                click.echo(export_summary(source, target, exporter, timeline))
            return
        if plan_only:
            if timeline is None:
                with progress_display(not quiet) as progress:
                    timeline = plan(
                        detect(source, options, progress, plugin_manager=pm),
                        options,
                        plugin_manager=pm,
                    )
            _write_timeline(timeline, timeline_out, source)
            if not quiet:
                if timeline.meta.get("note"):
                    click.echo(f"note: {one_line(timeline.meta['note'])}", err=True)
                click.echo(plan_table(timeline))
                click.echo(_plan_summary(source, timeline))
            return
        renderer = Hooks(pm).register_renderers().get(options.renderer)
        target = output or default_output(source, renderer.implementation.extension)
        with progress_display(not quiet) as progress:
            result = cut(source, target, options, progress, timeline=timeline, plugin_manager=pm)
        _write_timeline(result.timeline, timeline_out, source)
        if not quiet:
            for note in result.notes:
                click.echo(f"note: {one_line(note)}", err=True)
            click.echo(cut_summary(result))


def cut_summary(result: CutResult) -> str:
    """The one line ``hushcut cut`` ends with: input, output, what was removed."""
    return (
        f"{result.input} -> {result.output}: {result.input_duration:.2f} s -> "
        f"{result.output_duration:.2f} s, removed {result.removed_s:.2f} s "
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
        f"{source}: would keep {timeline.output_duration:.2f} s of "
        f"{timeline.source_duration:.2f} s in {len(timeline.segments)} segments, "
        f"removing {removed:.2f} s ({share:.1f}%)"
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
def detect_command(source: Path, assignments: tuple[str, ...], as_json: bool, **flags: Any) -> None:
    """Find the silences in IN without cutting anything."""
    with errors_as_one_line():
        pm = default_plugin_manager()
        options = _options(assignments, pm, **flags)
        with progress_display(True) as progress:
            detection = detect(source, options, progress, plugin_manager=pm)
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
        click.echo(", ".join([f"{source}: {detection.duration:.2f} s", *levels]))
        for start, end in detection.silences:
            click.echo(f"silence {start:9.3f} - {end:9.3f}  ({end - start:.3f} s)")
        share = 100 * detection.silent_duration / detection.duration if detection.duration else 0
        click.echo(
            f"{len(detection.silences)} silences, {detection.silent_duration:.2f} s ({share:.1f}%)"
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
