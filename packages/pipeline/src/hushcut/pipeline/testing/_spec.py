"""What to generate: a talk's parameters, as frozen dataclasses that key the cache.

Every field enters the cache key (with the generator's version), so a new kind of media is
a new field with a default: existing media keep their meaning, and a file made with the
new field set is a different file. ``dataclasses.replace`` makes variants.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Literal

#: Bumped whenever the same spec would produce different bytes or ground truth.
GENERATOR_VERSION = 1

Voice = Literal["auto", "espeak", "synth"]

#: Containers whose format keeps an attached picture as a stream (cover art).
COVER_ART_CONTAINERS = frozenset({"mp4", "mov", "m4a"})
#: Subtitle codec per container, for ``MediaSpec.subtitles``.
SUBTITLE_CODECS = {"mp4": "mov_text", "mov": "mov_text", "mkv": "subrip", "webm": "webvtt"}


@dataclass(frozen=True)
class VideoSpec:
    """The picture: a moving gradient with each frame's number drawn in its top row."""

    width: int = 640
    height: int = 360
    #: Frames per second: an int, or a string such as ``"30000/1001"``.
    fps: int | str = 30
    #: Encoder name as FFmpeg knows it: libx264, libx265, mpeg4, libvpx-vp9, mjpeg, ...
    codec: str = "libx264"
    pix_fmt: str = "yuv420p"
    #: Keyframe interval in frames (closed GOPs, no scene-cut keyframes); None: encoder default.
    gop: int | None = 250
    #: x264/x265 preset (B-frames from ``veryfast`` on; ``ultrafast`` has none).
    preset: str = "veryfast"
    crf: int = 23
    #: Further encoder options, e.g. ``(("bf", "0"),)``.
    options: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class AudioSpec:
    """The sound track's encoding; the signal itself is set by :class:`MediaSpec`."""

    #: Encoder name: aac, libmp3lame, libopus, flac, pcm_s16le, pcm_s32le, ...
    codec: str = "aac"
    sample_rate: int = 48_000
    #: Channel layout: mono, stereo, 5.1, ... (every channel carries the same signal).
    layout: str = "stereo"
    #: Bits per second for lossy codecs; None: the encoder's default.
    bitrate: int | None = 128_000


@dataclass(frozen=True)
class MediaSpec:
    """A talk: sentences with pauses of known length between them, over a noise floor.

    Speech is espeak-ng reading one sentence at a time (``voice="espeak"``) or, without
    espeak-ng, a synthesized voice (``"synth"``); ``"auto"`` picks espeak-ng when it is
    installed. Pauses between sentences are drawn from a triangular distribution over
    ``[pause_min, pause_max]`` (longer at paragraph breaks), plus a lead-in and a tail;
    the file lasts exactly ``duration`` seconds. Pink noise at ``noise_dbfs`` RMS lies
    under everything (None: digital silence between sentences).
    """

    duration: float = 60.0
    seed: int = 1
    pause_min: float = 0.3
    pause_max: float = 3.0
    noise_dbfs: float | None = -50.0
    speech_peak_dbfs: float = -3.0
    voice: Voice = "auto"
    #: File extension, which names the container: mp4, mkv, mov, webm, m4a, mp3, wav, ...
    container: str = "mp4"
    #: None: audio only.
    video: VideoSpec | None = field(default_factory=VideoSpec)
    #: None: video only (the ground truth still lists the pauses that were planned).
    audio: AudioSpec | None = field(default_factory=AudioSpec)
    #: A subtitle track with one cue per sentence (mov_text, subrip or webvtt).
    subtitles: bool = False
    #: A still image as a second video stream with the attached-picture disposition.
    cover_art: bool = False

    def __post_init__(self) -> None:
        if self.video is None and self.audio is None:
            raise ValueError("a MediaSpec needs video, audio or both")
        if not 0 < self.pause_min <= self.pause_max:
            raise ValueError("need 0 < pause_min <= pause_max")
        if self.duration < 1.0:
            raise ValueError("duration must be at least 1 s")
        if self.cover_art and self.container not in COVER_ART_CONTAINERS:
            raise ValueError(f"cover art needs one of {sorted(COVER_ART_CONTAINERS)}")
        if self.subtitles and self.container not in SUBTITLE_CODECS:
            raise ValueError(f"subtitles need one of {sorted(SUBTITLE_CODECS)}")

    def replace(self, **changes: Any) -> MediaSpec:
        """A copy with ``changes``; ``video=``/``audio=`` may be dicts of their fields."""
        for name, kind in (("video", VideoSpec), ("audio", AudioSpec)):
            value = changes.get(name)
            if isinstance(value, dict):
                base = getattr(self, name) or kind()
                changes[name] = replace(base, **value)
        return replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def key(self, voice: str) -> str:
        """Cache key: this spec, the voice actually used, and the generator's version."""
        data = {"generator": GENERATOR_VERSION, "spec": self.to_dict(), "voice": voice}
        text = json.dumps(data, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def stem(self, voice: str) -> str:
        """The file name without extension: readable kind and length, then the key."""
        kind = "talk" if self.video and self.audio else "audio" if self.audio else "video"
        return f"{kind}-{self.duration:g}s-{self.key(voice)}"


#: The talk most tests use: 60 s, 640x360 H.264 (B-frames, 8.3 s GOPs) + AAC stereo.
TALK = MediaSpec()

#: A short clip of each kind a user uploads; the names read like file names.
_SHORT = MediaSpec(duration=4.0, seed=2, pause_min=0.6, pause_max=1.2)
_SMALL_VIDEO = VideoSpec(width=320, height=180, gop=30, preset="ultrafast")

SAMPLES: dict[str, MediaSpec] = {
    "talk": TALK,
    "short.mp4": _SHORT.replace(video=_SMALL_VIDEO),
    "short.mkv": _SHORT.replace(video=_SMALL_VIDEO, container="mkv"),
    "hevc.mp4": _SHORT.replace(video=VideoSpec(width=320, height=180, codec="libx265", gop=30)),
    "subtitles.mp4": _SHORT.replace(video=_SMALL_VIDEO, subtitles=True),
    "cover-art.mp4": _SHORT.replace(video=_SMALL_VIDEO, cover_art=True),
    "video-only.mp4": _SHORT.replace(video=_SMALL_VIDEO, audio=None),
    "aac.m4a": _SHORT.replace(
        duration=6.0,
        container="m4a",
        video=None,
        audio=AudioSpec(sample_rate=16_000, layout="mono"),
    ),
    "mono.mp3": _SHORT.replace(
        duration=6.0,
        container="mp3",
        video=None,
        audio=AudioSpec(codec="libmp3lame", sample_rate=16_000, layout="mono", bitrate=64_000),
    ),
    "pcm-s32le.wav": _SHORT.replace(
        duration=6.0,
        container="wav",
        video=None,
        audio=AudioSpec(codec="pcm_s32le", sample_rate=16_000, layout="mono", bitrate=None),
    ),
    "pcm-s16le.wav": MediaSpec(
        duration=16.0,
        seed=3,
        container="wav",
        video=None,
        audio=AudioSpec(codec="pcm_s16le", bitrate=None),
    ),
}
