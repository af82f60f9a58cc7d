"""WebRTC voice activity detection over a recording's audio, decoded block by block with PyAV."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import av
import av.error
import numpy as np
import numpy.typing as npt
import webrtcvad

from hushcut.pipeline import Detection, MediaError, MediaInfo, audio_samples

#: WebRTC VAD accepts 8, 16, 32 or 48 kHz; 16 kHz covers the speech band at a third of
#: the work of 48 kHz.
VAD_RATE = 16_000
#: Frame lengths WebRTC VAD accepts, in milliseconds.
FRAME_MS_CHOICES = (10, 20, 30)
#: Level given to digital silence, so logarithms stay finite (as the loudness detector).
FLOOR_DBFS = -120.0
#: Share of voiced frames in the smoothing window at which speech starts, and below which
#: it ends. WebRTC VAD calls nearly every frame of speech voiced (95 % or more, measured
#: on talk1 at aggressiveness 3), but only about a quarter of the frames of a drum loop
#: and half to two thirds of those of plucked chords; the gap is what tells them apart.
START_RATIO = 0.9
END_RATIO = 0.75
#: The name users select with ``detector="vad"``.
DETECTOR_NAME = "vad"

FractionCallback = Callable[[float], None]


@dataclass(frozen=True)
class VadSettings:
    """How speech is told from non-speech.

    ``aggressiveness`` is WebRTC's mode (0 calls the most frames speech, 3 is strictest).
    Single frames are unreliable (a drum hit or a consonant-like click is "voiced" for a
    frame or two), so the verdicts are smoothed: speech starts where at least
    ``START_RATIO`` of the frames in a ``window_s`` window around it are voiced and lasts
    until fewer than ``END_RATIO`` are; the edges are then moved to the first and last
    voiced frame, and each speech run is held ``hangover_s`` longer so word endings that
    fade into the background are not clipped.
    """

    aggressiveness: int = 3
    frame_ms: int = 10
    window_s: float = 0.5
    hangover_s: float = 0.05

    def __post_init__(self) -> None:
        if self.aggressiveness not in (0, 1, 2, 3):
            raise ValueError(f"aggressiveness must be 0-3, not {self.aggressiveness}")
        if self.frame_ms not in FRAME_MS_CHOICES:
            raise ValueError(f"frame_ms must be one of {FRAME_MS_CHOICES}, not {self.frame_ms}")
        if self.window_s <= 0 or self.hangover_s < 0:
            raise ValueError("window_s must be positive and hangover_s not negative")


def pcm_blocks(path: Path, media: MediaInfo) -> Iterator[tuple[npt.NDArray[np.int16], float]]:
    """The probed audio stream as 16 kHz mono s16, block by block, with each block's start
    time in seconds from the start of the file. Memory stays flat whatever the length.

    The pipeline decodes and converts it (:func:`~hushcut.pipeline.audio_samples`), so
    when it analyses a recording (``analyze``) the waveform is measured on this decode.
    """
    try:
        for block, time in audio_samples(path, media, rate=VAD_RATE, layout="mono"):
            yield block.astype(np.int16, copy=False), time
    except av.error.FFmpegError as exc:
        raise MediaError(f"{path.name}: audio cannot be decoded ({exc})") from exc


def classify_frames(
    path: Path,
    media: MediaInfo,
    settings: VadSettings,
    progress: FractionCallback | None = None,
) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.float32]]:
    """Per ``settings.frame_ms`` frame from time 0: whether WebRTC VAD hears speech, and
    the frame's loudness in dBFS RMS. Audio that starts late counts as non-speech."""
    vad = webrtcvad.Vad(settings.aggressiveness)
    frame_len = VAD_RATE * settings.frame_ms // 1000
    voiced: list[bool] = []
    levels: list[npt.NDArray[np.float32]] = []
    carry = np.zeros(0, dtype=np.int16)
    started = False
    report_every = max(media.duration / 50, 1.0)
    next_report = report_every
    for samples, time in pcm_blocks(path, media):
        if not started:
            started = True
            lead = round(time * 1000 / settings.frame_ms)
            voiced.extend([False] * lead)
            levels.append(np.full(lead, FLOOR_DBFS, dtype=np.float32))
        block = np.concatenate((carry, samples)) if carry.size else samples
        usable = block.size - block.size % frame_len
        if usable:
            frames = block[:usable].reshape(-1, frame_len)
            voiced.extend(vad.is_speech(frame.tobytes(), VAD_RATE) for frame in frames)
            levels.append(_level_dbfs(frames))
        carry = block[usable:].copy()
        if progress is not None and time >= next_report:
            progress(min(time / media.duration, 1.0) if media.duration else 0.0)
            next_report = time + report_every
    if not started:
        raise MediaError(f"{path.name}: the audio track holds no decodable sound")
    # The last partial frame is too short for WebRTC VAD: it inherits its neighbour's verdict.
    if carry.size:
        voiced.append(voiced[-1] if voiced else False)
        levels.append(_level_dbfs(carry.reshape(1, -1)))
    return np.array(voiced, dtype=bool), np.concatenate(levels).astype(np.float32)


def _level_dbfs(frames: npt.NDArray[np.int16]) -> npt.NDArray[np.float32]:
    scaled = frames.astype(np.float32) / 32768.0
    power = np.einsum("ij,ij->i", scaled, scaled, dtype=np.float64) / max(frames.shape[1], 1)
    floor = 10 ** (FLOOR_DBFS / 10)
    level: npt.NDArray[np.float32] = (10.0 * np.log10(np.maximum(power, floor))).astype(np.float32)
    return level


def smooth(voiced: npt.NDArray[np.bool_], settings: VadSettings) -> npt.NDArray[np.bool_]:
    """Speech runs from per-frame verdicts, as :class:`VadSettings` describes."""
    if voiced.size == 0:
        return voiced.copy()
    frame_s = settings.frame_ms / 1000
    width = max(1, round(settings.window_s / frame_s))
    ratio = np.convolve(voiced.astype(np.float64), np.ones(width) / width, mode="same")
    # Hysteresis without a Python loop: only frames above START or below END decide;
    # frames in between keep the last decided state (forward fill of decisive indices).
    enter = ratio >= START_RATIO
    leave = ratio < END_RATIO
    decisive = np.where(enter | leave, np.arange(ratio.size), -1)
    np.maximum.accumulate(decisive, out=decisive)
    state = np.where(decisive >= 0, enter[np.maximum(decisive, 0)], False)
    speech = np.zeros_like(voiced)
    hangover = round(settings.hangover_s / frame_s)
    reach = width // 2
    voiced_at = np.flatnonzero(voiced)
    for start, end in _runs(state):
        # The window blurs edges by up to half its width: snap them to the voiced frames.
        inside = voiced_at[(voiced_at >= start - reach) & (voiced_at < end + reach)]
        if inside.size == 0:
            continue
        first, last = int(inside[0]), int(inside[-1]) + 1
        speech[first : min(last + hangover, speech.size)] = True
    return speech


def _runs(mask: npt.NDArray[np.bool_]) -> list[tuple[int, int]]:
    """``[start, end)`` frame indices of the True runs of ``mask``."""
    edges = np.diff(mask.astype(np.int8), prepend=0, append=0)
    return list(
        zip(np.flatnonzero(edges == 1).tolist(), np.flatnonzero(edges == -1).tolist(), strict=True)
    )


def detect_silences(
    path: Path,
    media: MediaInfo,
    settings: VadSettings,
    *,
    min_silence_s: float,
    progress: FractionCallback | None = None,
) -> Detection:
    """The stretches of ``path`` without speech, at least ``min_silence_s`` long.

    WebRTC VAD decides; levels are measured on the same frames and reported for
    information: ``noise_floor_db`` is the median loudness of non-speech frames,
    ``speech_db`` that of speech frames, and ``threshold_db`` the 95th percentile of
    non-speech loudness (how loud what was still judged silence got, e.g. a music bed).
    """
    voiced, levels = classify_frames(path, media, settings, progress)
    speech = smooth(voiced, settings)
    frame_s = settings.frame_ms / 1000
    silences: list[tuple[float, float]] = []
    for start, end in _runs(~speech):
        a = min(start * frame_s, media.duration)
        b = min(end * frame_s, media.duration)
        if b - a >= min_silence_s and b > a:
            silences.append((a, b))
    quiet = levels[~speech & (levels > FLOOR_DBFS)]
    loud = levels[speech]
    noise_floor = float(np.median(quiet)) if quiet.size else FLOOR_DBFS
    speech_db = float(np.median(loud)) if loud.size else FLOOR_DBFS
    threshold = float(np.percentile(quiet, 95)) if quiet.size else FLOOR_DBFS
    if progress is not None:
        progress(1.0)
    return Detection(
        duration=media.duration,
        silences=silences,
        noise_floor_db=noise_floor,
        speech_db=speech_db,
        threshold_db=threshold,
        window_s=frame_s,
        detector=DETECTOR_NAME,
    )
