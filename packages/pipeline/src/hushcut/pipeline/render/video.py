"""Video side of rendering: cut snapping, the copy/decode plan, frame selection, encoders."""

from __future__ import annotations

import bisect
import itertools
import math
from array import array
from dataclasses import dataclass, field
from fractions import Fraction
from typing import TYPE_CHECKING

import av
import av.error
from av.codec.context import Flags
from av.video.frame import PictureType

from hushcut.pipeline.timeline import Segment

if TYPE_CHECKING:
    from av.container import InputContainer
    from av.video.stream import VideoStream

    from hushcut.pipeline.render.scan import VideoIndex

#: Output video timestamps use a clock at least this fine, so that cuts landing between
#: two source frames never collapse two output frames onto one tick.
MIN_CLOCK_HZ = 90_000

#: Frames closer together than this (s) make a frame rate (10 fps and more): a cut
#: snaps to the nearest frame start, so every output frame lasts a whole source frame
#: (no 10 ms slivers at cuts) and audio is cut at the same instant as the video.
SNAP_MAX_INTERVAL_S = 0.1
#: A segment whose first frame comes later than this after its start (sparse video:
#: slides, a frame every few seconds) opens with the frame on screen at its start.
CARRY_MIN_GAP_S = 0.02

#: x264 profile names for the source profiles a spliced piece can match.
X264_PROFILES = {
    "Constrained Baseline": "baseline",
    "Baseline": "baseline",
    "Main": "main",
    "High": "high",
}

#: What the render does with each source video packet.
SKIP, DECODE, COPY, COPY_DECODE = 0, 1, 2, 3


class SpliceError(Exception):
    """SMART cannot splice this source after all; the caller re-renders with REENCODE."""


def output_clock(source_tb: Fraction) -> tuple[Fraction, int]:
    """(output time base, factor from source ticks): an exact refinement of the source's."""
    factor = max(1, math.ceil(MIN_CLOCK_HZ * source_tb))
    return source_tb / factor, factor


def snap_segments(segments: list[Segment], index: VideoIndex | None) -> list[Segment]:
    """``segments`` with each cut moved to the nearest frame start (see SNAP_MAX_INTERVAL_S).

    Cuts move by at most half a frame; in sparse video (frames further apart) they stay.
    Segments that snap to nothing (shorter than half a frame) are dropped.
    """
    if index is None or not index.shown_times:
        return segments
    times = index.shown_times
    snapped: list[Segment] = []
    for seg in segments:
        start, end = _snap(seg.start, times), _snap(seg.end, times)
        if end > start:
            snapped.append(Segment(start, end, seg.speed))
    return snapped


def _snap(t: float, times: list[float]) -> float:
    at = bisect.bisect_left(times, t)
    if at == 0 or at == len(times) or times[at] == t:
        return t
    before, after = times[at - 1], times[at]
    if after - before > SNAP_MAX_INTERVAL_S:
        return t
    return before if t - before <= after - t else after


class SegmentLookup:
    """Which segment a source time falls in (segments are ordered and disjoint)."""

    def __init__(self, segments: list[Segment]) -> None:
        self.segments = segments
        self._starts = [s.start for s in segments]

    def __call__(self, t: float) -> int | None:
        i = bisect.bisect_right(self._starts, t) - 1
        if i >= 0 and t < self.segments[i].end:
            return i
        return None


@dataclass
class VideoPlan:
    """Per source packet (decode order): copy it, decode it, both, or skip it."""

    action: bytearray
    #: For copied packets, the segment whose output offset they take; -1 otherwise.
    copy_segment: array[int]
    #: pts of frames both copied and decoded (decoded as references for later frames
    #: of their GOP): the decoder's copy of them is not encoded again.
    copied_and_decoded: set[int] = field(default_factory=set)
    #: pts of a frame -> the segments it opens because none of their own frames starts
    #: at their start (sparse video).
    carry: dict[int, list[int]] = field(default_factory=dict)
    copied_frames: int = 0


def plan_video(
    index: VideoIndex, segments: list[Segment], *, copy: bool, open_gops: bool
) -> VideoPlan:
    """Decide, per packet, how the render treats the video.

    With ``copy`` (SMART), each GOP that starts inside a normal-speed segment is
    stream-copied from its first packet for as long as its frames, in decode order, all
    belong to that segment: a whole GOP when the segment runs past it, and at a cut-out
    every frame up to the cut except those that B-frame reordering places after a
    frame beyond it. Everything else that is kept is decoded and encoded: from a cut-in
    to the next GOP, the reordered frames before a cut-out, speed-changed segments.
    Decoding starts at the GOP (``open_gops``: the GOP before it, for codecs whose
    keyframes may open GOPs that reference the previous one) and stops after the last
    frame needed from it; on the way, pictures no other references (``disposable``)
    are decoded only when they are needed themselves.
    """
    n = len(index)
    times = [index.time(p) for p in index.pts]
    lookup = SegmentLookup(segments)
    action = bytearray(n)
    copy_segment = array("i", [-1]) * n
    gop_starts = [k for k in range(n) if index.random_access[k]]
    if not gop_starts or gop_starts[0] != 0:
        gop_starts.insert(0, 0)
    gop_ends = [*gop_starts[1:], n]
    plan = VideoPlan(action=action, copy_segment=copy_segment)

    if copy:
        for s, e in zip(gop_starts, gop_ends, strict=True):
            if index.random_access[s] and all(index.shown[s:e]):
                _plan_copy(s, e, times, lookup, segments, plan)

    needed = bytearray(n)
    for k in range(n):
        if index.shown[k] and action[k] != COPY and lookup(times[k]) is not None:
            needed[k] = 1
    last_at_time = {t: k for k, t in enumerate(times) if index.shown[k]}
    for i, seg in enumerate(segments):
        first = index.frame_at_or_after(seg.start)
        if first is not None and first - seg.start <= CARRY_MIN_GAP_S:
            continue
        before = index.frame_before(seg.start)
        if before is None:
            continue
        k = last_at_time[before]
        needed[k] = 1
        plan.carry.setdefault(index.pts[k], []).append(i)

    for g, (s, e) in enumerate(zip(gop_starts, gop_ends, strict=True)):
        last = max((k for k in range(s, e) if needed[k]), default=-1)
        if last < 0:
            continue
        first = gop_starts[g - 1] if open_gops and g > 0 else s
        for k in range(first, last + 1):
            # Pictures nothing references are decoded only when they are shown.
            if needed[k] or not index.disposable[k]:
                action[k] |= DECODE
    for k in range(n):
        if action[k] == COPY_DECODE:
            plan.copied_and_decoded.add(index.pts[k])
    return plan


def _plan_copy(
    s: int,
    e: int,
    times: list[float],
    lookup: SegmentLookup,
    segments: list[Segment],
    plan: VideoPlan,
) -> None:
    """Copy the longest decode-order prefix of GOP [s, e) that fits one segment."""
    first_shown = min(times[s:e])
    i = lookup(first_shown)
    if i is None or segments[i].speed != 1.0:
        return
    end = segments[i].end
    k = s
    while k < e and times[k] < end:
        k += 1
    # Frames of the GOP kept but not in the prefix are encoded, and an encoded piece
    # plays after the copied one: the prefix may only hold frames shown before them.
    highest = list(itertools.accumulate(times[s:k], max))
    while k > s:
        rest = [t for t in times[k:e] if t < end]
        if not rest:
            break
        shrunk = s + bisect.bisect_left(highest, min(rest), hi=k - s)
        if shrunk == k:
            break
        k = shrunk
    for j in range(s, k):
        plan.action[j] = COPY
        plan.copy_segment[j] = i
    plan.copied_frames += k - s


class FrameSelector:
    """Maps decoded source frames (in presentation order) to output frames and times.

    Speed-1 segments keep every frame whose timestamp falls inside the segment, at its
    exact offset on the output timeline; a frame carried into a segment (the one on
    screen at its start, in sparse video) opens it at its start. Other speeds sample
    the segment on an output grid of one source frame duration: frames are dropped
    (faster) or repeated (slower) as the grid requires.
    """

    def __init__(
        self,
        segments: list[Segment],
        out_starts: list[float],
        source_tb: Fraction,
        out_tb: Fraction,
        frame_ticks: int,
        total_seconds: float,
        carry: dict[int, list[int]] | None = None,
    ) -> None:
        self.segments = segments
        self.lookup = SegmentLookup(segments)
        self._end_ticks = round(Fraction(total_seconds) / out_tb)
        self._source_tb = source_tb
        self._tb_num, self._tb_den = source_tb.numerator, source_tb.denominator
        self._out_tb = out_tb
        self._scale = source_tb / out_tb
        self._frame_ticks = frame_ticks
        self._carry = carry or {}
        self.offsets = [
            round((Fraction(o) - Fraction(s.start)) / out_tb)
            for o, s in zip(out_starts, segments, strict=True)
        ]
        self._base = [round(Fraction(o) / out_tb) for o in out_starts]
        self._pending: int | None = None  # segment index of an unfinished resampled segment
        self._candidate: av.VideoFrame | None = None
        self._slot = 0

    def out_ticks(self, segment: int, pts: int) -> int:
        scaled = pts * self._scale
        ticks = scaled.numerator if scaled.denominator == 1 else round(scaled)
        return int(ticks) + self.offsets[segment]

    def time(self, pts: int) -> float:
        return pts * self._tb_num / self._tb_den

    def feed(self, frame: av.VideoFrame, pts: int) -> list[tuple[av.VideoFrame, int]]:
        t = self.time(pts)
        out: list[tuple[av.VideoFrame, int]] = []
        if self._pending is not None and t >= self.segments[self._pending].end:
            out += self.flush()
        i = self.lookup(t)
        if i is not None:
            out += self._place(i, frame, pts, t)
        for j in self._carry.get(pts, ()):
            out += self.flush()
            if self.segments[j].speed == 1.0:
                out.append((frame, self._base[j]))
            else:
                self._pending, self._candidate, self._slot = j, frame, 0
        return out

    def _place(
        self, i: int, frame: av.VideoFrame, pts: int, t: float
    ) -> list[tuple[av.VideoFrame, int]]:
        seg = self.segments[i]
        if seg.speed == 1.0:
            return [(frame, self.out_ticks(i, pts))]
        out: list[tuple[av.VideoFrame, int]] = []
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
    # Encoders obey a frame's picture type; decoded frames carry the source's I/P/B.
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
    """A libx264 encoder whose pieces can sit between frames copied from ``template``.

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
