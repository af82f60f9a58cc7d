"""Silence detection by loudness: decode the audio in blocks, measure short windows, threshold."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import av
import av.error
import numpy as np
import numpy.typing as npt

from hushcut.pipeline._decode import decoded_audio, undecodable
from hushcut.pipeline._peaks import active_meter
from hushcut.pipeline._probe import MediaInfo, check_complete, probe
from hushcut.pipeline.errors import MediaError

#: Loudness is measured over windows this long (seconds).
WINDOW_S = 0.010
#: Level given to digital silence, so logarithms stay finite.
FLOOR_DBFS = -120.0

#: The noise floor is this percentile of window loudness, speech level this one.
NOISE_PERCENTILE = 10.0
SPEECH_PERCENTILE = 95.0
#: Automatic threshold position between noise floor (0) and speech level (1).
AUTO_THRESHOLD_POSITION = 0.25
#: Never put the automatic threshold closer than this to the noise floor (dB): a noise
#: floor fluctuates by a few dB from window to window.
MIN_ABOVE_FLOOR_DB = 6.0
#: With less than this between noise floor and speech level, the automatic threshold
#: finds no silences: the recording holds no quieter stretches to cut.
MIN_CONTRAST_DB = 6.0
#: Sparse speech (one word in a long quiet clip) is under 5 % of the windows, so the 95th
#: percentile is noise. Windows this far above the floor count as sound, and when at least
#: ``MIN_SOUND_S`` of them exist, their median stands for the speech level if it is louder.
SOUND_ABOVE_FLOOR_DB = 12.0
MIN_SOUND_S = 0.1

LevelCallback = Callable[[float], None]


@dataclass
class Detection:
    """Where the silences are in one recording, and the levels that decided it.

    All levels are dBFS RMS over ``window_s`` windows (0 dBFS = a full-scale square wave).
    ``silences`` are ``(start, end)`` seconds, ascending and disjoint, within
    ``[0, duration]``.
    """

    duration: float
    silences: list[tuple[float, float]]
    #: Levels the loudness detector measured; other detectors may leave them None.
    noise_floor_db: float | None = None
    speech_db: float | None = None
    threshold_db: float | None = None
    window_s: float = WINDOW_S
    #: The detector that produced this (``"loudness"`` for the built-in one).
    detector: str = "loudness"
    #: Window loudness in dBFS, one value per ``window_s`` from 0, when asked for.
    envelope: npt.NDArray[np.float32] | None = field(default=None, repr=False)
    #: One-line remarks for the user (e.g. why nothing could be cut, and what to try).
    notes: list[str] = field(default_factory=list)

    @property
    def silent_duration(self) -> float:
        return sum(end - start for start, end in self.silences)

    def to_dict(self) -> dict[str, object]:
        """The JSON form ``hushcut detect --json`` prints (no envelope)."""
        # Milliseconds: finer than any cut needs, and what people read.
        return {
            "duration": round(self.duration, 3),
            "silences": [[round(a, 3), round(b, 3)] for a, b in self.silences],
            "noise_floor_db": _rounded(self.noise_floor_db),
            "speech_db": _rounded(self.speech_db),
            "threshold_db": _rounded(self.threshold_db),
            "detector": self.detector,
        }


def _rounded(level: float | None) -> float | None:
    return None if level is None else round(level, 2)


def loudness_envelope(
    path: Path, media: MediaInfo, progress: LevelCallback | None = None
) -> tuple[npt.NDArray[np.float32], float]:
    """Window loudness (dBFS) of the audio stream from time 0, and the window length (s).

    Audio is decoded frame by frame and measured at its own sample rate
    (a window is ``WINDOW_S`` rounded to whole samples), so memory does not grow with the
    input apart from the envelope itself (400 kB per hour).
    """
    rate = media.audio.sample_rate or 48_000
    window = max(1, round(rate * WINDOW_S))
    window_s = window / rate
    parts: list[npt.NDArray[np.float32]] = []
    carry = np.zeros(0, dtype=np.float32)
    first_time: float | None = None
    report_every = max(media.duration / 50, 1.0)
    next_report = report_every
    meter = active_meter()  # an analysis wants the waveform too: same samples, no 2nd decode
    for samples, time in _power_blocks(path, media, rate):
        if meter is not None:
            meter.add(samples, time, rate)
        if first_time is None:
            first_time = time
        block = np.concatenate((carry, samples)) if carry.size else samples
        usable = block.size - block.size % window
        if usable:
            parts.append(_mean_power(block[:usable].reshape(-1, window)))
        carry = block[usable:].copy()
        if progress is not None and time >= next_report:
            progress(min(time / media.duration, 1.0))
            next_report = time + report_every
    if carry.size:
        parts.append(_mean_power(carry.reshape(1, -1)))
    if not parts:
        raise MediaError(f"{path.name}: the audio track holds no decodable sound")
    power = np.concatenate(parts)
    envelope = (10.0 * np.log10(np.maximum(power, 10 ** (FLOOR_DBFS / 10)))).astype(np.float32)
    # The audio may start after 0 (an offset track): pad the start as digital silence.
    offset = max(0, round((first_time or 0.0) / window_s))
    if offset:
        envelope = np.concatenate((np.full(offset, FLOOR_DBFS, dtype=np.float32), envelope))
    return envelope, window_s


def _mean_power(frames: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    # Full-scale sine is -3 dBFS by this (AES17 would say 0); the reference only shifts
    # absolute numbers, never the relative ones the default threshold relies on.
    power: npt.NDArray[np.float32] = frames.mean(axis=1, dtype=np.float64).astype(np.float32)
    return power


#: Decoded samples are measured in batches of about this many per channel: per-frame
#: numpy calls would cost more than the arithmetic (an AAC frame is 1024 samples).
BATCH_SAMPLES = 1 << 15


#: Per-sample power of some audio, and the time (s) its first sample plays at.
Block = tuple[npt.NDArray[np.float32], float]


class _PowerBatch:
    """Raw samples of consecutive frames in one sample format, measured together."""

    def __init__(self) -> None:
        self.arrays: list[npt.NDArray[Any]] = []
        self.key: tuple[str, bool, int] | None = None
        self.samples = 0

    @staticmethod
    def _key(frame: av.AudioFrame) -> tuple[str, bool, int]:
        return (frame.format.name, frame.format.is_planar, frame.layout.nb_channels)

    def fits(self, frame: av.AudioFrame) -> bool:
        """Whether ``frame`` can join the batch (same format, or the batch is empty)."""
        return not self.arrays or self._key(frame) == self.key

    def add(self, frame: av.AudioFrame) -> None:
        self.key = self._key(frame)
        self.arrays.append(frame.to_ndarray())
        self.samples += frame.samples

    def drain(self) -> npt.NDArray[np.float32] | None:
        """The per-sample power of the batch (emptying it); None when it is empty."""
        if not self.arrays or self.key is None:
            return None
        _, planar, channels = self.key
        data = self.arrays[0] if len(self.arrays) == 1 else np.concatenate(self.arrays, axis=1)
        self.arrays, self.samples = [], 0
        return _power(data, planar, channels)


def _power_blocks(path: Path, media: MediaInfo, rate: int) -> Iterator[Block]:
    """Per-sample power of the decoded audio at ``rate``, with the start time of each block.

    Frames at the stream's rate are measured with numpy directly (a batch of frames at a
    time), which costs a fraction of a resampler pass; frames at another rate (streams
    that change rate midway) go through an FFmpeg resampler to ``rate`` first. Packets
    that fail to decode (a damaged stretch) are skipped, like players do, and the time
    they covered is filled with digital silence so later audio keeps its place;
    MediaError if too many are damaged, or if the audio stops well before the duration
    the file declares (a truncated file).
    """
    resampler: av.AudioResampler | None = None
    batch = _PowerBatch()
    # Frame times from integer pts and a float time base: Fractions per frame are slow.
    time_base: float | None = None
    first: float | None = None
    emitted = 0  # samples yielded so far; batch.samples more are waiting

    def emit(power: npt.NDArray[np.float32]) -> Iterator[Block]:
        nonlocal emitted
        yield power, (first or 0.0) + emitted / rate
        emitted += power.size

    def flush() -> Iterator[Block]:
        power = batch.drain()
        if power is not None:
            yield from emit(power)

    def measure(frame: av.AudioFrame) -> Iterator[Block]:
        if not batch.fits(frame):
            yield from flush()
        batch.add(frame)
        if batch.samples >= BATCH_SAMPLES:
            yield from flush()

    for frame in decoded_audio(path, media):
        if time_base is None and frame.time_base is not None:
            time_base = float(frame.time_base)
        if frame.pts is not None and time_base is not None:
            time = frame.pts * time_base - media.start_time
            if first is None:
                first = time
            # Samples lost to damaged packets, as a gap before this frame.
            lost = round((time - first) * rate) - (emitted + batch.samples)
            if lost > rate * WINDOW_S:
                yield from flush()
                yield from emit(np.zeros(lost, dtype=np.float32))
        if frame.sample_rate == rate:
            yield from measure(frame)
        else:
            resampler = resampler or av.AudioResampler("fltp", None, rate)
            try:
                converted = resampler.resample(frame)
            except av.error.FFmpegError as exc:
                raise undecodable(path, exc) from exc
            for out in converted:
                yield from measure(out)
    for out in resampler.resample(None) if resampler is not None else ():
        yield from measure(out)
    yield from flush()
    if emitted and media.audio.duration:
        # The audio stops well before the length its stream declares: a cut-off file.
        check_complete(path, media.audio.duration, {media.audio.index: emitted / rate})


def _power(data: npt.NDArray[Any], planar: bool, channels: int) -> npt.NDArray[np.float32]:
    """Per-sample power (square of the [-1, 1] value) averaged over the channels.

    ``data`` is what ``AudioFrame.to_ndarray`` gives (frames may be joined along axis 1):
    planar formats as (channels, samples), packed ones interleaved in one row. Averaging
    power, not samples, keeps a phase-inverted channel pair or a one-sided microphone
    from cancelling out or halving the level.
    """
    channels = max(channels, 1)
    data = data.reshape(channels, -1) if planar else data.reshape(-1, channels).T
    samples = data.astype(np.float32)
    # Integer samples: full scale is 2^(bits-1); unsigned ones (u8) are centred on it.
    full_scale = float(2 ** (data.dtype.itemsize * 8 - 1))
    if data.dtype.kind == "i":
        samples /= full_scale
    elif data.dtype.kind == "u":
        samples = (samples - full_scale) / full_scale
    power: npt.NDArray[np.float32] = np.einsum("ij,ij->j", samples, samples) / np.float32(channels)
    return power


def estimate_levels(
    envelope: npt.NDArray[np.float32], window_s: float = WINDOW_S
) -> tuple[float, float]:
    """(noise floor, speech level) in dBFS: low and high percentiles of window loudness.

    Windows of digital silence (a muted lead-in, padding) are left out so they cannot
    drag the floor to -120 dBFS when the real room noise sits far above that. When
    speech is too sparse for the high percentile to reach it (a word in a long quiet
    clip), the median of the windows clearly above the floor is the speech level.
    """
    audible = envelope[envelope > FLOOR_DBFS + 1.0]
    if audible.size < 10:
        return FLOOR_DBFS, FLOOR_DBFS
    floor, speech = (
        float(v) for v in np.percentile(audible, [NOISE_PERCENTILE, SPEECH_PERCENTILE])
    )
    sound = audible[audible > floor + SOUND_ABOVE_FLOOR_DB]
    if sound.size * window_s >= MIN_SOUND_S:
        speech = max(speech, float(np.median(sound)))
    return floor, speech


def low_contrast_note(noise_floor_db: float, speech_db: float) -> str:
    """What to tell a user whose recording has nothing loud enough to stand out."""
    if speech_db <= FLOOR_DBFS + 1.0:
        return "the audio is digital silence throughout: there is nothing to detect"
    contrast = max(speech_db - noise_floor_db, 0.0)
    middle = noise_floor_db + contrast / 2
    return (
        f"no silences found: the loudest sounds are only {contrast:.1f} dB above the noise "
        f"floor ({noise_floor_db:.1f} dBFS), too little to tell pauses from speech; "
        f"if it has pauses, set the threshold yourself, e.g. --threshold-db {middle:.0f} "
        f"or --above-floor-db {max(contrast / 2, 1.0):.0f}"
    )


def choose_threshold(
    noise_floor_db: float,
    speech_db: float,
    *,
    threshold_db: float | None = None,
    above_floor_db: float | None = None,
) -> float:
    """The silence threshold in dBFS.

    An absolute ``threshold_db`` wins; else ``above_floor_db`` over the measured floor;
    else the automatic one: ``AUTO_THRESHOLD_POSITION`` of the way from the noise floor
    to the speech level, and at least ``MIN_ABOVE_FLOOR_DB`` above the floor.
    """
    if threshold_db is not None:
        return threshold_db
    if above_floor_db is not None:
        return noise_floor_db + above_floor_db
    gap = max(speech_db - noise_floor_db, 0.0)
    return noise_floor_db + max(AUTO_THRESHOLD_POSITION * gap, min(MIN_ABOVE_FLOOR_DB, gap / 2))


def find_silences(
    envelope: npt.NDArray[np.float32],
    threshold_db: float,
    *,
    hysteresis_db: float,
    min_silence_s: float,
    duration: float,
    window_s: float = WINDOW_S,
) -> list[tuple[float, float]]:
    """Silent runs of ``envelope``: entered below the threshold, left above it + hysteresis.

    Runs shorter than ``min_silence_s`` are dropped; times are clamped to ``duration``.
    """
    if envelope.size == 0:
        return []
    below = envelope < threshold_db
    above = envelope > threshold_db + hysteresis_db
    # Hysteresis as a state machine over "decisive" windows: only windows below the
    # threshold or above threshold + h change state, windows in between keep it. Forward
    # filling the last decisive state does that without a Python loop.
    decisive = below | above
    idx = np.where(decisive, np.arange(envelope.size), -1)
    np.maximum.accumulate(idx, out=idx)
    state = np.where(idx >= 0, below[np.maximum(idx, 0)], False)
    edges = np.diff(state.astype(np.int8), prepend=0, append=0)
    starts = np.flatnonzero(edges == 1)
    ends = np.flatnonzero(edges == -1)
    silences: list[tuple[float, float]] = []
    for a, b in zip(starts.tolist(), ends.tolist(), strict=True):
        # Plain floats (not numpy scalars): they end up in reprs, JSON and timelines.
        start = min(round(a * window_s, 6), duration)
        end = min(round(b * window_s, 6), duration)
        if end - start >= min_silence_s:
            silences.append((start, end))
    return silences


def detect_silences(
    path: Path,
    media: MediaInfo | None = None,
    *,
    threshold_db: float | None = None,
    above_floor_db: float | None = None,
    hysteresis_db: float = 2.0,
    min_silence_s: float = 0.3,
    keep_envelope: bool = False,
    progress: LevelCallback | None = None,
) -> Detection:
    """Run the built-in loudness detector on the audio of ``path``."""
    path = Path(path)
    media = media or probe(path, keyframes=False)
    envelope, window_s = loudness_envelope(path, media, progress)
    noise_floor, speech = estimate_levels(envelope, window_s)
    threshold = choose_threshold(
        noise_floor, speech, threshold_db=threshold_db, above_floor_db=above_floor_db
    )
    if not math.isfinite(threshold):
        raise MediaError(f"{path.name}: could not measure the audio level")
    automatic = threshold_db is None and above_floor_db is None
    notes: list[str] = []
    if automatic and speech - noise_floor < MIN_CONTRAST_DB:
        # One steady level throughout (a tone, constant noise, a mute track): nothing
        # stands out as a pause, and any automatic threshold would only split hairs.
        silences: list[tuple[float, float]] = []
        notes.append(low_contrast_note(noise_floor, speech))
    else:
        silences = find_silences(
            envelope,
            threshold,
            hysteresis_db=hysteresis_db,
            min_silence_s=min_silence_s,
            duration=media.duration,
            window_s=window_s,
        )
    if progress is not None:
        progress(1.0)
    return Detection(
        duration=media.duration,
        silences=silences,
        noise_floor_db=noise_floor,
        speech_db=speech,
        threshold_db=threshold,
        window_s=window_s,
        envelope=envelope if keep_envelope else None,
        notes=notes,
    )
