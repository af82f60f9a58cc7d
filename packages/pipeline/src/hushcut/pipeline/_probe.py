"""Probing media: streams, durations, codecs, time bases and keyframes, read by demuxing only."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import av.container

from hushcut.pipeline.errors import MediaError, NoAudioError, OptionsError

# A stream whose packets end this much before the duration its header declares was cut
# short (a partial upload, an interrupted copy). Smaller shortfalls are normal: the last
# packet's duration is often missing or the header rounds.
TRUNCATION_TOLERANCE_S = 1.0
TRUNCATION_TOLERANCE_FRACTION = 0.02
# FFmpeg renders plain text files as video through its "tty" (ANSI art) demuxer.
TEXT_FORMATS = frozenset({"tty"})


@dataclass(frozen=True)
class StreamInfo:
    """One stream of the container. Fields that do not apply to its type are ``None``."""

    index: int
    type: str
    codec: str
    time_base: Fraction | None
    duration: float | None
    # video
    width: int | None = None
    height: int | None = None
    fps: float | None = None
    pixel_format: str | None = None
    #: A still picture (cover art) stored as a video stream; never the video to cut.
    attached_picture: bool = False
    # audio
    sample_rate: int | None = None
    channels: int | None = None
    layout: str | None = None
    sample_format: str | None = None


@dataclass(frozen=True)
class MediaInfo:
    """What a file holds. Times are seconds from the start of the file as players show it."""

    path: Path
    format_name: str
    duration: float
    streams: tuple[StreamInfo, ...]
    #: The audio stream silences are detected in: the container's default audio stream, or
    #: the one chosen with ``audio_track``.
    audio: StreamInfo
    #: The main video stream; ``None`` for audio-only inputs. Cover images never count.
    video: StreamInfo | None
    #: Presentation times of the main video's keyframes, ascending (empty without video).
    keyframes: tuple[float, ...] = field(default=())
    #: The container's start time in seconds; stream times are shifted by it to start at 0.
    start_time: float = 0.0
    bit_rate: int | None = None

    @property
    def has_video(self) -> bool:
        return self.video is not None

    @property
    def audio_streams(self) -> tuple[StreamInfo, ...]:
        """Every audio stream, in container order (``audio_track`` counts in this list)."""
        return tuple(s for s in self.streams if s.type == "audio")

    def to_dict(self, *, keyframes: bool = False) -> dict[str, Any]:
        """A JSON-serialisable copy (time bases as ``"1/90000"``; ``keyframes`` only when
        asked: they grow with the recording), e.g. to export a timeline later without
        the file: :meth:`from_dict` reads it back."""
        data = dataclasses.asdict(self)
        data["path"] = str(self.path)
        data["keyframes"] = list(self.keyframes) if keyframes else []
        for stream in (data["audio"], data["video"], *data["streams"]):
            if stream is not None and stream["time_base"] is not None:
                stream["time_base"] = str(stream["time_base"])
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> MediaInfo:
        """The MediaInfo :meth:`to_dict` wrote."""

        def stream(item: dict[str, Any]) -> StreamInfo:
            time_base = item.get("time_base")
            return StreamInfo(
                **{**item, "time_base": Fraction(time_base) if time_base is not None else None}
            )

        return cls(
            **{
                **data,
                "path": Path(data["path"]),
                "streams": tuple(stream(item) for item in data["streams"]),
                "audio": stream(data["audio"]),
                "video": stream(data["video"]) if data.get("video") else None,
                "keyframes": tuple(data.get("keyframes") or ()),
            }
        )


@contextmanager
def open_media(path: Path, *, for_render: bool = False) -> Iterator[av.container.InputContainer]:
    """Open ``path`` for reading, turning FFmpeg's failures into a one-line MediaError.

    The one way the pipeline opens its input (probe, audio decoding, rendering).
    ``for_render`` keeps the renderer's own wording for a file FFmpeg cannot open ("not
    readable media") and lets it read what FFmpeg reads: before a render, the probe has
    refused text files already. Tags that are not UTF-8 (Latin-1 titles from older
    tools) are read with U+FFFD in place of what cannot be decoded: a title never makes
    a recording unreadable.
    """
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file")
    if path.is_dir():
        raise MediaError(f"{path.name} is a directory, not a media file")
    try:
        container = av.open(str(path), mode="r", metadata_errors="replace")
    except av.error.FFmpegError as exc:
        if for_render:
            raise MediaError(f"{path.name}: not readable media ({exc})") from exc
        if isinstance(exc, av.error.InvalidDataError):
            raise MediaError(
                f"{path.name} cannot be read as media: it is not a media file, or it is "
                f"truncated or corrupt (FFmpeg: {_reason(exc)})"
            ) from exc
        raise MediaError(f"{path.name} cannot be opened: {_reason(exc)}") from exc
    try:
        if not for_render and container.format.name in TEXT_FORMATS:
            raise MediaError(f"{path.name} is a text file, not audio or video")
        yield container
    finally:
        container.close()


def probe(path: str | Path, *, keyframes: bool = True, audio_track: int | None = None) -> MediaInfo:
    """Describe the media file at ``path``.

    Only the container is read (no decoding), so this is fast even on long inputs. With
    ``keyframes`` the packets are scanned once to list the video's keyframes and to check
    that the file is complete. ``audio_track`` picks the audio stream to analyse by its
    position among the audio streams (0 is the first, as in ffmpeg's ``-map 0:a:0``);
    None takes the container's default one.

    Times are relative to the file's start (``start_time``): an MPEG-TS recording whose
    clock starts at 1.4 s, or a file muxed with a timestamp offset, starts at 0 here.

    Raises MediaError for files that are not media, are truncated or corrupt,
    NoAudioError for inputs without an audio stream and OptionsError for an
    ``audio_track`` the file does not have.
    """
    path = Path(path)
    with open_media(path) as container:
        start = _seconds(container.start_time, Fraction(1, av.time_base)) or 0.0
        streams = tuple(_stream_info(s) for s in container.streams)
        audio = _pick_audio(path, container, streams, audio_track)
        video_streams = [s for s in container.streams.video if not _is_attached_picture(s)]
        video = _pick(video_streams, streams)
        if audio is None:
            kind = "video" if video is not None else "file"
            raise NoAudioError(
                f"{path.name} is a {kind} with no audio track: "
                "there is no speech to find silences in"
            )
        duration = _container_duration(container, start)
        keyframe_times: tuple[float, ...] = ()
        if keyframes:
            keyframe_times, ends = _scan_packets(path, container, video, audio, start)
            duration = check_complete(path, duration, ends)
        if not duration or duration <= 0 or not math.isfinite(duration):
            raise MediaError(f"{path.name} has no playable duration (empty or corrupt file)")
        return MediaInfo(
            path=path,
            format_name=container.format.name,
            duration=duration,
            streams=streams,
            audio=audio,
            video=video,
            keyframes=keyframe_times,
            start_time=start,
            bit_rate=container.bit_rate or None,
        )


def _reason(exc: BaseException) -> str:
    """FFmpeg's own wording without the file name it repeats."""
    message = getattr(exc, "strerror", None) or str(exc)
    return str(message).splitlines()[0] if message else type(exc).__name__


def _seconds(value: int | None, time_base: Fraction | None) -> float | None:
    if value is None or time_base is None:
        return None
    return float(value * time_base)


def _is_attached_picture(stream: Any) -> bool:
    return bool(stream.disposition & av.stream.Disposition.attached_pic)


def _stream_info(stream: Any) -> StreamInfo:
    codec_context = stream.codec_context
    # The codec ("av1"), not the decoder FFmpeg picked for it ("libdav1d").
    codec = (
        getattr(codec_context.codec, "canonical_name", None) or codec_context.name
        if codec_context is not None
        else "unknown"
    )
    common: dict[str, Any] = {
        "index": stream.index,
        "type": stream.type,
        "codec": codec,
        "time_base": stream.time_base,
        "duration": _seconds(stream.duration, stream.time_base),
    }
    if stream.type == "video":
        rate = stream.average_rate or stream.guessed_rate
        return StreamInfo(
            **common,
            width=codec_context.width or None,
            height=codec_context.height or None,
            fps=float(rate) if rate else None,
            pixel_format=codec_context.format.name if codec_context.format else None,
            attached_picture=_is_attached_picture(stream),
        )
    if stream.type == "audio":
        return StreamInfo(
            **common,
            sample_rate=codec_context.sample_rate or None,
            channels=codec_context.channels or None,
            layout=codec_context.layout.name if codec_context.layout else None,
            sample_format=codec_context.format.name if codec_context.format else None,
        )
    return StreamInfo(**common)


def _pick_audio(
    path: Path,
    container: av.container.InputContainer,
    infos: tuple[StreamInfo, ...],
    track: int | None,
) -> StreamInfo | None:
    """The audio stream to analyse: position ``track`` among the audio streams, or the default."""
    candidates = list(container.streams.audio)
    if track is None or not candidates:
        return _pick(candidates, infos)
    if not 0 <= track < len(candidates):
        have = (
            "only one audio track (0)"
            if len(candidates) == 1
            else f"{len(candidates)} audio tracks (0-{len(candidates) - 1})"
        )
        raise OptionsError(f"audio track {track} does not exist: {path.name} has {have}")
    return infos[candidates[track].index]


def _pick(candidates: Any, infos: tuple[StreamInfo, ...]) -> StreamInfo | None:
    """The default stream among ``candidates`` (FFmpeg's choice), else the first."""
    candidates = list(candidates)
    if not candidates:
        return None
    chosen = next(
        (s for s in candidates if s.disposition & av.stream.Disposition.default), candidates[0]
    )
    index: int = chosen.index
    return infos[index]


def _container_duration(container: av.container.InputContainer, start: float) -> float:
    """The duration the headers declare, measured from the file's start (``start``).

    Headers disagree on where they count from: Matroska's segment duration and MP4's
    movie duration run from time 0, so a file muxed with a 5 s offset declares 5 s more
    than it holds, while FFmpeg measures MPEG-TS from its first timestamp. Stream
    durations (MP4) are exact when present; Matroska's is an end time.
    """
    ends = [
        _seconds(s.start_time, s.time_base) + _seconds(s.duration, s.time_base)  # type: ignore[operator]
        for s in container.streams
        if s.type in {"audio", "video"}
        and s.duration
        and s.start_time is not None
        and s.time_base is not None
        and not _is_attached_picture(s)
    ]
    if ends:
        return max(ends) - start
    if container.duration is None or container.duration <= 0:
        return 0.0
    declared = container.duration / av.time_base
    if container.format.name.startswith("matroska"):
        return declared - start
    return declared


def _scan_packets(
    path: Path,
    container: av.container.InputContainer,
    video: StreamInfo | None,
    audio: StreamInfo,
    start: float,
) -> tuple[tuple[float, ...], dict[int, float]]:
    """Demux every packet once: keyframe times of the video, where each stream really ends."""
    wanted = [container.streams[audio.index]]
    if video is not None:
        wanted.append(container.streams[video.index])
    # Times from integer pts and float time bases: a Fraction per packet is slow.
    time_bases = {s.index: float(s.time_base) for s in wanted if s.time_base}
    keyframes: list[float] = []
    ends: dict[int, float] = {}
    video_index = video.index if video is not None else -1
    try:
        for packet in container.demux(wanted):
            index = packet.stream_index
            time_base = time_bases.get(index)
            if packet.pts is None or time_base is None:
                continue
            time = packet.pts * time_base - start
            end = time + (packet.duration or 0) * time_base
            if end > ends.get(index, -math.inf):
                ends[index] = end
            if index == video_index and packet.is_keyframe:
                keyframes.append(time)
    except av.error.EOFError:
        pass
    except av.error.FFmpegError as exc:
        raise MediaError(f"{path.name} is corrupt: {_reason(exc)}") from exc
    return tuple(sorted(set(keyframes))), ends


def check_complete(path: Path, duration: float, ends: dict[int, float]) -> float:
    """The playable duration; MediaError when the data stops well before the header says."""
    if not ends:
        raise MediaError(f"{path.name} contains no audio or video data (truncated or empty file)")
    reached = max(ends.values())
    if duration <= 0:
        return reached
    shortfall = duration - reached
    if shortfall > max(TRUNCATION_TOLERANCE_S, TRUNCATION_TOLERANCE_FRACTION * duration):
        raise MediaError(
            f"{path.name} is truncated: its data stops at {reached:.1f} s "
            f"but its header says {duration:.1f} s"
        )
    return duration
