"""Waveform peaks for drawing a recording: measured on the audio detection already decodes.

While :func:`metering` is active (``analyze`` turns it on around the detector), every
block of audio the pipeline decodes — the built-in loudness detector's blocks, and the
frames a plugin detector reads through :func:`hushcut.pipeline.audio_frames` — is also
reduced to one peak per 1/50 s, so the waveform costs no second decode.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

#: Peaks per second of audio: 20 ms each, fine enough to see words, small enough to send.
PEAKS_PER_SECOND = 50
#: Decimals a peak keeps in JSON: 1 % of full scale, finer than a waveform is drawn.
PEAK_DECIMALS = 2


@dataclass(frozen=True)
class Peaks:
    """Peak magnitudes of a recording, 0..1 of full scale, ``peaks_per_second`` per second.

    ``peaks`` holds one list per channel; Hushcut mixes the channels down to one (each
    sample's magnitude is the root mean square over the channels, as detection measures
    power, so a phase-inverted pair cannot cancel out). ``peaks[0][i]`` is the largest
    magnitude in ``[i, i + 1) / peaks_per_second`` seconds; the list covers ``duration``.
    """

    duration: float
    peaks: list[list[float]]
    peaks_per_second: int = PEAKS_PER_SECOND

    def to_json(self) -> dict[str, object]:
        """``{"duration": s, "peaksPerSecond": 50, "peaks": [[...]]}``: the shape
        wavesurfer.js takes (``peaks`` and ``duration`` options)."""
        return {
            "duration": round(self.duration, 3),
            "peaksPerSecond": self.peaks_per_second,
            "peaks": self.peaks,
        }

    def to_bytes(self) -> bytes:
        """:meth:`to_json` as compact UTF-8 JSON (about 4.5 bytes a peak: 0.8 MB an hour)."""
        return json.dumps(self.to_json(), separators=(",", ":")).encode()

    @classmethod
    def from_json(cls, data: dict[str, object]) -> Peaks:
        peaks = data["peaks"]
        rate = data.get("peaksPerSecond", PEAKS_PER_SECOND)
        duration = data["duration"]
        if not isinstance(peaks, list) or not isinstance(rate, int):
            raise ValueError("not a peaks document")
        if not isinstance(duration, int | float):
            raise ValueError("not a peaks document")
        return cls(float(duration), [list(map(float, channel)) for channel in peaks], rate)


class PeakMeter:
    """Collects the largest per-sample power of each 1/``per_second`` s bin.

    Feed it per-sample power (the square of the magnitude, channels averaged) block by
    block with the time its first sample plays at; blocks may come at any sample rate, in
    any order, and twice (the largest value wins), so several decoders may feed one meter.
    """

    def __init__(self, duration: float, per_second: int = PEAKS_PER_SECOND) -> None:
        self.duration = max(float(duration), 0.0)
        self.per_second = per_second
        self._bins = np.zeros(max(1, math.ceil(self.duration * per_second)), dtype=np.float32)
        #: Whether any audio reached the meter.
        self.fed = False

    def add(self, power: npt.NDArray[np.float32], start_s: float, rate: int) -> None:
        """Per-sample ``power`` at ``rate`` Hz whose first sample plays at ``start_s``."""
        if power.size == 0 or rate <= 0:
            return
        self.fed = True
        first = max(round(start_s * rate), 0)  # sample number from time 0
        last = first + power.size - 1
        per = self.per_second
        # Bin k holds samples [ceil(k * rate / per), ceil((k + 1) * rate / per)).
        low, high = first * per // rate, last * per // rate
        bins = np.arange(low, high + 1, dtype=np.int64)
        starts = -(-bins * rate // per) - first
        starts[0] = 0
        maxima = np.maximum.reduceat(power, starts)
        if high >= self._bins.size:
            grown = np.zeros(high + 1, dtype=np.float32)
            grown[: self._bins.size] = self._bins
            self._bins = grown
        target = self._bins[low : high + 1]
        np.maximum(target, maxima, out=target)

    def peaks(self) -> Peaks:
        """The peaks measured so far, covering ``duration`` (unfed stretches read 0)."""
        count = max(1, math.ceil(self.duration * self.per_second))
        bins = self._bins[:count]
        if bins.size < count:
            bins = np.concatenate((bins, np.zeros(count - bins.size, dtype=np.float32)))
        magnitude = np.minimum(np.sqrt(bins, dtype=np.float32), 1.0)
        return Peaks(self.duration, [_rounded(magnitude)], self.per_second)


def _rounded(values: npt.NDArray[np.float32]) -> list[float]:
    # Whole numbers (0 in silence, 1 at full scale) as ints: "0" is a third of "0.0".
    rounded = np.round(values.astype(np.float64), PEAK_DECIMALS).tolist()
    return [int(v) if v in (0.0, 1.0) else v for v in rounded]


_ACTIVE: ContextVar[PeakMeter | None] = ContextVar("hushcut_peak_meter", default=None)


def active_meter() -> PeakMeter | None:
    """The meter decoded audio should feed, if an analysis is running in this context."""
    return _ACTIVE.get()


@contextmanager
def metering(meter: PeakMeter) -> Iterator[PeakMeter]:
    """Feed ``meter`` with all audio the pipeline decodes in this context (thread)."""
    token = _ACTIVE.set(meter)
    try:
        yield meter
    finally:
        _ACTIVE.reset(token)
