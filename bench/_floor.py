"""The least work any SMART render of a timeline must do on this machine.

``python -m bench._floor SOURCE TIMELINE`` counts the kept frames a SMART render cannot
copy, with the plan the renderer itself follows (from each cut-in to the next IDR
picture, and the frames B-frame reordering keeps from being copied at a cut-out). Each
of those frames has to be decoded and encoded once, whoever renders it. The script then
does only that: it decodes that many frames from the start of SOURCE (so no frame is
decoded only as a reference) and encodes each with the splice encoder at the default
preset and CRF. No audio, no muxing, no reference-only decoding, no copying.

``bench pipeline`` runs it under the same measurement as the renders, so its wall and
CPU time are the floor under SMART's own figures in the same run. A target below the
floor cannot be met at the same encoder settings, only by encoding worse.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import av

from hushcut.pipeline.render import RenderSettings
from hushcut.pipeline.render.engine import SpliceParams, pick_streams, splice_params
from hushcut.pipeline.render.scan import scan_source
from hushcut.pipeline.render.video import (
    COPY,
    output_clock,
    plan_video,
    reset_picture_type,
    snap_segments,
    splice_encoder,
)
from hushcut.pipeline.timeline import Segment, Timeline


def must_encode(source: Path, timeline: Timeline) -> tuple[int, int, SpliceParams]:
    """(frames SMART must encode, frames it keeps, its splice parameters) for
    ``timeline`` of ``source``."""
    with av.open(str(source)) as container:
        video, audio, _ = pick_streams(container)
        if video is None:
            raise SystemExit(f"{source}: no video")
        scan = scan_source(container, video, audio)
        index = scan.video
        assert index is not None
        params = splice_params(video, index)
    if isinstance(params, str):
        raise SystemExit(f"{source}: {params}")
    shifted = [
        Segment(s.start + scan.start, s.end + scan.start, s.speed) for s in timeline.segments
    ]
    plan = plan_video(index, snap_segments(shifted, index), copy=True, open_gops=False)
    return int((plan.kept & (plan.action & COPY == 0)).sum()), int(plan.kept.sum()), params


def decode_and_encode(source: Path, frames: int, params: SpliceParams) -> int:
    """Decode the first ``frames`` frames of ``source`` and encode each as SMART would."""
    settings = RenderSettings()
    with av.open(str(source)) as container:
        video, _, _ = pick_streams(container)
        assert video is not None
        out_tb, factor = output_clock(video.time_base)  # type: ignore[arg-type]
        encoder = splice_encoder(
            video,
            out_tb,
            profile=params.profile,
            level=params.level,
            sps_id=params.sps_id,
            preset=settings.preset,
            crf=settings.crf,
        )
        video.codec_context.thread_type = "AUTO"
        done = 0
        for frame in container.decode(video):
            if done == frames:
                break
            reset_picture_type(frame)
            frame.pts = int(frame.pts or 0) * factor
            frame.time_base = out_tb
            encoder.encode(frame)
            done += 1
        encoder.encode(None)
    return done


def main(argv: list[str]) -> int:
    source = Path(argv[0])
    frames, kept, params = must_encode(source, Timeline.read(Path(argv[1])))
    done = decode_and_encode(source, frames, params)
    print(json.dumps({"must_encode": frames, "kept": kept, "encoded": done}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
