"""Generate a talk from a :class:`MediaSpec`, encode it with PyAV, cache it with its truth."""

from __future__ import annotations

import contextlib
import json
import os
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np
import numpy.typing as npt

from hushcut.pipeline.testing._spec import (
    GENERATOR_VERSION,
    SAMPLES,
    SUBTITLE_CODECS,
    TALK,
    AudioSpec,
    MediaSpec,
    VideoSpec,
)
from hushcut.pipeline.testing._speech import (
    Samples,
    espeak_version,
    paragraphs,
    quiet_runs,
    resolve_voice,
    speak,
)

#: Environment variable naming the cache folder (default ``~/.cache/hushcut/test-media``).
CACHE_ENV = "HUSHCUT_TEST_MEDIA_CACHE"
#: The talk's sample rate when it has no audio track (the pauses are still planned).
_PLANNING_RATE = 48_000
#: Bits of the frame number drawn as blocks across the top of every frame.
FRAME_NUMBER_BITS = 16
_MP4_FAMILY = {"mp4", "mov", "m4a"}

Interval = tuple[float, float]


def cache_dir() -> Path:
    """Where generated media are kept: ``$HUSHCUT_TEST_MEDIA_CACHE``, else the user cache
    (``$XDG_CACHE_HOME/hushcut/test-media``, by default ``~/.cache/hushcut/test-media``)."""
    configured = os.environ.get(CACHE_ENV)
    if configured:
        return Path(configured).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "hushcut" / "test-media"


@dataclass(frozen=True)
class GroundTruth:
    """What a generated file holds, known by construction (its ``.json`` beside it).

    Also reads the truth files of the older ``make_talk.py`` generator (``talk1.json``).
    """

    duration: float
    #: Every inserted pause (lead-in and tail included): exact to one sample.
    silences: tuple[Interval, ...]
    #: Quiet runs of at least 150 ms inside sentences (commas): a detector may find them.
    dont_care: tuple[Interval, ...]
    #: One entry per sentence: start, end, text and the voice that spoke it.
    speech: tuple[dict[str, Any], ...]
    #: The whole file as JSON.
    data: dict[str, Any]

    @classmethod
    def load(cls, path: Path | str) -> GroundTruth:
        """The truth of a media file (its ``.json`` sibling) or of a ``.json`` file."""
        path = Path(path)
        data = json.loads(path.with_suffix(".json").read_text())
        return cls(
            duration=float(data["duration"]),
            silences=tuple((float(a), float(b)) for a, b in data["inserted_silences"]),
            dont_care=tuple(
                (float(a), float(b)) for a, b in data.get("intra_sentence_pauses_ge_150ms", ())
            ),
            speech=tuple(data.get("speech", ())),
            data=data,
        )

    @property
    def silent_duration(self) -> float:
        return sum(b - a for a, b in self.silences)


def media_path(spec: MediaSpec = TALK, cache: Path | None = None) -> Path:
    """Where :func:`generate` keeps the file of ``spec`` (it may not exist yet)."""
    folder = cache if cache is not None else cache_dir()
    return folder / f"{spec.stem(resolve_voice(spec.voice))}.{spec.container}"


def generate(spec: MediaSpec = TALK, cache: Path | None = None) -> Path:
    """The file ``spec`` describes, with its ground truth beside it (``.json``).

    Made once and kept in ``cache`` (default :func:`cache_dir`) under a name keyed by the
    spec, the voice used and the generator's version; later calls, from any process,
    return the kept file at once. Writes are atomic, and concurrent callers wait for the
    first one instead of generating twice.
    """
    voice = resolve_voice(spec.voice)
    folder = cache if cache is not None else cache_dir()
    folder.mkdir(parents=True, exist_ok=True)
    stem = spec.stem(voice)
    target = folder / f"{stem}.{spec.container}"
    truth = folder / f"{stem}.json"
    if target.exists() and truth.exists():
        return target
    with _locked(folder / f"{stem}.lock"):
        if target.exists() and truth.exists():
            return target
        partial = folder / f"{stem}.partial.{spec.container}"
        try:
            data = _write(spec, voice, partial)
            data["file"] = target.name
            partial_truth = folder / f"{stem}.partial.json"
            partial_truth.write_text(json.dumps(data, indent=1) + "\n")
            partial_truth.replace(truth)
            partial.replace(target)
        finally:
            partial.unlink(missing_ok=True)
    return target


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """An exclusive lock on ``path`` (advisory, POSIX; no lock elsewhere)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows: no concurrent-run protection
        yield
        return
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


# ------------------------------------------------------------------------ the talk itself
@dataclass
class _Talk:
    samples: Samples
    rate: int
    silences: list[tuple[int, int]]
    pauses: list[tuple[int, int]]
    speech: list[dict[str, Any]]


def _compose(spec: MediaSpec, voice: str, rate: int) -> _Talk:
    """Sentences and pauses laid end to end: exactly ``spec.duration`` seconds."""
    rng = np.random.default_rng(spec.seed)
    sentences = [(p, s) for p, paragraph in enumerate(paragraphs()) for s in paragraph]
    total = round(spec.duration * rate)
    tail = round(min(0.5, spec.pause_min) * rate)
    mode = spec.pause_min + 0.7 * (spec.pause_max - spec.pause_min)
    pieces: list[tuple[int, Samples]] = []
    silences, pauses, speech = [], [], []
    cursor = round(float(rng.uniform(0.5, 1.0)) * rate)  # lead-in
    silences.append((0, min(cursor, total)))
    index, skips, previous, persona = 0, 0, None, 0
    while cursor + tail < total:
        paragraph, text = sentences[index % len(sentences)]
        key = (index // len(sentences), paragraph)
        if key != previous:
            persona = int(rng.integers(1 << 16))
        said = speak(text, voice, rng, persona, rate)
        gap = 0.0
        if pieces:
            if key != previous:  # a paragraph break: a longer pause
                gap = float(
                    rng.uniform(max(spec.pause_min, min(1.5, spec.pause_max)), spec.pause_max)
                )
            else:
                gap = float(rng.triangular(spec.pause_min, mode, spec.pause_max))
        start = cursor + round(gap * rate)
        index += 1
        if start + said.samples.size + tail > total:
            # Too long for what is left: try a few more sentences, then stop.
            skips += 1
            if skips > 12:
                break
            continue
        if gap:
            silences.append((cursor, start))
        pieces.append((start, said.samples))
        speech.append({"start": start / rate, "end": (start + said.samples.size) / rate,
                       "text": text, **said.details})  # fmt: skip
        pauses += [(start + a, start + b) for a, b in quiet_runs(said.samples, rate)]
        cursor = start + said.samples.size
        previous = key
    if cursor < total:
        silences.append((cursor, total))  # the tail
    silences = _merged(silences)
    samples = np.zeros(total, np.float32)
    for start, piece in pieces:
        samples[start : start + piece.size] = piece
    peak = float(np.abs(samples).max()) if pieces else 0.0
    if peak:
        samples *= np.float32(10 ** (spec.speech_peak_dbfs / 20) / peak)
    if spec.noise_dbfs is not None:
        samples += pink_noise(total, np.random.default_rng([spec.seed, 1]), spec.noise_dbfs)
    np.clip(samples, -1.0, 1.0, out=samples)
    return _Talk(samples, rate, silences, pauses, speech)


def _merged(runs: list[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for start, end in runs:
        if merged and merged[-1][1] >= start:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        elif end > start:
            merged.append((start, end))
    return merged


#: Paul Kellet's "refined" pink filter (musicdsp.org, the one FFmpeg's anoisesrc uses):
#: parallel one-pole filters (pole, gain) of white noise, plus white noise itself now and
#: one sample later. Pink within 0.05 dB from about 10 Hz up.
_KELLET_POLES = (
    (0.99886, 0.0555179),
    (0.99332, 0.0750759),
    (0.96900, 0.1538520),
    (0.86650, 0.3104856),
    (0.55000, 0.5329522),
    (-0.7616, -0.0168980),
)
_KELLET_DIRECT, _KELLET_DELAYED = 0.5362, 0.115926


def _kellet_response(length: int = 16_384) -> npt.NDArray[np.float64]:
    """The filter's impulse response (the slowest pole has decayed by 1e-8 at the end)."""
    n = np.arange(length)
    response = np.zeros(length, np.float64)
    for pole, gain in _KELLET_POLES:
        response += gain * pole**n
    response[0] += _KELLET_DIRECT
    response[1] += _KELLET_DELAYED
    return response


def pink_noise(n: int, rng: np.random.Generator, dbfs: float) -> Samples:
    """``n`` samples of pink (1/f) noise with an RMS of exactly ``dbfs``: white noise
    through Paul Kellet's filter, by FFT overlap-add in blocks (memory stays bounded)."""
    response = _kellet_response()
    block = 1 << 18
    size = 1 << (block + response.size - 1).bit_length()
    spectrum = np.fft.rfft(response, size)
    noise = np.zeros(n + response.size, np.float64)
    for start in range(0, n, block):
        white = rng.standard_normal(min(block, n - start))
        shaped = np.fft.irfft(np.fft.rfft(white, size) * spectrum, size)
        noise[start : start + white.size + response.size - 1] += shaped[
            : white.size + response.size - 1
        ]
    pink = noise[:n]
    pink -= pink.mean()
    pink *= 10 ** (dbfs / 20) / np.sqrt(np.mean(pink**2))
    return pink.astype(np.float32)


# -------------------------------------------------------------------------- the picture
def _frame_number_geometry(video: VideoSpec) -> tuple[int, int]:
    """Width and height of one bit's block (even, so chroma lines up)."""
    width = max(2, video.width // FRAME_NUMBER_BITS // 2 * 2)
    height = max(2, video.height // 16 // 2 * 2)
    return width, height


class _Painter:
    """A diagonal gradient moving 3 px per frame, the frame's number in the top row."""

    def __init__(self, video: VideoSpec) -> None:
        self.video = video
        w, h = video.width, video.height
        self.even = w % 2 == 0 and h % 2 == 0
        yy, xx = np.mgrid[0:h, 0:w]
        self.luma = ((xx + yy) % 256).astype(np.uint8)
        cy, cx = np.mgrid[0 : (h + 1) // 2, 0 : (w + 1) // 2]
        self.cb = (96 + (cx * 64) // max(1, cx.shape[1])).astype(np.uint8)
        self.cr = (96 + (cy * 64) // max(1, cy.shape[0])).astype(np.uint8)
        self.block = _frame_number_geometry(video)

    def frame(self, index: int) -> av.VideoFrame:
        w, h = self.video.width, self.video.height
        bw, bh = self.block
        y = self.luma + np.uint8(3 * index % 256)
        cb = self.cb + np.uint8(index % 64)
        cr = self.cr.copy()
        for bit in range(FRAME_NUMBER_BITS):
            y[0:bh, bit * bw : (bit + 1) * bw] = 235 if (index >> bit) & 1 else 16
        cb[0 : bh // 2, 0 : FRAME_NUMBER_BITS * bw // 2] = 128
        cr[0 : bh // 2, 0 : FRAME_NUMBER_BITS * bw // 2] = 128
        if self.even:
            planes = np.concatenate([y, cb.reshape(-1, w), cr.reshape(-1, w)])
            return av.VideoFrame.from_ndarray(planes, format="yuv420p")
        # Odd sizes: build full-resolution YUV 4:4:4 and let FFmpeg convert.
        full = np.stack([y, _upsample(cb, h, w), _upsample(cr, h, w)])
        return av.VideoFrame.from_ndarray(np.ascontiguousarray(full), format="yuv444p")


def _upsample(plane: npt.NDArray[np.uint8], h: int, w: int) -> npt.NDArray[np.uint8]:
    return np.repeat(np.repeat(plane, 2, axis=0), 2, axis=1)[:h, :w]


def read_frame_number(frame: av.VideoFrame) -> int:
    """The number a generated video drew into ``frame`` (its index in the source)."""
    gray = frame.reformat(format="gray").to_ndarray()
    height, width = gray.shape
    bw = max(2, width // FRAME_NUMBER_BITS // 2 * 2)
    bh = max(2, height // 16 // 2 * 2)
    row = gray[bh // 2]
    return sum(1 << b for b in range(FRAME_NUMBER_BITS) if row[b * bw + bw // 2] > 128)


def _cover_picture() -> av.VideoFrame:
    yy, xx = np.mgrid[0:120, 0:160]
    rgb = np.stack([xx * 255 // 160, yy * 255 // 120, np.full_like(xx, 160)], -1)
    return av.VideoFrame.from_ndarray(rgb.astype(np.uint8), format="rgb24")


# --------------------------------------------------------------------------- encoding
def _video_options(video: VideoSpec) -> dict[str, str]:
    options: dict[str, str] = {}
    keyint = f"keyint={video.gop}:min-keyint={video.gop}:scenecut=0" if video.gop else ""
    if video.codec == "libx264":
        options.update(preset=video.preset, crf=str(video.crf))
        if keyint:
            options["x264-params"] = keyint
    elif video.codec == "libx265":
        options.update(preset=video.preset, crf=str(video.crf))
        options["x265-params"] = ":".join(p for p in ("log-level=error", keyint) if p)
    elif video.gop:
        options["g"] = str(video.gop)
    options.update(dict(video.options))
    return options


def _write(spec: MediaSpec, voice: str, path: Path) -> dict[str, Any]:
    """Encode ``spec`` into ``path``, streams interleaved in time; the truth as a dict."""
    rate = spec.audio.sample_rate if spec.audio else _PLANNING_RATE
    talk = _compose(spec, voice, rate)
    options = {"movflags": "+faststart"} if spec.container in _MP4_FAMILY else {}
    frames = 0
    with av.open(str(path), "w", options=options) as out:
        video = _VideoTrack(out, spec.video, spec.duration) if spec.video else None
        audio = _AudioTrack(out, spec.audio, talk.samples) if spec.audio else None
        cues = _SubtitleTrack(out, spec.container, talk.speech) if spec.subtitles else None
        if spec.cover_art:
            _add_cover_art(out)
        if video is not None:
            frames = video.frames
            for index in range(video.frames):
                seconds = float(index / video.fps)
                if cues:
                    cues.until(seconds)
                if audio:
                    audio.until(round(float((index + 1) / video.fps) * rate))
                video.encode(index)
            video.flush()
        if cues:
            cues.until(spec.duration)
        if audio:
            audio.until(talk.samples.size)
            audio.flush()
    return _truth(spec, voice, talk, frames)


class _VideoTrack:
    def __init__(self, out: av.container.OutputContainer, spec: VideoSpec, seconds: float):
        self.out = out
        self.fps = Fraction(spec.fps)
        self.frames = round(seconds * self.fps)
        stream = out.add_stream(spec.codec, rate=self.fps)
        if not isinstance(stream, av.VideoStream):
            raise ValueError(f"{spec.codec} is no video encoder")
        self.stream: av.VideoStream = stream
        self.stream.width, self.stream.height = spec.width, spec.height
        self.stream.pix_fmt = spec.pix_fmt
        self.stream.codec_context.options = _video_options(spec)
        self.painter = _Painter(spec)

    def encode(self, index: int) -> None:
        frame = self.painter.frame(index)
        frame.pts, frame.time_base = index, 1 / self.fps
        self.out.mux(self.stream.encode(frame))

    def flush(self) -> None:
        self.out.mux(self.stream.encode(None))


class _AudioTrack:
    """The talk on every channel of ``spec.layout``, encoded 1024 samples at a time."""

    def __init__(self, out: av.container.OutputContainer, spec: AudioSpec, samples: Samples):
        self.out = out
        self.layout = spec.layout
        self.rate = spec.sample_rate
        stream = out.add_stream(spec.codec, rate=spec.sample_rate, layout=spec.layout)
        if not isinstance(stream, av.AudioStream):
            raise ValueError(f"{spec.codec} is no audio encoder")
        self.stream: av.AudioStream = stream
        if spec.bitrate:
            self.stream.bit_rate = spec.bitrate
        self.channels = av.AudioLayout(spec.layout).nb_channels
        self.samples = samples
        self.done = 0

    def until(self, end: int) -> None:
        while self.done < min(end, self.samples.size):
            size = min(1024, self.samples.size - self.done)
            piece = self.samples[None, self.done : self.done + size]
            chunk = np.ascontiguousarray(np.repeat(piece, self.channels, axis=0))
            frame = av.AudioFrame.from_ndarray(chunk, format="fltp", layout=self.layout)
            frame.sample_rate, frame.pts = self.rate, self.done
            frame.time_base = Fraction(1, self.rate)
            self.out.mux(self.stream.encode(frame))
            self.done += size

    def flush(self) -> None:
        self.out.mux(self.stream.encode(None))


class _SubtitleTrack:
    """One cue per sentence, muxed as ready-made packets (no subtitle encoder needed)."""

    def __init__(
        self, out: av.container.OutputContainer, container: str, speech: list[dict[str, Any]]
    ) -> None:
        self.out = out
        self.codec = SUBTITLE_CODECS[container]
        self.stream = out.add_mux_stream(self.codec, time_base=Fraction(1, 1000))
        self.cues = list(talk_cues(speech))

    def until(self, seconds: float) -> None:
        while self.cues and self.cues[0][0] <= seconds:
            start, end, text = self.cues.pop(0)
            payload = text.encode()
            if self.codec == "mov_text":  # a 16-bit length, then the text
                payload = struct.pack(">H", len(payload)) + payload
            packet = av.Packet(payload)
            packet.stream = self.stream
            packet.time_base = Fraction(1, 1000)
            packet.pts = packet.dts = round(start * 1000)
            packet.duration = round((end - start) * 1000)
            self.out.mux(packet)


def _add_cover_art(out: av.container.OutputContainer) -> None:
    """A JPEG still as a second video stream with the attached-picture disposition."""
    cover = out.add_stream("mjpeg")
    cover.width, cover.height, cover.pix_fmt = 160, 120, "yuvj420p"
    cover.disposition = av.stream.Disposition.attached_pic
    for packet in [*cover.encode(_cover_picture()), *cover.encode(None)]:
        packet.pts = packet.dts = 0
        out.mux(packet)


def talk_cues(speech: list[dict[str, Any]]) -> Iterator[tuple[float, float, str]]:
    """One subtitle cue per sentence: (start, end, text)."""
    for sentence in speech:
        yield sentence["start"], sentence["end"], sentence["text"]


def _truth(spec: MediaSpec, voice: str, talk: _Talk, frames: int) -> dict[str, Any]:
    rate = talk.rate

    def seconds(runs: list[tuple[int, int]]) -> list[list[float]]:
        return [[round(a / rate, 6), round(b / rate, 6)] for a, b in runs]

    duration = talk.samples.size / rate
    silent = sum(b - a for a, b in talk.silences) / rate
    paused = sum(b - a for a, b in talk.pauses) / rate
    engine = f"espeak-ng {espeak_version()}" if voice == "espeak" else "synthesized voice"
    video = None
    if spec.video is not None:
        fps = Fraction(spec.video.fps)
        block = _frame_number_geometry(spec.video)
        video = {
            "codec": spec.video.codec,
            "width": spec.video.width,
            "height": spec.video.height,
            "fps": str(fps),
            "frames": frames,
            "keyframe_interval": spec.video.gop,
            "frame_number": {"bits": FRAME_NUMBER_BITS, "block": list(block), "row": 0},
        }
    return {
        "file": None,
        "generator": f"hushcut.pipeline.testing {GENERATOR_VERSION} ({engine})",
        "spec": spec.to_dict(),
        "voice": voice,
        "duration": round(duration, 6),
        "audio": None if spec.audio is None else {**spec.to_dict()["audio"]},
        "video": video,
        "noise_floor_dbfs_rms": spec.noise_dbfs,
        "noise_color": "pink",
        "speech_peak_dbfs": spec.speech_peak_dbfs,
        "inserted_silences": seconds(talk.silences),
        "inserted_silence_total": round(silent, 6),
        "inserted_silence_fraction": round(silent / duration, 6),
        "intra_sentence_pauses_ge_150ms": seconds(talk.pauses),
        "intra_sentence_pause_total": round(paused, 6),
        "subtitles": [list(cue) for cue in talk_cues(talk.speech)] if spec.subtitles else [],
        "note": (
            "inserted_silences are exact (one sample) pauses holding only the noise floor, "
            "lead-in and tail included; intra_sentence_pauses are quiet runs of at least "
            "150 ms inside sentences (commas), which a detector may legitimately find. "
            "Video frames carry their index as 16 blocks across the top (bit 0 left)."
        ),
        "speech": talk.speech,
    }


def sample(name: str) -> MediaSpec:
    """The spec of a named sample (:data:`SAMPLES`), with a clear error for a typo."""
    try:
        return SAMPLES[name]
    except KeyError:
        raise KeyError(f"no sample named {name!r} (known: {', '.join(SAMPLES)})") from None


class SampleMedia:
    """Sample media with ground truth, each generated once into ``cache``."""

    def __init__(self, cache: Path) -> None:
        self.cache = cache
        self._made: dict[MediaSpec, Path] = {}

    def __call__(self, spec: str | MediaSpec = "talk", **changes: Any) -> Path:
        """The file of a named sample (:data:`~hushcut.pipeline.testing.SAMPLES`) or of a
        spec, with ``changes`` applied (``video=``/``audio=`` may be dicts of fields)."""
        chosen = sample(spec) if isinstance(spec, str) else spec
        if changes:
            chosen = chosen.replace(**changes)
        if chosen not in self._made:
            self._made[chosen] = generate(chosen, self.cache)
        return self._made[chosen]

    @staticmethod
    def truth(path: Path) -> GroundTruth:
        """The ground truth of a generated file."""
        return GroundTruth.load(path)

    @property
    def names(self) -> list[str]:
        return list(SAMPLES)
