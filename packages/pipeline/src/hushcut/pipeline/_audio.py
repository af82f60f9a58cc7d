"""Decoding the analysed audio stream for detectors, with the waveform measured on the way.

A plugin detector that reads its audio through :func:`audio_frames` gets the frames of
the stream the pipeline analyses (``media.audio``), damaged packets skipped as the
built-in detector skips them, and, while ``analyze`` runs, the waveform peaks come from
those same frames: one decode serves detection and the waveform.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import av
import av.error

from hushcut.pipeline._detect import (
    BATCH_SAMPLES,
    MAX_DAMAGED_FRACTION,
    MAX_DAMAGED_PACKETS,
    WINDOW_S,
    _PowerBatch,
)
from hushcut.pipeline._peaks import PeakMeter, active_meter
from hushcut.pipeline._probe import MediaInfo, open_media
from hushcut.pipeline.errors import MediaError


def audio_frames(path: str | Path, media: MediaInfo) -> Iterator[av.AudioFrame]:
    """The decoded frames of ``media.audio`` (the stream detection analyses), in order.

    Frames come as the decoder makes them (the stream's own sample format, layout and
    rate); times are ``frame.time``, from which ``media.start_time`` is to be subtracted
    for seconds as players show them. Packets that fail to decode are skipped, like
    players do; MediaError when more than a few (and more than 5 %) are damaged, or the
    stream cannot be decoded at all. Memory stays flat: nothing is kept between frames.
    """
    path = Path(path)
    meter = active_meter()
    tap = _FrameTap(meter, media.start_time) if meter is not None else None
    with open_media(path) as container:
        stream = next((s for s in container.streams.audio if s.index == media.audio.index), None)
        if stream is None:
            raise MediaError(f"{path.name}: audio stream {media.audio.index} is missing")
        packets = damaged = 0
        try:
            for packet in container.demux(stream):
                packets += 1
                try:
                    frames = stream.decode(packet)
                except av.error.InvalidDataError:
                    damaged += 1
                    continue
                for frame in frames:
                    if tap is not None:
                        tap.add(frame)
                    yield frame
        except av.error.EOFError:
            pass
        except av.error.FFmpegError as exc:
            raise MediaError(f"{path.name}: audio cannot be decoded ({exc})") from exc
        finally:
            if tap is not None:
                tap.flush()
        if damaged > max(MAX_DAMAGED_PACKETS, MAX_DAMAGED_FRACTION * packets):
            raise MediaError(
                f"{path.name} is corrupt: {damaged} of {packets} audio packets cannot be decoded"
            )


class _FrameTap:
    """Measures decoded frames into a PeakMeter, a batch of frames at a time (per-frame
    numpy calls would cost more than the arithmetic)."""

    def __init__(self, meter: PeakMeter, start_time: float) -> None:
        self._meter = meter
        self._start_time = start_time
        self._batch = _PowerBatch()
        self._rate = 0
        self._time = 0.0  # when the batch's first sample plays
        self._next = 0.0  # when the sample after the batch plays

    def add(self, frame: av.AudioFrame) -> None:
        rate = frame.sample_rate or self._rate
        if not rate:
            return
        time = self._next
        if frame.pts is not None and frame.time_base is not None:
            time = float(frame.pts * frame.time_base) - self._start_time
        gap = abs(time - self._next) > WINDOW_S
        if rate != self._rate or gap or not self._batch.fits(frame):
            self.flush()
            self._rate, self._time = rate, time
        self._batch.add(frame)
        self._next = time + frame.samples / rate
        if self._batch.samples >= BATCH_SAMPLES:
            self.flush()

    def flush(self) -> None:
        power = self._batch.drain()
        if power is not None:
            self._meter.add(power, self._time, self._rate)
            self._time += power.size / self._rate
