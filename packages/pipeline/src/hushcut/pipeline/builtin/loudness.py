"""Built-in detector ``loudness``: silences are windows quieter than an adaptive threshold."""

from __future__ import annotations

from pathlib import Path

from hushcut.pipeline._detect import Detection, detect_silences
from hushcut.pipeline._probe import MediaInfo
from hushcut.pipeline.options import CutOptions
from hushcut.pipeline.plugins import hookimpl
from hushcut.pipeline.render import ProgressCallback

DETECTOR_NAME = "loudness"


@hookimpl
def hushcut_detect(
    source: Path, media: MediaInfo, options: CutOptions, progress: ProgressCallback
) -> Detection | None:
    if options.detector != DETECTOR_NAME:
        return None
    return detect_silences(
        source,
        media,
        threshold_db=options.threshold_db,
        above_floor_db=options.threshold_above_floor_db,
        hysteresis_db=options.hysteresis_db,
        min_silence_s=options.min_silence_s,
        progress=lambda fraction: progress("detect", fraction),
    )
