"""Built-in planner: cut each silence minus margins, keep everything else at normal speed."""

from __future__ import annotations

from hushcut.pipeline._detect import Detection
from hushcut.pipeline._manager import hookimpl
from hushcut.pipeline._plan import plan_timeline
from hushcut.pipeline.options import CutOptions
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
        margin_before_s=options.margin_before_s,
        margin_after_s=options.margin_after_s,
    )
    timeline.meta.update(
        {
            **{
                key: value
                for key, value in detection.to_dict().items()
                if key not in {"duration", "silences"} and value is not None
            },
            "margin_s": options.margin_s,
            "min_silence_s": options.min_silence_s,
        }
    )
    if options.margins != (options.margin_s, options.margin_s):
        timeline.meta["margin_before_s"], timeline.meta["margin_after_s"] = options.margins
    return timeline
