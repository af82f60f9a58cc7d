"""``analyze``: what a cut would do, before rendering — detection, plan and waveform peaks."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hushcut.pipeline._detect import Detection, _power_blocks
from hushcut.pipeline._hooks import Hooks
from hushcut.pipeline._peaks import PeakMeter, Peaks, metering
from hushcut.pipeline._probe import MediaInfo, probe
from hushcut.pipeline.api import (
    StageProgress,
    _choices,
    _resolve,
    _run_detector,
    _run_plan,
    default_plugin_manager,
)
from hushcut.pipeline.options import CutOptions
from hushcut.pipeline.plugins import HushcutPluginManager
from hushcut.pipeline.render import ProgressCallback
from hushcut.pipeline.timeline import Timeline

#: Stages of an analysis, with the share of the overall fraction each one covers.
#: ``peaks`` only takes time for a detector that decodes without ``audio_frames``.
ANALYZE_STAGES: dict[str, float] = {
    "probe": 0.02,
    "detect": 0.90,
    "peaks": 0.06,
    "plan": 0.02,
}


@dataclass
class Analysis:
    """What ``cut`` would do to a recording, without rendering it.

    ``timeline`` is exactly what ``cut`` would render with the same options (planned,
    adjusted by plugins, checked); render it later with ``cut(..., timeline=...)``, edited
    or not, with no second detection. ``peaks`` draw the waveform under it.
    """

    media: MediaInfo
    options: CutOptions
    detection: Detection
    timeline: Timeline
    peaks: Peaks
    #: Whether the peaks needed a decode of their own (a detector that reads its audio
    #: without ``hushcut.pipeline.audio_frames``); False when detection's decode fed them.
    peaks_decoded_again: bool = False


def analyze(
    source: str | Path,
    options: CutOptions | Mapping[str, Any] | None = None,
    *,
    progress: ProgressCallback | None = None,
    plugin_manager: HushcutPluginManager | None = None,
) -> Analysis:
    """Detect, plan and measure the waveform of ``source`` in one decode of its audio.

    The waveform peaks (50 per second, 0..1, channels mixed down) are measured on the
    audio the detector decodes: the built-in detector's, or the frames a plugin detector
    reads through :func:`hushcut.pipeline.audio_frames`. Only a detector that decodes in
    some other way costs a second decode, for the peaks alone.

    ``progress(stage, overall_fraction)`` sees ``probe``, ``detect``, ``peaks`` and
    ``plan``; it may raise CanceledError. Bad options are refused before ``source`` is
    read, as by ``cut``.
    """
    hooks = Hooks(plugin_manager or default_plugin_manager())
    opts = _resolve(options, hooks)
    detector, _ = _choices(opts, hooks)
    path = Path(source)
    reporter = StageProgress(progress, ANALYZE_STAGES)

    reporter.report("probe", 0.0)
    media = probe(path, keyframes=False, audio_track=opts.audio_track)
    reporter.report("probe", 1.0)

    with metering(PeakMeter(media.duration)) as meter:
        detection = _run_detector(detector, path, media, opts, reporter.for_stage("detect"))
    reporter.report("detect", 1.0)
    decoded_again = not meter.fed
    if decoded_again:
        _measure_peaks(path, media, meter, reporter.for_stage("peaks"))
    reporter.report("peaks", 1.0)

    timeline = _run_plan(hooks, detection, opts)
    if timeline.source is None:
        timeline.source = path.name
    reporter.report("plan", 1.0)
    return Analysis(
        media=media,
        options=opts,
        detection=detection,
        timeline=timeline,
        peaks=meter.peaks(),
        peaks_decoded_again=decoded_again,
    )


def _measure_peaks(
    path: Path, media: MediaInfo, meter: PeakMeter, progress: ProgressCallback
) -> None:
    """One decode of the audio for the peaks alone."""
    rate = media.audio.sample_rate or 48_000
    for power, time in _power_blocks(path, media, rate):
        meter.add(power, time, rate)
        if media.duration:
            progress("peaks", min(time / media.duration, 1.0))
