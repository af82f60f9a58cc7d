"""Video side of rendering: cut snapping, the copy/decode plan, frame selection, encoders."""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass, field
from fractions import Fraction
from typing import TYPE_CHECKING

import av
import av.error
import numpy as np
import numpy.typing as npt
from av.codec.context import Flags
from av.video.frame import PictureType

from hushcut.pipeline.timeline import Segment

if TYPE_CHECKING:
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
    if index is None or not len(index.shown_times):
        return segments
    times = index.shown_times
    snapped: list[Segment] = []
    for seg in segments:
        start, end = _snap(seg.start, times), _snap(seg.end, times)
        if end > start:
            snapped.append(Segment(start, end, seg.speed))
    return snapped


def _snap(t: float, times: npt.NDArray[np.float64]) -> float:
    at = int(np.searchsorted(times, t, side="left"))
    if at == 0 or at == len(times) or times[at] == t:
        return t
    before, after = float(times[at - 1]), float(times[at])
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

    action: npt.NDArray[np.uint8]
    #: For copied packets, the segment whose output offset they take; -1 otherwise.
    copy_segment: npt.NDArray[np.int32]
    #: Packets whose frame the output shows (inside a segment, not hidden by an edit list).
    kept: npt.NDArray[np.bool_]
    #: pts of frames both copied and decoded (decoded as references for later frames
    #: of their GOP): the decoder's copy of them is not encoded again.
    copied_and_decoded: set[int] = field(default_factory=set)
    #: pts of a frame -> the segments it opens because none of their own frames starts
    #: at their start (sparse video).
    carry: dict[int, list[int]] = field(default_factory=dict)


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
    times = index.times
    shown = index.shown.astype(bool)
    starts = np.array([s.start for s in segments])
    ends = np.array([s.end for s in segments])
    # The segment each packet's frame falls in, or -1.
    seg_of = np.searchsorted(starts, times, side="right") - 1
    inside = (seg_of >= 0) & (times < ends[np.maximum(seg_of, 0)]) & shown
    seg_of = np.where(inside, seg_of, -1)
    action = np.zeros(n, dtype=np.uint8)
    copy_segment = np.full(n, -1, dtype=np.int32)
    gop_starts = np.flatnonzero(index.random_access).tolist()
    if not gop_starts or gop_starts[0] != 0:
        gop_starts.insert(0, 0)
    gop_ends = [*gop_starts[1:], n]
    plan = VideoPlan(action=action, copy_segment=copy_segment, kept=inside)

    if copy and n:
        speed_one = np.array([s.speed == 1.0 for s in segments])
        for s, e in zip(gop_starts, gop_ends, strict=True):
            if index.random_access[s] and shown[s:e].all():
                _plan_copy(s, e, times, seg_of, speed_one, ends, plan)

    needed = inside & (action != COPY)
    for i, seg in enumerate(segments):
        first = index.frame_at_or_after(seg.start)
        if first is not None and first - seg.start <= CARRY_MIN_GAP_S:
            continue
        before = index.frame_before(seg.start)
        if before is None:
            continue
        k = int(np.flatnonzero(shown & (times == before))[-1])
        needed[k] = True
        plan.carry.setdefault(int(index.pts[k]), []).append(i)

    if n:
        # Per GOP, the last packet whose frame is needed; decode from the GOP's start
        # (or the one before) up to it, leaving out unreferenced pictures not needed.
        positions = np.where(needed, np.arange(n), -1)
        last = np.maximum.reduceat(positions, gop_starts)
        lengths = np.diff([*gop_starts, n])
        until = np.repeat(last, lengths)
        if open_gops:
            follows = np.append(last[1:] >= 0, False)
            gop_end = np.repeat(np.asarray(gop_ends) - 1, lengths)
            until = np.where(np.repeat(follows, lengths), gop_end, until)
        decode = (np.arange(n) <= until) & (needed | (index.disposable == 0))
        action |= np.where(decode, DECODE, 0).astype(np.uint8)
        plan.copied_and_decoded = set(index.pts[action == COPY_DECODE].tolist())
    return plan


def _plan_copy(
    s: int,
    e: int,
    times: npt.NDArray[np.float64],
    seg_of: npt.NDArray[np.intp],
    speed_one: npt.NDArray[np.bool_],
    ends: npt.NDArray[np.float64],
    plan: VideoPlan,
) -> None:
    """Copy the longest decode-order prefix of GOP [s, e) that fits one segment."""
    first_shown = int(s + np.argmin(times[s:e]))
    i = int(seg_of[first_shown])
    if i < 0 or not speed_one[i]:
        return
    end = float(ends[i])
    gop = times[s:e]
    beyond = np.flatnonzero(gop >= end)
    k = s + (int(beyond[0]) if beyond.size else e - s)
    # Frames of the GOP kept but not in the prefix are encoded, and an encoded piece
    # plays after the copied one: the prefix may only hold frames shown before them.
    highest = np.maximum.accumulate(gop[: k - s])
    while k > s:
        rest = gop[k - s :]
        rest = rest[rest < end]
        if not rest.size:
            break
        shrunk = s + int(np.searchsorted(highest[: k - s], rest.min(), side="left"))
        if shrunk == k:
            break
        k = shrunk
    plan.action[s:k] = COPY
    plan.copy_segment[s:k] = i


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
        scale = source_tb / out_tb
        self._scale_num, self._scale_den = scale.numerator, scale.denominator
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
        # Integer arithmetic: a Fraction per frame costs more than the rest of the lookup.
        if self._scale_den == 1:
            return pts * self._scale_num + self.offsets[segment]
        return (2 * pts * self._scale_num + self._scale_den) // (
            2 * self._scale_den
        ) + self.offsets[segment]

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
