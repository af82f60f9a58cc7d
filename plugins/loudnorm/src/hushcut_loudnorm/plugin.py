"""The pluggy hooks of hushcut-loudnorm: its options and the post-processing step."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import Field

from hushcut.pipeline import CutOptions, OptionSpec, ProgressCallback, RenderResult, hookimpl
from hushcut_loudnorm.normalise import LoudnormTarget, normalise

#: Namespace of this plugin's options: ``--set loudnorm.enabled=true``.
PLUGIN = "loudnorm"
DEFAULTS = LoudnormTarget()


@hookimpl
def hushcut_options() -> list[OptionSpec]:
    return [
        OptionSpec(
            PLUGIN, "enabled", bool, False, "Normalise the output's loudness (EBU R128, two-pass)."
        ),
        OptionSpec(
            PLUGIN,
            "target",
            Annotated[float, Field(ge=-70.0, le=-5.0)],
            DEFAULTS.integrated_lufs,
            "Integrated loudness to reach, in LUFS (-70 to -5; -16 suits online video, "
            "-23 is EBU broadcast).",
        ),
        OptionSpec(
            PLUGIN,
            "true_peak",
            Annotated[float, Field(ge=-9.0, le=0.0)],
            DEFAULTS.true_peak_dbtp,
            "Highest true peak allowed, in dBTP (-9 to 0); the default leaves room for the "
            "overshoot of AAC encoding under EBU R128's -1 dBTP.",
        ),
        OptionSpec(
            PLUGIN,
            "lra",
            Annotated[float, Field(ge=1.0, le=50.0)],
            DEFAULTS.range_lu,
            "Largest loudness range kept, in LU (1 to 50); a wider one is compressed.",
        ),
    ]


@hookimpl
def hushcut_postprocess(
    output: Path, result: RenderResult, options: CutOptions, progress: ProgressCallback
) -> str | None:
    if not options.plugin_option(PLUGIN, "enabled"):
        return None
    target = LoudnormTarget(
        integrated_lufs=float(options.plugin_option(PLUGIN, "target")),
        true_peak_dbtp=float(options.plugin_option(PLUGIN, "true_peak")),
        range_lu=float(options.plugin_option(PLUGIN, "lra")),
    )
    done = normalise(Path(output), target, lambda fraction: progress("postprocess", fraction))
    return done.describe()
