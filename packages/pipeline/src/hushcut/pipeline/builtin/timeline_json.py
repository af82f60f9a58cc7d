"""Built-in exporter ``json``: the timeline as the JSON ``hushcut cut --timeline`` writes."""

from __future__ import annotations

from collections.abc import Callable

from hushcut.pipeline._manager import hookimpl
from hushcut.pipeline._probe import MediaInfo
from hushcut.pipeline._registries import Exporter
from hushcut.pipeline.options import CutOptions
from hushcut.pipeline.timeline import Timeline

EXPORTER_NAME = "json"


def export_json(timeline: Timeline, media: MediaInfo, options: CutOptions) -> str:
    return timeline.to_json()


@hookimpl
def hushcut_register_exporters(register: Callable[[Exporter], None]) -> None:
    register(
        Exporter(
            EXPORTER_NAME,
            export_json,
            extension=".json",
            media_type="application/json",
            description="Hushcut's timeline JSON: kept segments, speeds and detection levels "
            "(docs/pipeline.md, Timeline format); `--from-timeline` reads it back.",
        )
    )
