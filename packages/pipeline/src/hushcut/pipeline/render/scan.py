"""One demux pass before rendering: where every video frame is, where decoding may start."""

from __future__ import annotations

import functools
from array import array
from dataclasses import dataclass, field
from fractions import Fraction
from typing import TYPE_CHECKING, Any

import av
import av.error
import numpy as np
import numpy.typing as npt

from hushcut.pipeline.render import h264

if TYPE_CHECKING:
    from av.audio.stream import AudioStream
    from av.container import InputContainer
    from av.packet import Packet
    from av.video.stream import VideoStream


@dataclass
class VideoIndex:
    """The video packets in decode order (only those that carry a frame), as arrays.

    ``random_access`` marks where decoding can start cleanly: IDR pictures for H.264
    (a plain I frame may open a GOP whose leading frames reference the one before),
    keyframes for other codecs. ``shown`` is 0 for frames an edit list hides (a
    ``-c copy`` excerpt starting off a keyframe keeps them as references only).
    ``disposable`` is 1 for pictures no other picture references (H.264
    ``nal_ref_idc`` 0: most B-frames): when not shown they need not be decoded at all.
    Numpy arrays: an hour of 30 fps video costs about 2 MB.
    """

    time_base: Fraction
    pts: npt.NDArray[np.int64]
    random_access: npt.NDArray[np.uint8]
    shown: npt.NDArray[np.uint8]
    disposable: npt.NDArray[np.uint8]
    #: Largest presentation delay (pts - dts) in ticks: how far B-frames reorder.
    delay: int = 0
    #: H.264: NAL framing of the packets (avcC length size; None for Annex B start codes).
    length_size: int | None = None
    #: H.264: SPS and PPS NAL units found in-band at random-access points.
    parameter_sets: list[bytes] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.pts)

    @functools.cached_property
    def times(self) -> npt.NDArray[np.float64]:
        """Seconds of every packet's timestamp."""
        return (self.pts * self.time_base.numerator) / self.time_base.denominator

    @functools.cached_property
    def shown_times(self) -> npt.NDArray[np.float64]:
        """Presentation times of the frames a player shows, ascending, each once."""
        return np.unique(self.times[self.shown.astype(bool)])

    def frame_before(self, t: float) -> float | None:
        """The time of the last shown frame starting before ``t``."""
        at = int(np.searchsorted(self.shown_times, t, side="left"))
        return float(self.shown_times[at - 1]) if at > 0 else None

    def frame_at_or_after(self, t: float) -> float | None:
        at = int(np.searchsorted(self.shown_times, t, side="left"))
        return float(self.shown_times[at]) if at < len(self.shown_times) else None


@dataclass
class SourceScan:
    """What the renderer learns from demuxing the source once (no decoding)."""

    #: The container's start time (s): timeline time 0 is this source time.
    start: float
    video: VideoIndex | None
    #: Where each scanned stream's data ends (source seconds, by stream index).
    ends: dict[int, float]
    #: The video's first decodable frame, when asked for (what a re-encode starts from).
    first_frame: av.VideoFrame | None = field(default=None, repr=False)

    @property
    def end(self) -> float:
        return max(self.ends.values(), default=self.start)


def scan_source(
    container: InputContainer,
    video: VideoStream | None,
    audio: list[AudioStream],
    *,
    first_frame: bool = False,
) -> SourceScan:
    """Index ``container``'s packets of ``video`` and ``audio``, demuxing only.

    With ``first_frame``, the video packets are also decoded until the first frame comes
    out (packets that fail to decode skipped): a re-encode learns the picture it starts
    from without reading the source again.
    """
    start = float(container.start_time or 0) / av.time_base
    pts = array("q")
    random_access, shown, disposable = bytearray(), bytearray(), bytearray()
    parameter_sets: list[bytes] = []
    length_size: int | None = None
    is_h264 = video is not None and video.codec_context.name == "h264"
    if video is not None and is_h264:
        extradata = bytes(video.codec_context.extradata or b"")
        if extradata and not h264.is_annexb(extradata):
            try:
                length_size = h264.AvcConfig.parse(extradata).length_size
            except ValueError:
                length_size = None
        elif extradata:
            parameter_sets.extend(_parameter_sets(h264.split_annexb(extradata)))
    ends: dict[int, float] = {}
    delay = 0
    seen_sets: set[bytes] = set(parameter_sets)
    streams = [s for s in (video, *audio) if s is not None]
    time_bases = {s.index: float(s.time_base or 0) for s in streams}
    video_index = video.index if video is not None else -1
    first = _FirstFrame() if first_frame and video is not None else None
    try:
        for packet in container.demux(streams):
            if first is not None and packet.stream_index == video_index:
                first.decode(packet)
            if packet.pts is None or packet.size == 0:
                continue
            stream_index = packet.stream_index
            tb = time_bases[stream_index]
            end = (packet.pts + (packet.duration or 0)) * tb
            if end > ends.get(stream_index, float("-inf")):
                ends[stream_index] = end
            if stream_index != video_index:
                continue
            pts.append(packet.pts)
            shown.append(0 if packet.is_discard else 1)
            if packet.dts is not None and packet.pts - packet.dts > delay:
                delay = packet.pts - packet.dts
            clean = bool(packet.is_keyframe)
            unreferenced = False
            if is_h264:
                nals = h264.split_nals(bytes(packet), length_size)
                unreferenced = not h264.is_reference(nals)
                if clean:
                    clean = any(h264.nal_type(n) == h264.NAL_IDR for n in nals)
                    for nal in _parameter_sets(nals):
                        if nal not in seen_sets:
                            seen_sets.add(nal)
                            parameter_sets.append(nal)
            random_access.append(1 if clean else 0)
            disposable.append(1 if unreferenced else 0)
    except av.error.EOFError:
        pass
    index: VideoIndex | None = None
    if video is not None:
        index = VideoIndex(
            time_base=video.time_base or Fraction(1, 90_000),
            pts=np.frombuffer(pts, dtype=np.int64),
            random_access=np.frombuffer(random_access, dtype=np.uint8),
            shown=np.frombuffer(shown, dtype=np.uint8),
            disposable=np.frombuffer(disposable, dtype=np.uint8),
            delay=int(delay),
            length_size=length_size,
            parameter_sets=parameter_sets,
        )
    frame = first.frame if first is not None else None
    return SourceScan(start=start, video=index, ends=ends, first_frame=frame)


def first_decodable_frame(container: InputContainer, stream: VideoStream) -> av.VideoFrame | None:
    """The first frame of ``stream``, demuxing it alone (``scan_source`` finds it on its way)."""
    first = _FirstFrame()
    for packet in container.demux(stream):
        if first.decode(packet):
            break
    return first.frame


class _FirstFrame:
    """Decodes the video packets fed to it (the empty one at the end flushes the decoder)
    until the first picture comes out; packets that fail to decode are skipped."""

    def __init__(self) -> None:
        self.frame: av.VideoFrame | None = None
        self._done = False

    def decode(self, packet: Packet[Any]) -> bool:
        """Decode ``packet`` unless done; whether it is done now."""
        if self._done:
            return True
        try:
            frames = packet.decode()
        except av.error.InvalidDataError:
            return False
        except av.error.EOFError:
            # Flushed by an empty packet before any picture: none will come (and the
            # scan around this must not take the decoder's end for the file's).
            self._done = True
            return True
        self.frame = next((f for f in frames if isinstance(f, av.VideoFrame)), None)
        self._done = self.frame is not None
        return self._done


def _parameter_sets(nals: list[bytes]) -> list[bytes]:
    return [n for n in nals if n and h264.nal_type(n) in (h264.NAL_SPS, h264.NAL_PPS)]
