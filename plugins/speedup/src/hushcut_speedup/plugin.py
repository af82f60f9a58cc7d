"""The pluggy hooks of hushcut-speedup: its options, and silences kept at speed instead of cut."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from hushcut.pipeline import CutOptions, Detection, OptionSpec, Timeline, hookimpl
from hushcut_speedup.timeline import MAX_FACTOR, speed_up_gaps

#: Namespace of this plugin's options: ``--set speedup.enabled=true``.
PLUGIN = "speedup"
DEFAULT_FACTOR = 4.0


@hookimpl
def hushcut_options() -> list[OptionSpec]:
    return [
        OptionSpec(
            PLUGIN,
            "enabled",
            bool,
            False,
            "Play the silences faster instead of cutting them.",
        ),
        OptionSpec(
            PLUGIN,
            "factor",
            Annotated[float, Field(gt=1.0, le=MAX_FACTOR)],
            DEFAULT_FACTOR,
            f"How much faster silences play: above 1, at most {MAX_FACTOR:g}.",
        ),
    ]


@hookimpl
def hushcut_adjust_timeline(timeline: Timeline, detection: Detection, options: CutOptions) -> None:
    if not options.plugin_option(PLUGIN, "enabled"):
        return
    factor = float(options.plugin_option(PLUGIN, "factor"))
    speed_up_gaps(timeline, factor)
