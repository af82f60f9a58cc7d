"""Video side of rendering: GOP scan, frame selection on the output timeline, splice encoders."""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass
from fractions import Fraction
from typing import TYPE_CHECKING

import av
import av.error
from av.codec.context import Flags
from av.video.frame import PictureType

from hushcut.pipeline.render import h264

if TYPE_CHECKING:
    from av.container import InputContainer
    from av.video.stream import VideoStream

    from hushcut.pipeline.timeline import Segment

#: Output video timestamps use a clock at least this fine, so that cuts landing between
#: two source frames never collapse two output frames onto one tick.
MIN_CLOCK_HZ = 90_000

#: x264 profile names for the source profiles a spliced piece can match.
X264_PROFILES = {
    "Constrained Baseline": "baseline",
    "Baseline": "baseline",
    "Main": "main",
    "High": "high",
}


class SpliceError(Exception):
    """SMART cannot splice this source after all; the caller re-renders with REENCODE."""


@dataclass
class Gop:
    """Packets from one clean random-access point up to the next, in decode order."""

    first_index: int  # decode-order index (among non-empty video packets) of its first packet
    first_pts: int  # smallest pts in the GOP, source time base
    last_pts: int  # largest pts in the GOP
    clean: bool = True  # starts at a random-access point (only a stream's first may not)


def is_idr_packet(data: bytes, length_size: int) -> bool:
    return any(
        h264.nal_type(nal) == h264.NAL_IDR for nal in h264.split_length_prefixed(data, length_size)
    )


def scan_gops(container: InputContainer, stream: VideoStream, length_size: int | None) -> list[Gop]:
    """Demux (no decoding) the video stream and find where decoding may start cleanly.

    With ``length_size`` (H.264 in avcC framing) only IDR packets start a GOP, because
    a plain I frame may open a GOP whose leading frames reference the one before.
    Without it every keyframe counts, which is what FFmpeg itself seeks to.
    """
    gops: list[Gop] = []
    index = 0
    for packet in container.demux(stream):
        if packet.size == 0 or packet.pts is None:
            continue
        pts = int(packet.pts)
        starts = packet.is_keyframe and (
            length_size is None or is_idr_packet(bytes(packet), length_size)
        )
        if starts or not gops:
            gops.append(Gop(index, pts, pts, clean=bool(starts)))
        else:
            gop = gops[-1]
            gop.first_pts = min(gop.first_pts, pts)
            gop.last_pts = max(gop.last_pts, pts)
        index += 1
    return gops


def output_clock(source_tb: Fraction) -> tuple[Fraction, int]:
    """(output time base, factor from source ticks): an exact refinement of the source's."""
    factor = max(1, math.ceil(MIN_CLOCK_HZ * source_tb))
    return source_tb / factor, factor


class FrameSelector:
    """Maps decoded source frames (in presentation order) to output frames and times.

    Speed-1 segments keep every frame whose timestamp falls inside the segment, at its
    exact offset on the output timeline, so audio and video stay aligned at every cut
    (frame starts never drift by more than the sub-frame remainder of that one cut).
    Other speeds sample the segment on an output grid of one source frame duration:
    frames are dropped (faster) or repeated (slower) as the grid requires.
    """

    def __init__(
        self,
        segments: list[Segment],
        out_starts: list[float],
        source_tb: Fraction,
        out_tb: Fraction,
        frame_ticks: int,
        total_seconds: float,
    ) -> None:
        self.segments = segments
        self._end_ticks = round(Fraction(total_seconds) / out_tb)
        self._starts = [s.start for s in segments]
        self._source_tb = source_tb
        self._out_tb = out_tb
        self._factor = int(source_tb / out_tb)
        self._frame_ticks = frame_ticks
        self.offsets = [
            round((Fraction(o) - Fraction(s.start)) / out_tb)
            for o, s in zip(out_starts, segments, strict=True)
        ]
        self._base = [round(Fraction(o) / out_tb) for o in out_starts]
        self._pending: int | None = None  # segment index of an unfinished resampled segment
        self._candidate: av.VideoFrame | None = None
        self._slot = 0

    def segment_at(self, t: float) -> int | None:
        i = bisect.bisect_right(self._starts, t) - 1
        if i >= 0 and t < self.segments[i].end:
            return i
        return None

    def out_ticks(self, segment: int, pts: int) -> int:
        return pts * self._factor + self.offsets[segment]

    def feed(self, frame: av.VideoFrame, pts: int) -> list[tuple[av.VideoFrame, int]]:
        t = float(pts * self._source_tb)
        out: list[tuple[av.VideoFrame, int]] = []
        if self._pending is not None and t >= self.segments[self._pending].end:
            out += self.flush()
        i = self.segment_at(t)
        if i is None:
            return out
        seg = self.segments[i]
        if seg.speed == 1.0:
            out.append((frame, self.out_ticks(i, pts)))
            return out
        if self._pending != i:
            self._pending, self._candidate, self._slot = i, frame, 0
        out += self._slots_before(t)
        self._candidate = frame
        return out

    def _slot_source_time(self, i: int, slot: int) -> float:
        seg = self.segments[i]
        return seg.start + float(slot * self._frame_ticks * self._out_tb) * seg.speed

    def _slot_end(self, i: int) -> int:
        return self._base[i + 1] if i + 1 < len(self._base) else self._end_ticks

    def _slots_before(self, t: float | None) -> list[tuple[av.VideoFrame, int]]:
        assert self._pending is not None
        assert self._candidate is not None
        i = self._pending
        out: list[tuple[av.VideoFrame, int]] = []
        while True:
            ticks = self._base[i] + self._slot * self._frame_ticks
            if ticks >= self._slot_end(i):
                break
            if t is not None and self._slot_source_time(i, self._slot) >= t:
                break
            out.append((self._candidate, ticks))
            self._slot += 1
        return out

    def flush(self) -> list[tuple[av.VideoFrame, int]]:
        """Finish a resampled segment whose remaining slots need no later frame."""
        if self._pending is None:
            return []
        out = self._slots_before(None)
        self._pending = self._candidate = None
        return out


def reset_picture_type(frame: av.VideoFrame) -> av.VideoFrame:
    # libx264 obeys a frame's picture type; decoded frames carry the source's I/P/B.
    frame.pict_type = PictureType.NONE
    return frame


def splice_encoder(
    template: VideoStream,
    out_tb: Fraction,
    *,
    profile: str,
    level: int,
    sps_id: int,
    preset: str,
    crf: int,
) -> av.VideoCodecContext:
    """A libx264 encoder whose pieces can sit between GOPs copied from ``template``.

    Same size, pixel format, profile and level as the source; no B-frames, so its
    packets come in presentation order and never reorder across a splice; its own
    SPS/PPS id so both parameter sets live side by side in the avcC record.
    """
    src = template.codec_context
    ctx = av.CodecContext.create("libx264", "w")
    assert isinstance(ctx, av.VideoCodecContext)
    ctx.width = src.width
    ctx.height = src.height
    ctx.pix_fmt = src.pix_fmt or "yuv420p"
    ctx.time_base = out_tb
    if template.average_rate:
        ctx.framerate = template.average_rate
    if src.sample_aspect_ratio:
        ctx.sample_aspect_ratio = src.sample_aspect_ratio
    for attr in ("color_range", "colorspace", "color_primaries", "color_trc"):
        value = getattr(src, attr, None)
        if value is not None:
            setattr(ctx, attr, value)
    ctx.flags |= Flags.global_header
    # PyAV's default (slice threads) makes x264 slice each frame: frame threads are faster.
    ctx.thread_type = "AUTO"
    if level:
        ctx.level = level
    ctx.options = {
        "preset": preset,
        "crf": str(crf),
        "profile": profile,
        "x264-params": f"bframes=0:sps-id={sps_id}:open-gop=0",
    }
    ctx.open()
    return ctx


def frame_ticks(stream: VideoStream, out_tb: Fraction) -> int:
    rate = stream.average_rate or stream.guessed_rate or Fraction(30)
    return max(1, round(1 / (Fraction(rate) * out_tb)))


def first_decodable_frame(container: InputContainer, stream: VideoStream) -> av.VideoFrame | None:
    """The first frame of ``stream``, to learn what a filter chain turns it into."""
    for packet in container.demux(stream):
        try:
            for frame in packet.decode():
                if isinstance(frame, av.VideoFrame):
                    return frame
        except av.error.InvalidDataError:
            continue
    return None
