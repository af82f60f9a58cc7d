"""A small talk-like test clip whose pauses hold a quiet tone, written with PyAV."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np

RATE = 48_000
FPS = 25
#: Frequency (Hz) of the quiet tone that fills the pauses: what must keep its pitch.
PAUSE_TONE_HZ = 1000.0
#: (seconds, kind) of the clip: "voice" is loud and harmonic, "pause" a quiet tone.
PATTERN = [(2.0, "voice"), (3.0, "pause"), (2.5, "voice"), (3.0, "pause"), (1.5, "voice")]


def _audio(pattern: list[tuple[float, str]]) -> np.ndarray:
    rng = np.random.default_rng(7)
    pieces = []
    for seconds, kind in pattern:
        t = np.arange(round(seconds * RATE)) / RATE
        if kind == "voice":
            # A 150 Hz buzz with harmonics, loud: speech as a loudness detector sees it.
            wave = sum(np.sin(2 * np.pi * 150 * k * t) / k for k in range(1, 8))
            piece = 0.25 * wave
        else:
            piece = 10 ** (-45 / 20) * np.sqrt(2) * np.sin(2 * np.pi * PAUSE_TONE_HZ * t)
        pieces.append(piece + rng.normal(0, 10 ** (-70 / 20), t.size))
    return np.concatenate(pieces).astype(np.float32)


def write_clip(target: Path, pattern: list[tuple[float, str]]) -> Path:
    """An H.264 + AAC MP4 with moving pictures and the audio ``pattern`` describes."""
    samples = _audio(pattern)
    duration = samples.size / RATE
    with av.open(str(target), "w") as out:
        video = out.add_stream("libx264", rate=FPS)
        video.width, video.height, video.pix_fmt = 320, 240, "yuv420p"
        video.options = {"preset": "ultrafast"}
        audio = out.add_stream("aac", rate=RATE)
        audio.layout = "mono"
        for index in range(round(duration * FPS)):
            picture = np.zeros((240, 320, 3), dtype=np.uint8)
            picture[:, :, 0] = (np.arange(320) + index * 4) % 256
            picture[:, :, 1] = index * 3 % 256
            frame = av.VideoFrame.from_ndarray(picture, format="rgb24")
            frame.pts = index
            frame.time_base = Fraction(1, FPS)
            out.mux(video.encode(frame))
        out.mux(video.encode(None))
        size = audio.codec_context.frame_size or 1024
        for start in range(0, samples.size, size):
            chunk = samples[start : start + size].reshape(1, -1)
            frame = av.AudioFrame.from_ndarray(chunk, format="flt", layout="mono")
            frame.sample_rate = RATE
            frame.pts = start
            frame.time_base = Fraction(1, RATE)
            out.mux(audio.encode(frame))
        out.mux(audio.encode(None))
    return target
