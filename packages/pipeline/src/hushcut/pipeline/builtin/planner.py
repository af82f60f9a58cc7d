"""Built-in planner: cut each silence minus margins, keep everything else at normal speed."""

from __future__ import annotations

from hushcut.pipeline.detect import Detection
from hushcut.pipeline.options import CutOptions
from hushcut.pipeline.plan import plan_timeline
from hushcut.pipeline.plugins import hookimpl
from hushcut.pipeline.timeline import Timeline


@hookimpl
def hushcut_plan(detection: Detection, options: CutOptions) -> Timeline:
    timeline = plan_timeline(
        detection.silences,
        detection.duration,
        min_silence_s=options.min_silence_s,
        margin_s=options.margin_s,
        min_cut_s=options.min_cut_s,
        min_clip_s=options.min_clip_s,
    )
    timeline.meta.update(
        {
            "detector": detection.detector,
            "threshold_db": round(detection.threshold_db, 2),
            "noise_floor_db": round(detection.noise_floor_db, 2),
            "speech_db": round(detection.speech_db, 2),
            "margin_s": options.margin_s,
            "min_silence_s": options.min_silence_s,
        }
    )
    return timeline
