"""Short test clips made with PyAV, for worker tests and the worker benchmark."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av


def make_clip(source: Path, target: Path, start: float, end: float, size: int = 320) -> Path:
    """Cut [start, end) of ``source`` into a small H.264/AAC MP4 (``size`` px wide)."""
    width, height = size, size * 9 // 16
    with av.open(str(source)) as inp, av.open(str(target), "w") as out:
        vin, ain = inp.streams.video[0], inp.streams.audio[0]
        video = out.add_stream("libx264", rate=30)
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        video.options = {"preset": "ultrafast", "g": "30"}
        audio = out.add_stream("aac", rate=48000)
        audio.layout = "stereo"
        inp.seek(int(start * av.time_base))
        index = 0
        for frame in inp.decode(vin, ain):
            if not isinstance(frame, av.VideoFrame | av.AudioFrame):
                continue
            if frame.time is None or frame.time < start:
                continue
            if frame.time >= end:
                if isinstance(frame, av.VideoFrame):
                    break
                continue
            if isinstance(frame, av.VideoFrame):
                scaled = frame.reformat(width=width, height=height, format="yuv420p")
                scaled.pts, scaled.time_base = index, Fraction(1, 30)
                index += 1
                out.mux(video.encode(scaled))
            else:
                frame.pts = None
                out.mux(audio.encode(frame))
        out.mux(video.encode())
        out.mux(audio.encode())
    return target


def media_duration(path: Path) -> float:
    with av.open(str(path)) as container:
        assert container.duration is not None
        return container.duration / 1_000_000
