"""Small synthetic clips of every kind of file that has cut wrong, and a strict player.

Every clip is made with PyAV in a second or two. Its video frames carry their number in
their pixels (12 black/white blocks along the top) and flash white at the markers, where
the audio beeps: a test reads back which source frame each output frame shows and where
each beep landed. The kinds (all options of ``write_clip``): any container, a start
time other than 0, odd sizes and 4:4:4, VP9 or AV1, sparse variable frame rate, several
audio tracks with the default not the first, speech with pauses.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import av
import av.error
import numpy as np

from hushcut.pipeline.timeline import Segment

FPS = 30
RATE = 48_000
#: Source times of the markers: a white video frame and a beep start together.
MARKERS = tuple(round(0.5 + 0.7 * k, 4) for k in range(16))
BLOCK = 26  # width of one bit of the frame number
OPUS = {"opus", "libopus"}


@dataclass(frozen=True)
class Track:
    """One audio track: beeps at the markers over a background.

    ``speech`` lists (start, end) stretches of talk (a -20 dBFS warble) over a -60 dBFS
    noise floor, so a detector finds the gaps between them; without it the background
    is ``background_db`` of steady tone (no pause anywhere) or quiet noise.
    """

    beep_hz: float = 1000.0
    speech: tuple[tuple[float, float], ...] = ()
    background_db: float | None = None
    language: str | None = None


@dataclass(frozen=True)
class Clip:
    """What ``write_clip`` makes; the defaults are a 12 s 320x240 H.264 + AAC MP4."""

    seconds: float = 12.0
    width: int = 320
    height: int = 240
    codec: str = "libx264"
    pix_fmt: str = "yuv420p"
    fps: int = FPS
    #: Frame times for variable frame rate (default: every 1/fps).
    frame_times: tuple[float, ...] | None = None
    #: Keyframe interval in frames (closed GOPs).
    gop: int = FPS
    bframes: bool = True
    tracks: tuple[Track, ...] = (Track(),)
    #: Position of the audio track marked default (others are not).
    default_track: int = 0
    #: Seconds added to every timestamp, as ``ffmpeg -output_ts_offset`` does.
    offset: float = 0.0
    markers: tuple[float, ...] = MARKERS
    format: str | None = None
    options: dict[str, str] = field(default_factory=dict)
    #: Container tags (a title...).
    tags: dict[str, str] = field(default_factory=dict)


def write_clip(path: Path, clip: Clip = Clip()) -> Path:
    """Write ``clip`` to ``path`` (the container from its extension unless ``format``)."""
    options = dict(clip.options)
    if path.suffix in {".mp4", ".mov"} and not clip.offset:
        options.setdefault("movflags", "+faststart")
    out = av.open(str(path), "w", format=clip.format, options=options)
    out.metadata.update(clip.tags)
    try:
        video = out.add_stream(clip.codec, rate=clip.fps)
        video.width, video.height, video.pix_fmt = clip.width, clip.height, clip.pix_fmt
        video.codec_context.time_base = Fraction(1, 1000 if clip.frame_times else clip.fps)
        video.codec_context.options = _video_options(clip)
        tracks = []
        audio_codec = "libopus" if path.suffix == ".webm" else "aac"
        for position, track in enumerate(clip.tracks):
            stream = out.add_stream(audio_codec, rate=RATE)
            stream.layout = "stereo"
            stream.disposition = (
                av.stream.Disposition.default if position == clip.default_track else 0
            )
            if track.language:
                stream.metadata["language"] = track.language
            tracks.append(stream)

        def mux(packets: list[av.Packet]) -> None:
            for packet in packets:
                if clip.offset and packet.pts is not None:
                    # time_base is the encoder's until muxed: shift in its units.
                    ticks = round(clip.offset / float(packet.time_base))
                    packet.pts += ticks
                    if packet.dts is not None:
                        packet.dts += ticks
                out.mux(packet)

        _write_video(clip, video, mux)
        for track, stream in zip(clip.tracks, tracks, strict=True):
            _write_audio(clip, track, stream, mux)
    finally:
        out.close()
    return path


def _video_options(clip: Clip) -> dict[str, str]:
    if clip.codec == "libx264":
        params = f"keyint={clip.gop}:min-keyint={clip.gop}:scenecut=0"
        if not clip.bframes:
            params += ":bframes=0"
        return {"preset": "veryfast", "crf": "28", "x264-params": params}
    if clip.codec == "libvpx-vp9":
        return {"deadline": "realtime", "cpu-used": "8", "crf": "40", "b": "0", "g": str(clip.gop)}
    if clip.codec == "libsvtav1":
        # SVT-AV1 prints its banner straight to stderr unless told otherwise.
        os.environ.setdefault("SVT_LOG", "1")
        return {"preset": "12", "crf": "45", "g": str(clip.gop)}
    return {}


@functools.cache
def _diagonal(width: int, height: int) -> np.ndarray:
    yy, xx = np.mgrid[0:height, 0:width]
    return (xx + yy).astype(np.int64)


def frame_picture(number: int, width: int, height: int, flash: bool) -> np.ndarray:
    base = ((_diagonal(width, height) + 3 * number) % 256).astype(np.uint8)
    rgb = np.stack([base, base // 2, 255 - base], -1)
    if flash:
        rgb[:] = 255
    for bit in range(12):
        rgb[0:16, bit * BLOCK : (bit + 1) * BLOCK] = 255 if (number >> bit) & 1 else 0
    return np.ascontiguousarray(rgb)


def _write_video(clip: Clip, video: av.VideoStream, mux) -> None:  # type: ignore[no-untyped-def]
    times = clip.frame_times or tuple(i / clip.fps for i in range(round(clip.seconds * clip.fps)))
    flash = {
        i for i, t in enumerate(times) if any(abs(t - m) < 0.5 / clip.fps for m in clip.markers)
    }
    tb = video.codec_context.time_base
    for number, t in enumerate(times):
        frame = av.VideoFrame.from_ndarray(
            frame_picture(number, clip.width, clip.height, number in flash), format="rgb24"
        )
        frame.pts, frame.time_base = round(t / tb), tb
        mux(video.encode(frame.reformat(format=clip.pix_fmt)))
    mux(video.encode(None))


def track_signal(clip: Clip, track: Track) -> np.ndarray:
    """The mono signal of ``track`` (both stereo channels carry it)."""
    n = int(clip.seconds * RATE)
    t = np.arange(n) / RATE
    rng = np.random.default_rng(1)
    if track.speech:
        signal = rng.standard_normal(n) * 10 ** (-60 / 20)
        for start, end in track.speech:
            a, b = round(start * RATE), round(end * RATE)
            # A warbling tone: loud like speech, no steady pitch.
            warble = np.sin(2 * np.pi * (300 * t[a:b] + 40 * np.sin(2 * np.pi * 3 * t[a:b])))
            signal[a:b] += 0.1 * np.sqrt(2) * warble
    elif track.background_db is not None:
        signal = 10 ** (track.background_db / 20) * np.sqrt(2) * np.sin(2 * np.pi * 440 * t)
    else:
        signal = rng.standard_normal(n) * 0.003
    beep = 0.5 * np.sin(2 * np.pi * track.beep_hz * np.arange(int(0.05 * RATE)) / RATE)
    for marker in clip.markers:
        start = round(marker * RATE)
        signal[start : start + beep.size] += beep[: max(0, n - start)]
    return signal.astype(np.float32)


def _write_audio(clip: Clip, track: Track, stream: av.AudioStream, mux) -> None:  # type: ignore[no-untyped-def]
    signal = track_signal(clip, track)
    stereo = np.stack([signal, signal])
    size = 960 if stream.codec_context.name == "libopus" else 1024
    for pos in range(0, signal.size, size):
        chunk = np.ascontiguousarray(stereo[:, pos : pos + size])
        frame = av.AudioFrame.from_ndarray(chunk, format="fltp", layout="stereo")
        frame.sample_rate, frame.pts, frame.time_base = RATE, pos, Fraction(1, RATE)
        mux(stream.encode(frame))
    mux(stream.encode(None))


def write_wav(path: Path, pieces: Sequence[tuple[float, float | None]], noise_db: float) -> Path:
    """A mono WAV of (seconds, level dBFS or None) pieces of warble over a noise floor."""
    rng = np.random.default_rng(3)
    parts = []
    for seconds, level in pieces:
        n = round(seconds * RATE)
        part = rng.standard_normal(n) * 10 ** (noise_db / 20)
        if level is not None:
            t = np.arange(n) / RATE
            warble = np.sin(2 * np.pi * (300 * t + 40 * np.sin(2 * np.pi * 3 * t)))
            part += 10 ** (level / 20) * np.sqrt(2) * warble
        parts.append(part)
    pcm = (np.clip(np.concatenate(parts), -1, 1) * 32767).astype("<i2").reshape(1, -1)
    with av.open(str(path), "w") as out:
        stream = out.add_stream("pcm_s16le", rate=RATE, layout="mono")
        frame = av.AudioFrame.from_ndarray(pcm, format="s16", layout="mono")
        frame.sample_rate, frame.pts, frame.time_base = RATE, 0, Fraction(1, RATE)
        for packet in [*stream.encode(frame), *stream.encode(None)]:
            out.mux(packet)
    return path


def copy_excerpt(source: Path, target: Path, start: float) -> Path:
    """What ``ffmpeg -ss START -i SOURCE -c copy TARGET`` makes: packets from the keyframe
    before ``start``, shifted so ``start`` is 0, and an edit list hiding the ones before."""
    with av.open(str(source)) as src, av.open(str(target), "w", format="mp4") as dst:
        video = src.streams.video[0]
        tb = video.time_base
        assert tb is not None
        src.seek(round(start / tb), stream=video, backward=True)
        outputs = {s.index: dst.add_stream_from_template(s) for s in src.streams}
        for packet in src.demux():
            if packet.pts is None or packet.dts is None or packet.time_base is None:
                continue
            if packet.stream.type == "audio" and packet.pts * packet.time_base < start - 0.05:
                continue
            shift = round(start / packet.time_base)
            packet.pts -= shift
            packet.dts -= shift
            packet.stream = outputs[packet.stream_index]
            dst.mux(packet)
    return target


# ------------------------------------------------------------------------------ playing


@dataclass
class Decoded:
    """What a viewer gets from a rendered file."""

    frame_times: list[float]
    frame_numbers: list[int]  # the source frame number shown by each output frame
    flashes: list[float]
    audio: np.ndarray  # mono, from output time 0 (the first audio track)
    audio_rate: int
    video_end: float
    errors: list[str]
    audio_duration: float  # as the container declares it (what ffprobe and players show)
    tracks: list[np.ndarray] = field(default_factory=list)  # every audio track, mono
    size: tuple[int, int] | None = None

    @property
    def audio_seconds(self) -> float:
        """The audio duration, checked against the samples a decoder really produces.

        AAC codes whole frames of 1024 samples; the container's timing marks the padding
        of the last one, which decoders still output, so decoded samples may exceed the
        declared duration by less than one AAC frame, never fall short of it.
        """
        decoded = self.audio.size / self.audio_rate
        assert self.audio_duration <= decoded + 1e-6 < self.audio_duration + 1024 / self.audio_rate
        return self.audio_duration


def frame_number(gray: np.ndarray) -> int:
    bits = gray[4:12, 5::BLOCK][:, :12].mean(axis=0) > 128
    return int(sum(1 << b for b, on in enumerate(bits) if on))


def decode(path: Path, *, end_slack_frames: float = 1.05) -> Decoded:
    """Decode everything strictly: bitstream errors raise, decoder log errors are kept.

    The last frame must start within ``end_slack_frames`` frames of the declared end
    (more when the source's audio outlasts its video).
    """
    times: list[float] = []
    numbers: list[int] = []
    flashes: list[float] = []
    tracks: list[np.ndarray] = []
    rate = RATE
    video_end = 0.0
    audio_duration = 0.0
    size = None
    old_level = av.logging.get_level()
    av.logging.set_level(av.logging.WARNING)
    try:
        with av.logging.Capture() as logs, av.open(str(path)) as container:
            if container.streams.video:
                stream = container.streams.video[0]
                stream.codec_context.options = {"err_detect": "crccheck+bitstream+buffer+explode"}
                # The declared duration is what players and ffprobe show; the last frame
                # must start within one frame before it.
                declared = (stream.start_time or 0) + (stream.duration or 0)
                video_end = float(declared * stream.time_base) if stream.duration else 0.0
                nominal = 1 / float(stream.average_rate or FPS)
                for frame in container.decode(stream):
                    assert not frame.is_corrupt
                    t = float(frame.pts * frame.time_base)
                    times.append(t)
                    size = (frame.width, frame.height)
                    gray = frame.to_ndarray(format="gray")
                    numbers.append(frame_number(gray))
                    if gray[40:, :].mean() > 235:
                        flashes.append(t)
                if times and stream.duration:
                    assert video_end - end_slack_frames * nominal <= times[-1] < video_end
                if not stream.duration:
                    video_end = float(container.duration or 0) / av.time_base
            for position, stream in enumerate(container.streams.audio):
                container.seek(0)
                chunks: list[np.ndarray] = []
                first: float | None = None
                for frame in container.decode(stream):
                    if first is None:
                        first = float(frame.pts * frame.time_base)
                        # Opus in Matroska: millisecond stamps and the codec's pre-skip
                        # move the first decoded frame by up to one 20 ms Opus frame.
                        slack = 0.025 if stream.codec_context.name in OPUS else 0.001
                        assert abs(first) <= 1.0 / frame.sample_rate + slack, first
                    data = frame.to_ndarray().reshape(len(frame.layout.channels), -1)[0]
                    chunks.append(data.astype(np.float32))
                tracks.append(np.concatenate(chunks) if chunks else np.zeros(0, np.float32))
                if position == 0:
                    rate = stream.codec_context.sample_rate
                    audio_duration = float((stream.duration or 0) * stream.time_base) or (
                        tracks[0].size / rate
                    )
    finally:
        av.logging.set_level(old_level)
    errors = [f"{name}: {message}" for level, name, message in logs if level <= av.logging.ERROR]
    audio = tracks[0] if tracks else np.zeros(0, dtype=np.float32)
    return Decoded(
        times, numbers, flashes, audio, rate, video_end, errors, audio_duration, tracks, size
    )


def beep_onsets(audio: np.ndarray, rate: int, level: float = 0.2) -> list[float]:
    envelope = np.abs(audio) > level
    onsets: list[float] = []
    last = -1.0
    for index in np.flatnonzero(envelope):
        t = index / rate
        if t - last > 0.2:
            onsets.append(t)
        last = t
    return onsets


def output_time(segments: list[Segment], t: float) -> float | None:
    """Where source time ``t`` lands in the output."""
    start = 0.0
    for seg in segments:
        if seg.start <= t < seg.end:
            return start + (t - seg.start) / seg.speed
        start += seg.output_duration
    return None


def shown_source_frame(segments: list[Segment], frame_times: Sequence[float], t: float) -> int:
    """The number of the source frame on screen at output time ``t`` (speed-1 timeline)."""
    start = 0.0
    for seg in segments:
        if start <= t < start + seg.output_duration:
            source_t = seg.start + (t - start) + 1e-6
            return max(i for i, ft in enumerate(frame_times) if ft <= source_t)
        start += seg.output_duration
    raise AssertionError(f"{t} is outside the output")
