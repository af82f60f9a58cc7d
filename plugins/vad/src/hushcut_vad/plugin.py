"""The pluggy hooks of hushcut-vad: its options, and the ``vad`` detector it registers."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field

from hushcut.pipeline import (
    CutOptions,
    Detection,
    Detector,
    MediaInfo,
    OptionSpec,
    ProgressCallback,
    hookimpl,
)
from hushcut_vad.detector import DETECTOR_NAME, VadSettings, detect_silences

#: Namespace of this plugin's options: ``--set vad.aggressiveness=3``.
PLUGIN = "vad"
DEFAULTS = VadSettings()


@hookimpl
def hushcut_options() -> list[OptionSpec]:
    return [
        OptionSpec(
            PLUGIN,
            "aggressiveness",
            Annotated[int, Field(ge=0, le=3)],
            DEFAULTS.aggressiveness,
            "WebRTC VAD mode 0-3: higher is stricter about what counts as speech "
            "(3 rejects background sound best).",
        ),
        OptionSpec(
            PLUGIN,
            "frame_ms",
            Literal[10, 20, 30],
            DEFAULTS.frame_ms,
            "WebRTC VAD frame in milliseconds: 10, 20 or 30.",
        ),
        OptionSpec(
            PLUGIN,
            "window_s",
            Annotated[float, Field(ge=0.05, le=2.0)],
            DEFAULTS.window_s,
            "Smoothing window (s, 0.05-2): speech needs 90% of the frames in it voiced, so "
            "drum hits and plucked notes are not speech.",
        ),
        OptionSpec(
            PLUGIN,
            "hangover_s",
            Annotated[float, Field(ge=0.0, le=2.0)],
            DEFAULTS.hangover_s,
            "Speech is held this long (s, 0-2) after the voice stops, so word endings stay.",
        ),
    ]


def detect_by_voice(
    source: Path, media: MediaInfo, options: CutOptions, progress: ProgressCallback
) -> Detection:
    """The ``vad`` detector: silences are where WebRTC VAD hears no voice."""
    settings = VadSettings(
        aggressiveness=options.plugin_option(PLUGIN, "aggressiveness"),
        frame_ms=options.plugin_option(PLUGIN, "frame_ms"),
        window_s=options.plugin_option(PLUGIN, "window_s"),
        hangover_s=options.plugin_option(PLUGIN, "hangover_s"),
    )
    return detect_silences(
        source,
        media,
        settings,
        min_silence_s=options.min_silence_s,
        progress=lambda fraction: progress("detect", fraction),
    )


@hookimpl
def hushcut_register_detectors(register: Callable[[Detector], None]) -> None:
    register(
        Detector(
            DETECTOR_NAME,
            detect_by_voice,
            "WebRTC voice activity detection: music beds and room noise are not speech.",
        )
    )
