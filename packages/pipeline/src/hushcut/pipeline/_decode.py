"""The one demux + decode loop over the analysed audio stream, shared by every reader of it.

The built-in detector (``_detect``), the waveform measured on its own
(``_analyze``) and plugin detectors (``audio_frames`` / ``audio_samples``) all decode
``media.audio`` through :func:`decoded_audio`, so damaged packets are skipped, and a
damaged or undecodable stream refused, the same way whoever reads it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import av
import av.error

from hushcut.pipeline._probe import MediaInfo, open_media
from hushcut.pipeline.errors import MediaError

#: A few undecodable audio packets are skipped; more than this many, and more than this
#: fraction of all, make the input too damaged to trust.
MAX_DAMAGED_PACKETS = 3
MAX_DAMAGED_FRACTION = 0.05


def decoded_audio(path: Path, media: MediaInfo) -> Iterator[av.AudioFrame]:
    """The decoded frames of ``media.audio``, in order, as the decoder makes them.

    Packets that fail to decode are skipped, like players do (their frames are simply
    missing); MediaError when more than a few (and more than 5 %) are damaged, or when
    the stream cannot be decoded at all. Times are the stream's own (``frame.pts``):
    subtract ``media.start_time`` for times as players show them. Streaming: one
    container open for the whole pass, nothing kept between frames.
    """
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
                yield from frames
        except av.error.EOFError:
            pass
        except av.error.FFmpegError as exc:
            raise undecodable(path, exc) from exc
        if damaged > max(MAX_DAMAGED_PACKETS, MAX_DAMAGED_FRACTION * packets):
            raise MediaError(
                f"{path.name} is corrupt: {damaged} of {packets} audio packets cannot be decoded"
            )


def undecodable(path: Path, exc: av.error.FFmpegError) -> MediaError:
    """The error for audio FFmpeg fails to decode (or to convert on the way)."""
    return MediaError(f"{path.name}: audio cannot be decoded ({exc})")
