"""The pluggy hooks of hushcut-otio: the editor export formats it registers, and its option."""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

from hushcut.pipeline import CutOptions, Exporter, MediaInfo, OptionSpec, Timeline, hookimpl
from hushcut_otio.formats import export_edl, export_fcp7, export_fcpxml, export_otio

#: Namespace of this plugin's options: ``--set otio.edl_style=avid``.
PLUGIN = "otio"


@hookimpl
def hushcut_options() -> list[OptionSpec]:
    return [
        OptionSpec(
            PLUGIN,
            "edl_style",
            Literal["premiere", "avid", "nucoda"],
            "premiere",
            "How EDL events name the source: premiere (reel AX and the file name, what "
            "Premiere and Resolve relink by), avid (reel from the file name, CLIP "
            "comments) or nucoda (FILE comments).",
        )
    ]


def _edl(timeline: Timeline, media: MediaInfo, options: CutOptions) -> str:
    return export_edl(timeline, media, style=options.plugin_option(PLUGIN, "edl_style"))


def _ignoring_options(
    export: Callable[[Timeline, MediaInfo], str],
) -> Callable[[Timeline, MediaInfo, CutOptions], str]:
    return lambda timeline, media, options: export(timeline, media)


#: (name, export, extension, media type, description) of each format.
FORMATS = [
    (
        "otio",
        _ignoring_options(export_otio),
        ".otio",
        "application/json",
        "OpenTimelineIO: Kdenlive 25.04+, DaVinci Resolve 18.5+ and any OTIO tool open it; "
        "keeps speed changes.",
    ),
    (
        "fcpxml",
        _ignoring_options(export_fcpxml),
        ".fcpxml",
        "application/xml",
        "Final Cut Pro X XML (1.8).",
    ),
    (
        "fcp7",
        _ignoring_options(export_fcp7),
        ".xml",
        "application/xml",
        "Final Cut Pro 7 XML: Premiere Pro and DaVinci Resolve import it.",
    ),
    ("edl", _edl, ".edl", "text/plain", "CMX 3600 edit decision list: Premiere, Resolve, Avid."),
]


@hookimpl
def hushcut_register_exporters(register: Callable[[Exporter], None]) -> None:
    for name, export, extension, media_type, description in FORMATS:
        register(Exporter(name, export, extension, media_type, description))
