"""Test inputs derived on demand from the kit's samples: no audio, other formats, tones.

Talks with ground truth come from ``hushcut.pipeline.testing``."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np


def remux_without_audio(source: Path, target: Path) -> Path:
    """Copy only the video stream of ``source``: a video with no audio track."""
    with av.open(str(source)) as src, av.open(str(target), "w") as dst:
        video_in = src.streams.video[0]
        video_out = dst.add_stream_from_template(video_in)
        for packet in src.demux(video_in):
            if packet.dts is None:
                continue
            packet.stream = video_out
            dst.mux(packet)
    return target


def transcode_audio(source: Path, target: Path, *, layout: str, rate: int, codec: str) -> Path:
    """Re-encode the audio of ``source`` alone, e.g. to 5.1 at 22.05 kHz in 16-bit PCM."""
    with av.open(str(source)) as src, av.open(str(target), "w") as dst:
        out = dst.add_stream(codec, rate=rate, layout=layout)
        resampler = av.AudioResampler(format=out.format.name, layout=layout, rate=rate)
        for frame in src.decode(src.streams.audio[0]):
            for converted in resampler.resample(frame):
                for packet in out.encode(converted):
                    dst.mux(packet)
        for converted in resampler.resample(None):
            for packet in out.encode(converted):
                dst.mux(packet)
        for packet in out.encode(None):
            dst.mux(packet)
    return target


def write_tone_wav(
    target: Path, pattern: list[tuple[float, float]], *, rate: int = 44_100, noise_db: float = -60
) -> Path:
    """A WAV of (seconds, level dBFS) pieces of a 440 Hz tone over a constant noise floor.

    ``level`` None-like values (below -100) mean noise only.
    """
    rng = np.random.default_rng(0)
    pieces = []
    for seconds, level in pattern:
        n = round(seconds * rate)
        t = np.arange(n) / rate
        noise = rng.normal(0.0, 10 ** (noise_db / 20), n)
        tone = (
            np.sin(2 * np.pi * 440 * t) * (10 ** (level / 20) * np.sqrt(2)) if level > -100 else 0
        )
        pieces.append(noise + tone)
    samples = np.clip(np.concatenate(pieces), -1, 1)
    pcm = (samples * 32767).astype("<i2").reshape(1, -1)
    with av.open(str(target), "w") as dst:
        stream = dst.add_stream("pcm_s16le", rate=rate, layout="mono")
        frame = av.AudioFrame.from_ndarray(pcm, format="s16", layout="mono")
        frame.sample_rate = rate
        frame.pts = 0
        frame.time_base = Fraction(1, rate)
        for packet in stream.encode(frame):
            dst.mux(packet)
        for packet in stream.encode(None):
            dst.mux(packet)
    return target
