"""Test input for the VAD claim: the talk's speech over a drum loop, written with PyAV."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np

RATE = 48_000


def drum_loop(samples: int, rate: int, level_dbfs: float, bpm: float = 120.0) -> np.ndarray:
    """A rock beat (kick on 1 and 3, snare on 2 and 4, hi-hat on eighths) scaled to
    ``level_dbfs`` RMS over its whole length."""
    rng = np.random.default_rng(3)
    out = np.zeros(samples)
    eighth = 60.0 / bpm / 2
    for step in range(int(samples / rate / eighth) + 1):
        start = int(step * eighth * rate)
        if start >= samples:
            break
        stop = min(samples, start + int(0.4 * rate))
        t = np.arange(stop - start) / rate
        if step % 4 == 0:
            # A kick: a sine sweeping down from 110 Hz to 50 Hz, decaying fast.
            sweep = (50 + 60 * np.exp(-t * 30)) * t
            out[start:stop] += np.exp(-t * 18) * np.sin(2 * np.pi * sweep)
        if step % 4 == 2:
            out[start:stop] += 0.6 * rng.normal(0, 1, t.size) * np.exp(-t * 25)
        hat = np.diff(rng.normal(0, 1, t.size), prepend=0.0)
        out[start:stop] += 0.25 * hat * np.exp(-t * 70)
    return out * (10 ** (level_dbfs / 20) / np.sqrt(np.mean(out**2)))


def decode_stereo(path: Path) -> np.ndarray:
    """The first audio stream of ``path`` as float stereo at RATE, shape (2, samples)."""
    resampler = av.AudioResampler(format="fltp", layout="stereo", rate=RATE)
    with av.open(str(path)) as container:
        planes = [
            out.to_ndarray()
            for frame in container.decode(container.streams.audio[0])
            for out in resampler.resample(frame)
        ]
    planes += [out.to_ndarray() for out in resampler.resample(None)]
    return np.concatenate(planes, axis=1)


def write_wav(target: Path, audio: np.ndarray) -> Path:
    """Write (2, samples) float audio as 16-bit stereo WAV."""
    pcm = (np.clip(audio, -1.0, 1.0) * 32767).astype("<i2").T.reshape(1, -1)
    with av.open(str(target), "w") as out:
        stream = out.add_stream("pcm_s16le", rate=RATE, layout="stereo")
        frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(pcm), format="s16", layout="stereo")
        frame.sample_rate = RATE
        frame.pts = 0
        frame.time_base = Fraction(1, RATE)
        out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return target


def with_drum_bed(source: Path, target: Path, level_dbfs: float) -> Path:
    """``source``'s audio with a drum loop at ``level_dbfs`` mixed under it."""
    speech = decode_stereo(source)
    return write_wav(target, speech + drum_loop(speech.shape[1], RATE, level_dbfs)[None, :])
