"""Decoding the analysed audio stream for detectors, with the waveform measured on the way.

A plugin detector that reads its audio through :func:`audio_frames` (decoded frames) or
:func:`audio_samples` (numpy blocks at the rate and layout it wants) gets the stream the
pipeline analyses (``media.audio``), damaged packets skipped as the built-in detector
skips them, and, while ``analyze`` runs, the waveform peaks are measured on that same
audio: one decode serves detection and the waveform.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import av
import numpy as np
import numpy.typing as npt

from hushcut.pipeline._decode import decoded_audio
from hushcut.pipeline._detect import BATCH_SAMPLES, WINDOW_S, _power
from hushcut.pipeline._peaks import PeakMeter, active_meter
from hushcut.pipeline._probe import MediaInfo


def audio_frames(path: str | Path, media: MediaInfo) -> Iterator[av.AudioFrame]:
    """The decoded frames of ``media.audio`` (the stream detection analyses), in order.

    Frames come as the decoder makes them (the stream's own sample format, layout and
    rate); times are ``frame.time``, from which ``media.start_time`` is to be subtracted
    for seconds as players show them. Packets that fail to decode are skipped, like
    players do; MediaError when more than a few (and more than 5 %) are damaged, or the
    stream cannot be decoded at all. Memory stays flat: nothing is kept between frames.
    """
    meter = active_meter()
    if meter is None:
        yield from decoded_audio(Path(path), media)
        return
    tap = _FrameTap(meter, media.start_time)
    try:
        for frame in decoded_audio(Path(path), media):
            tap.add(frame)
            yield frame
    finally:
        tap.flush()


def audio_samples(
    path: str | Path,
    media: MediaInfo,
    *,
    rate: int | None = None,
    layout: str = "mono",
    sample_format: str = "s16",
) -> Iterator[tuple[npt.NDArray[np.generic], float]]:
    """``media.audio`` converted by FFmpeg's resampler, as numpy blocks with the time (s,
    as players show it) of each block's first sample.

    ``sample_format`` is a packed format (``"s16"`` gives int16, ``"flt"`` float32...),
    ``layout`` an FFmpeg layout (``"mono"``, ``"stereo"``), ``rate`` the sample rate (None:
    the stream's). A block is one dimensional, channels interleaved. Blocks follow each
    other without gaps from the first decoded sample on; damaged packets are skipped as
    by :func:`audio_frames`. Cheaper for the waveform than :func:`audio_frames` while
    ``analyze`` runs: the blocks are measured a batch at a time, not frame by frame.
    """
    if sample_format.endswith("p") or sample_format.removesuffix("p") not in SAMPLE_TYPES:
        raise ValueError(f"sample_format {sample_format!r} is not a packed FFmpeg format")
    target_rate = rate or media.audio.sample_rate or 48_000

    def new_resampler() -> av.AudioResampler:
        return av.AudioResampler(format=sample_format, layout=layout, rate=target_rate)

    resampler = new_resampler()
    channels = av.AudioLayout(layout).nb_channels
    meter = active_meter()
    tap = _BlockTap(meter, channels, target_rate) if meter is not None else None
    first: float | None = None
    emitted = 0  # samples per channel yielded so far
    shape: tuple[str, str, int] | None = None  # what the resampler was set up for

    def blocks(frames: list[av.AudioFrame]) -> Iterator[tuple[npt.NDArray[np.generic], float]]:
        nonlocal emitted
        for out in frames:
            block = out.to_ndarray().reshape(-1)
            time = (first or 0.0) + emitted / target_rate
            if tap is not None:
                tap.add(block, time)
            yield block, time
            emitted += block.size // channels

    try:
        for frame in decoded_audio(Path(path), media):
            if first is None and frame.time is not None:
                first = max(frame.time - media.start_time, 0.0)
            frame_shape = (frame.format.name, frame.layout.name, frame.sample_rate)
            if shape is not None and frame_shape != shape:
                # The stream changes rate or layout midway (joined recordings): FFmpeg's
                # resampler takes one input format, so finish this one and start anew.
                yield from blocks(resampler.resample(None))
                resampler = new_resampler()
            shape = frame_shape
            yield from blocks(resampler.resample(frame))
        yield from blocks(resampler.resample(None))
    finally:
        if tap is not None:
            tap.flush()


class _BlockTap:
    """Measures contiguous numpy blocks (channels interleaved) into a PeakMeter, a batch at
    a time: per block, only an append."""

    def __init__(self, meter: PeakMeter, channels: int, rate: int) -> None:
        self._meter = meter
        self._channels = channels
        self._rate = rate
        self._blocks: list[npt.NDArray[np.generic]] = []
        self._size = 0
        self._time = 0.0

    def add(self, block: npt.NDArray[np.generic], time: float) -> None:
        if not self._blocks:
            self._time = time
        self._blocks.append(block)
        self._size += block.size
        if self._size >= BATCH_SAMPLES * self._channels:
            self.flush()

    def flush(self) -> None:
        if not self._blocks:
            return
        power = _power(np.concatenate(self._blocks), False, self._channels)
        self._blocks, self._size = [], 0
        self._meter.add(power, self._time, self._rate)


#: numpy types of FFmpeg's sample formats (planar ones end in "p").
SAMPLE_TYPES: dict[str, type[np.generic]] = {
    "u8": np.uint8,
    "s16": np.int16,
    "s32": np.int32,
    "s64": np.int64,
    "flt": np.float32,
    "dbl": np.float64,
}


class _FrameTap:
    """Measures decoded frames into a PeakMeter, a batch of frames at a time.

    Samples are read straight from the frames' planes (``to_ndarray`` stacks planar
    channels frame by frame, which costs more than the measuring) and measured as the
    loudness detector measures them, per batch of about ``BATCH_SAMPLES``. The per-frame
    part is kept to a few attribute reads: it runs for every 1024 samples of AAC.
    """

    def __init__(self, meter: PeakMeter, start_time: float) -> None:
        self._meter = meter
        self._start_time = start_time
        self._time_base = 0.0
        # What the batch holds: sample format, channels, rate, and derived from them.
        self._format = ""
        self._channels = self._rate = 0
        self._kind: type[np.generic] | None = None
        self._planar = False
        self._bytes_per_sample = 0  # per plane
        self._planes: list[list[npt.NDArray[np.uint8]]] = []
        self._samples = 0
        self._time = 0.0  # when the batch's first sample plays
        self._next = 0.0  # when the sample after the batch plays

    def add(self, frame: av.AudioFrame) -> None:
        samples = frame.samples
        name = frame.format.name
        channels = frame.layout.nb_channels
        rate = frame.sample_rate
        pts = frame.pts
        if not self._time_base and frame.time_base is not None:
            self._time_base = float(frame.time_base)
        time = self._next
        if pts is not None and self._time_base:
            time = pts * self._time_base - self._start_time
        if (
            name != self._format
            or channels != self._channels
            or rate != self._rate
            or abs(time - self._next) > WINDOW_S
        ):
            self._begin(name, channels, rate, time)
        if self._kind is None or not samples:
            return
        size = samples * self._bytes_per_sample
        if self._planar:
            for batch, plane in zip(self._planes, frame.planes, strict=False):
                # The plane's bytes as they are (cheaper than np.frombuffer), padding cut.
                batch.append(np.asarray(plane)[:size])
        else:
            self._planes[0].append(np.asarray(frame.planes[0])[:size])
        self._samples += samples
        self._next = time + samples / rate
        if self._samples >= BATCH_SAMPLES:
            self.flush()

    def _begin(self, name: str, channels: int, rate: int, time: float) -> None:
        """Start a batch of another format, or after a gap."""
        self.flush()
        self._format, self._channels, self._rate, self._time = name, channels, rate, time
        self._kind = SAMPLE_TYPES.get(name.removesuffix("p")) if rate and channels else None
        self._planar = name.endswith("p") and channels > 1
        if self._kind is not None:
            itemsize = np.dtype(self._kind).itemsize
            self._bytes_per_sample = itemsize * (1 if self._planar else channels)
        self._planes = [[] for _ in range(channels if self._planar else 1)]

    def flush(self) -> None:
        if not self._samples or self._kind is None:
            return
        joined = [np.concatenate(plane).view(self._kind) for plane in self._planes]
        data = np.stack(joined) if self._planar else joined[0]
        power = _power(data, self._planar, self._channels)
        self._planes = [[] for _ in self._planes]
        self._samples = 0
        self._meter.add(power, self._time, self._rate)
        self._time += power.size / self._rate
