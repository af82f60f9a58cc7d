"""Built-in detector ``loudness``: silences are windows quieter than an adaptive threshold."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from hushcut.pipeline._detect import Detection, detect_silences
from hushcut.pipeline._manager import hookimpl
from hushcut.pipeline._probe import MediaInfo
from hushcut.pipeline._registries import Detector
from hushcut.pipeline.options import CutOptions
from hushcut.pipeline.render import ProgressCallback

DETECTOR_NAME = "loudness"


def detect_by_loudness(
    source: Path, media: MediaInfo, options: CutOptions, progress: ProgressCallback
) -> Detection:
    return detect_silences(
        source,
        media,
        threshold_db=options.threshold_db,
        above_floor_db=options.threshold_above_floor_db,
        hysteresis_db=options.hysteresis_db,
        min_silence_s=options.min_silence_s,
        progress=lambda fraction: progress("detect", fraction),
    )


@hookimpl
def hushcut_register_detectors(register: Callable[[Detector], None]) -> None:
    register(
        Detector(
            DETECTOR_NAME,
            detect_by_loudness,
            "Windows quieter than a threshold between the recording's noise floor and "
            "speech level (the default).",
        )
    )
