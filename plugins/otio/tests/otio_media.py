"""Small talk-like clips for the export tests, written with PyAV: loud buzzes ("speech")
between quiet pauses, at any frame rate, with or without video."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np

RATE = 48_000
#: (seconds, kind): three stretches of "speech" around two pauses long enough to cut.
PATTERN = [(1.6, "voice"), (1.5, "pause"), (1.3, "voice"), (1.2, "pause"), (1.4, "voice")]


def _audio(channels: int) -> np.ndarray:
    rng = np.random.default_rng(3)
    pieces = []
    for seconds, kind in PATTERN:
        t = np.arange(round(seconds * RATE)) / RATE
        loud = 0.25 * sum(np.sin(2 * np.pi * 150 * k * t) / k for k in range(1, 8))
        piece = loud if kind == "voice" else np.zeros_like(t)
        pieces.append(piece + rng.normal(0, 10 ** (-65 / 20), t.size))
    mono = np.concatenate(pieces).astype(np.float32)
    return np.tile(mono, (channels, 1))


def write_clip(target: Path, *, fps: Fraction | None, channels: int = 2) -> Path:
    """An MP4 (H.264 + AAC at ``fps``) or, with ``fps`` None, an M4A (AAC only)."""
    samples = _audio(channels)
    duration = samples.shape[1] / RATE
    layout = "stereo" if channels == 2 else "mono"
    with av.open(str(target), "w", format="mp4") as out:
        video = None
        if fps is not None:
            video = out.add_stream("libx264", rate=fps)
            video.width, video.height, video.pix_fmt = 160, 96, "yuv420p"
            video.options = {"preset": "ultrafast"}
        audio = out.add_stream("aac", rate=RATE, layout=layout)
        if video is not None and fps is not None:
            for index in range(int(duration * fps)):
                picture = np.full((96, 160, 3), index * 5 % 256, dtype=np.uint8)
                frame = av.VideoFrame.from_ndarray(picture, format="rgb24")
                frame.pts = index
                frame.time_base = 1 / fps
                out.mux(video.encode(frame))
            out.mux(video.encode(None))
        size = audio.codec_context.frame_size or 1024
        for start in range(0, samples.shape[1], size):
            chunk = np.ascontiguousarray(samples[:, start : start + size])
            frame = av.AudioFrame.from_ndarray(chunk, format="fltp", layout=layout)
            frame.sample_rate = RATE
            frame.pts = start
            frame.time_base = Fraction(1, RATE)
            out.mux(audio.encode(frame))
        out.mux(audio.encode(None))
    return target
