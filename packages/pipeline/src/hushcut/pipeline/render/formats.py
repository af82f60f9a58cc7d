"""Output containers: the file name's extension picks the container and the codecs in it."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from hushcut.pipeline.errors import OptionsError


@dataclass(frozen=True)
class OutputFormat:
    """How an output file is written: FFmpeg muxer, codecs, muxer options."""

    name: str
    muxer: str
    #: Video codec: ``"h264"`` (copied or x264), ``"vp9"`` (libvpx); None for containers
    #: meant for audio alone (a video source's picture is left out).
    video: str | None
    #: FFmpeg encoder of the audio; ``"pcm"`` keeps a PCM source's sample format.
    audio: str
    options: dict[str, str] = field(default_factory=dict)

    @property
    def holds_video(self) -> bool:
        return self.video is not None


_FASTSTART = {"movflags": "+faststart"}
_MP4 = OutputFormat("MP4", "mp4", "h264", "aac", _FASTSTART)

#: Extension -> format. Video containers hold H.264 + AAC (WebM: VP9 + Opus, the only
#: codecs it allows that we encode); audio containers hold their own usual codec.
FORMATS: dict[str, OutputFormat] = {
    ".mp4": _MP4,
    ".m4v": _MP4,
    ".mov": OutputFormat("QuickTime", "mov", "h264", "aac", _FASTSTART),
    ".mkv": OutputFormat("Matroska", "matroska", "h264", "aac"),
    ".webm": OutputFormat("WebM", "webm", "vp9", "libopus"),
    ".m4a": OutputFormat("M4A", "ipod", None, "aac", _FASTSTART),
    ".mka": OutputFormat("Matroska audio", "matroska", None, "aac"),
    ".aac": OutputFormat("AAC", "adts", None, "aac"),
    ".mp3": OutputFormat("MP3", "mp3", None, "libmp3lame"),
    ".wav": OutputFormat("WAV", "wav", None, "pcm"),
    ".flac": OutputFormat("FLAC", "flac", None, "flac"),
    ".ogg": OutputFormat("Ogg", "ogg", None, "libopus"),
    ".opus": OutputFormat("Opus", "ogg", None, "libopus"),
}

AUDIO_SUFFIXES = tuple(s for s, f in FORMATS.items() if not f.holds_video)


def output_format(path: Path) -> OutputFormat:
    """The format ``path``'s extension asks for; OptionsError for one we cannot write."""
    suffix = path.suffix.lower()
    try:
        return FORMATS[suffix]
    except KeyError:
        what = f"a {suffix} file" if suffix else "a file without an extension"
        raise OptionsError(
            f"cannot write {what} ({path.name}): name the output .mp4, .mov, .mkv or "
            f".webm for video, or {', '.join(AUDIO_SUFFIXES)} for audio"
        ) from None


def default_suffix(source: Path, *, audio_only: bool) -> str:
    """The output extension when none is given: video becomes MP4, audio keeps its own
    container when we can write it (M4A otherwise)."""
    if not audio_only:
        return ".mp4"
    suffix = source.suffix.lower()
    return suffix if suffix in FORMATS else ".m4a"
