"""One demux pass over the source producing the cut output: shared by SMART and REENCODE."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import av
import av.error
from av.stream import Disposition

from hushcut.pipeline.errors import MediaError, RenderError
from hushcut.pipeline.render import h264
from hushcut.pipeline.render.audio import AudioRenderer
from hushcut.pipeline.render.filters import FrameFilter, video_filter
from hushcut.pipeline.render.video import (
    X264_PROFILES,
    FrameSelector,
    Gop,
    SpliceError,
    first_decodable_frame,
    frame_ticks,
    output_clock,
    reset_picture_type,
    scan_gops,
    splice_encoder,
)

if TYPE_CHECKING:
    from av.audio.stream import AudioStream
    from av.container import InputContainer, OutputContainer
    from av.packet import Packet as StreamPacket
    from av.video.stream import VideoStream

    from hushcut.pipeline.render import ProgressCallback, RenderSettings
    from hushcut.pipeline.timeline import Segment

    #: A packet of any stream (PyAV types packets by their stream).
    Packet = StreamPacket[Any]

log = logging.getLogger(__name__)

#: Seconds between two progress calls: often enough for a bar, rare enough to cost nothing.
PROGRESS_INTERVAL = 0.25

#: How far a timeline may reach past the last packet: planners round to their analysis
#: windows, and container durations and stream ends differ by a frame or two.
TRUNCATION_TOLERANCE = 0.5

Action = Literal["copy", "decode", "skip"]


def open_input(path: Path) -> InputContainer:
    try:
        return av.open(str(path), mode="r")
    except (av.error.FFmpegError, UnicodeDecodeError) as exc:
        raise MediaError(f"{path.name}: not readable media ({exc})") from exc


def pick_streams(container: InputContainer) -> tuple[VideoStream | None, AudioStream | None]:
    """The first real video stream (cover art is not one) and the first audio stream."""
    video = next(
        (
            s
            for s in container.streams.video
            if not (s.disposition & Disposition.attached_pic) and s.codec_context is not None
        ),
        None,
    )
    audio = next(iter(container.streams.audio), None)
    return video, audio


@dataclass
class SpliceParams:
    """What a SMART render needs to know about the source's H.264 stream."""

    avcc: h264.AvcConfig
    profile: str
    level: int
    sps_id: int


def splice_params(video: VideoStream) -> SpliceParams | str:
    """Parameters for splicing, or the reason why this source cannot be spliced."""
    ctx = video.codec_context
    if ctx.name != "h264":
        return f"source video is {ctx.name}, not H.264: re-encoding everything"
    pix_fmt = ctx.pix_fmt or ""
    if pix_fmt not in ("yuv420p", "yuvj420p"):
        return f"source pixel format {pix_fmt or 'unknown'} cannot be matched: re-encoding"
    profile = X264_PROFILES.get(ctx.profile or "")
    if profile is None:
        return f"source H.264 profile {ctx.profile!r} cannot be matched: re-encoding"
    try:
        avcc = h264.AvcConfig.parse(ctx.extradata or b"")
        used_sps = {h264.sps_id(n) for n in avcc.sps}
        used_pps = {h264.pps_id(n) for n in avcc.pps}
    except (ValueError, IndexError):
        return "source H.264 stream has no usable avcC header: re-encoding"
    if not avcc.sps or not avcc.pps:
        return "source H.264 stream has no parameter sets in its header: re-encoding"
    free = next((i for i in range(1, 32) if i not in used_sps and i not in used_pps), None)
    if free is None:
        return "source uses every parameter-set id: re-encoding"
    return SpliceParams(avcc=avcc, profile=profile, level=ctx.level or 0, sps_id=free)


@dataclass
class RenderStats:
    copied_video_s: float = 0.0
    reencoded_video_s: float = 0.0
    video_frames: int = 0
    audio_samples: int = 0


class Progress:
    """Throttled progress reporting; the callback may raise to cancel."""

    def __init__(self, callback: ProgressCallback | None, stage: str, total: float) -> None:
        self._callback = callback
        self._stage = stage
        self._total = max(total, 1e-9)
        self._last = 0.0
        self._position = 0.0

    def update(self, position: float, *, force: bool = False) -> None:
        if self._callback is None:
            return
        # Packets come in decode order, so positions step back at B-frames: never report that.
        self._position = max(self._position, position)
        now = time.monotonic()
        if force or now - self._last >= PROGRESS_INTERVAL:
            self._last = now
            self._callback(self._stage, min(1.0, max(0.0, self._position / self._total)))

    def done(self) -> None:
        if self._callback is not None:
            self._callback(self._stage, 1.0)


class Renderer:
    """Renders ``segments`` of ``source`` into ``target`` in one demux pass.

    ``splice`` set: SMART (copy whole GOPs, encode the rest with a matching encoder).
    ``splice`` unset: REENCODE (everything decoded once, encoded once by libx264).
    """

    def __init__(
        self,
        source: Path,
        target: Path,
        segments: list[Segment],
        settings: RenderSettings,
        progress: ProgressCallback | None,
        splice: SpliceParams | None,
    ) -> None:
        self.source = source
        self.target = target
        self.segments = segments
        self.settings = settings
        self.splice = splice
        out_starts = [0.0]
        for seg in segments:
            out_starts.append(out_starts[-1] + seg.output_duration)
        self.out_starts = out_starts
        self.total = out_starts[-1]
        self.progress = Progress(progress, "render", segments[-1].end if segments else 1.0)
        self.stats = RenderStats()

    # ------------------------------------------------------------------ setup
    def run(self) -> RenderStats:
        inp = open_input(self.source)
        try:
            video, audio = pick_streams(inp)
            if video is None and audio is None:
                raise MediaError(f"{self.source.name}: no audio or video stream to render")
            out = av.open(
                str(self.target), mode="w", format="mp4", options={"movflags": "+faststart"}
            )
            try:
                self._render(inp, out, video, audio)
            finally:
                out.close()
        finally:
            inp.close()
        return self.stats

    def _render(
        self,
        inp: InputContainer,
        out: OutputContainer,
        video: VideoStream | None,
        audio: AudioStream | None,
    ) -> None:
        self.progress.update(0.0, force=True)
        self.video: _VideoPath | None = None
        if video is not None:
            self.video = _VideoPath(self, out, video)
        self.audio: AudioRenderer | None = None
        if audio is not None:
            self.audio = AudioRenderer(
                audio,
                out,
                self.segments,
                [*self.out_starts[:-1], self.total],
                self.settings.audio_filters,
                self.settings.audio_bitrate,
            )
        streams = [s for s in (video, audio) if s is not None]
        media_end = 0.0
        for packet in inp.demux(*streams):
            if packet.size == 0:
                continue
            if self.audio is not None and packet.stream is audio:
                self._mux(out, self.audio.feed(packet))
            elif self.video is not None:
                self.video.feed(packet)
            if packet.pts is not None and packet.time_base is not None:
                at = float(packet.pts * packet.time_base)
                media_end = max(media_end, at + float((packet.duration or 0) * packet.time_base))
                self.progress.update(at)
        wanted = self.segments[-1].end
        if media_end < wanted - TRUNCATION_TOLERANCE:
            raise MediaError(
                f"{self.source.name}: the media ends at {media_end:.2f} s but the timeline"
                f" keeps until {wanted:.2f} s (truncated file, or a timeline for another file)"
            )
        if self.video is not None:
            self.video.finish()
            self.stats.video_frames = self.video.frames_out
        if self.audio is not None:
            self._mux(out, self.audio.finish())
            self.stats.audio_samples = self.audio.output_samples
        self.progress.done()

    @staticmethod
    def _mux(out: OutputContainer, packets: list[Packet]) -> None:
        for packet in packets:
            out.mux(packet)


class _VideoPath:
    """Decides per GOP: copy it, decode it (for frames near cuts or everything), skip it."""

    def __init__(self, renderer: Renderer, out: OutputContainer, stream: VideoStream) -> None:
        self.renderer = renderer
        self.out = out
        self.src = stream
        self.src_tb = stream.time_base or Fraction(1, 90_000)
        self.out_tb, self.factor = output_clock(self.src_tb)
        self.frame_ticks = frame_ticks(stream, self.out_tb)
        self.end_ticks = round(Fraction(renderer.total) / self.out_tb)
        self.selector = FrameSelector(
            renderer.segments,
            renderer.out_starts[:-1],
            self.src_tb,
            self.out_tb,
            self.frame_ticks,
            renderer.total,
        )
        self.decoder = stream.codec_context
        self.decoder.thread_type = "AUTO"
        self.frames_out = 0
        self._pending: Packet | None = None
        self._last_dts: int | None = None
        self._last_pts = -(1 << 62)
        self._decoding = False
        self._early_stop = False
        self._copy: list[Packet] = []
        self._copy_segment = 0
        self._index = -1
        self._gop = -1
        self._filter: FrameFilter | None = None

        splice = renderer.splice
        length_size = None
        if splice is not None:
            length_size = splice.avcc.length_size
        elif stream.codec_context.name == "h264":
            try:
                avcc = h264.AvcConfig.parse(stream.codec_context.extradata or b"")
                length_size = avcc.length_size
            except ValueError:
                length_size = None
        self.gops: list[Gop] | None = None
        if length_size is not None:
            with av.open(str(renderer.source)) as scan:
                self.gops = scan_gops(scan, scan.streams[stream.index], length_size)  # type: ignore[arg-type]
        self.actions, self.need_end = self._plan_gops()

        if splice is not None:
            self._setup_splice(splice)
        else:
            self._setup_reencode()

    # ------------------------------------------------------------------ planning
    def _plan_gops(self) -> tuple[list[Action], list[float]]:
        actions: list[Action] = []
        need_end: list[float] = []
        if self.gops is None:
            return actions, need_end
        segs = self.renderer.segments
        for gop in self.gops:
            t0 = float(gop.first_pts * self.src_tb)
            t1 = float(gop.last_pts * self.src_tb)
            touching = [s for s in segs if s.start <= t1 and s.end > t0]
            action: Action = "skip"
            if touching:
                action = "decode"
                if (
                    gop.clean
                    and self.renderer.splice is not None
                    and any(s.speed == 1.0 and s.start <= t0 and t1 < s.end for s in touching)
                ):
                    action = "copy"
            actions.append(action)
            need_end.append(max((s.end for s in touching), default=t0))
        return actions, need_end

    def _setup_splice(self, splice: SpliceParams) -> None:
        self.stream = self.out.add_stream_from_template(self.src)
        self.stream.time_base = self.out_tb
        self.encoder: av.VideoCodecContext | None = self._new_encoder()
        enc_nals = h264.split_annexb(bytes(self.encoder.extradata or b""))
        self.enc_sps = [n for n in enc_nals if h264.nal_type(n) == h264.NAL_SPS]
        self.enc_pps = [n for n in enc_nals if h264.nal_type(n) == h264.NAL_PPS]
        if not self.enc_sps or not self.enc_pps:
            raise SpliceError("the splice encoder produced no parameter sets")
        if h264.sps_id(self.enc_sps[0]) != splice.sps_id:
            raise SpliceError("the splice encoder ignored the parameter-set id")
        avcc = splice.avcc
        merged = h264.AvcConfig(
            profile=avcc.profile,
            compat=avcc.compat,
            level=avcc.level,
            length_size=avcc.length_size,
            sps=[*avcc.sps, *self.enc_sps],
            pps=[*avcc.pps, *self.enc_pps],
            trailer=avcc.trailer,
        )
        self.stream.codec_context.extradata = merged.serialize()
        self.length_size = avcc.length_size
        # Copied GOPs keep their decode order; their dts are rebuilt this far below pts.
        self.dts_shift = self.frame_ticks

    def _new_encoder(self) -> av.VideoCodecContext:
        splice = self.renderer.splice
        assert splice is not None
        return splice_encoder(
            self.src,
            self.out_tb,
            profile=splice.profile,
            level=splice.level,
            sps_id=splice.sps_id,
            preset=self.renderer.settings.preset,
            crf=self.renderer.settings.crf,
        )

    def _setup_reencode(self) -> None:
        settings = self.renderer.settings
        ctx = self.src.codec_context
        width, height, pix_fmt = ctx.width, ctx.height, ctx.pix_fmt or "yuv420p"
        chain = list(settings.video_filters)
        if width % 2 or height % 2:
            chain.append("crop=trunc(iw/2)*2:trunc(ih/2)*2")
        chain.append("format=yuv420p")
        with av.open(str(self.renderer.source)) as probe:
            first = first_decodable_frame(probe, probe.streams[self.src.index])  # type: ignore[arg-type]
        if first is None:
            raise MediaError(
                f"{self.renderer.source.name}: the video stream has no decodable frame"
            )
        # Phone videos are stored sideways with a display rotation: keep it, as a copy does.
        rotation = first.rotation
        if settings.video_filters:
            # Filters may resize: learn the output size before the header is written.
            probe_filter = video_filter(
                chain,
                width=first.width,
                height=first.height,
                pix_fmt=first.format.name,
                time_base=self.out_tb,
            )
            first.pts = 0
            first.time_base = self.out_tb
            result = probe_filter.push(first) + probe_filter.push(None)
            if not result or not isinstance(result[0], av.VideoFrame):
                raise RenderError("the video filters produced no picture")
            width, height = result[0].width, result[0].height
        elif pix_fmt == "yuv420p" and not (width % 2 or height % 2):
            chain = []
        self._filter_chain = chain
        rate = self.src.average_rate or self.src.guessed_rate or Fraction(30)
        self.stream = self.out.add_stream("libx264", rate=rate)
        self.stream.width = width
        self.stream.height = height
        self.stream.pix_fmt = "yuv420p"
        self.stream.time_base = self.out_tb
        self.stream.codec_context.time_base = self.out_tb
        if rotation:
            self.stream.set_display_rotation(rotation)
        if ctx.sample_aspect_ratio and not settings.video_filters:
            self.stream.codec_context.sample_aspect_ratio = ctx.sample_aspect_ratio
        # PyAV's default (slice threads) makes x264 slice each frame: frame threads are faster.
        self.stream.codec_context.thread_type = "AUTO"
        self.stream.codec_context.options = {
            "preset": settings.preset,
            "crf": str(settings.crf),
        }
        self.encoder = None
        self.dts_shift = 0

    # ------------------------------------------------------------------ demux side
    def feed(self, packet: Packet) -> None:
        if packet.pts is None:
            return
        self._index += 1
        if self.gops is None:
            self._decode(packet, need_end=float("inf"))
            return
        gops = self.gops
        while self._gop + 1 < len(gops) and gops[self._gop + 1].first_index <= self._index:
            self._gop += 1
            self._enter_gop(self._gop)
        action = self.actions[self._gop]
        if action == "copy":
            self._copy.append(packet)
        elif action == "decode" and not self._early_stop:
            self._decode(packet, need_end=self.need_end[self._gop])

    def _enter_gop(self, g: int) -> None:
        action = self.actions[g]
        if self._copy:
            self._flush_copy()
        if self._decoding and (action != "decode" or self._early_stop):
            self._drain_decoder()
        self._early_stop = False
        if action == "copy":
            self._emit(self.selector.flush())
            self._end_run()
            gop = self.gops[g] if self.gops else None
            assert gop is not None
            t0 = float(gop.first_pts * self.src_tb)
            seg = self.selector.segment_at(t0)
            assert seg is not None
            self._copy_segment = seg

    def _decode(self, packet: Packet, need_end: float) -> None:
        self._decoding = True
        try:
            frames = self.decoder.decode(packet)
        except av.error.InvalidDataError:
            return  # a damaged source packet: its frame is missing, the neighbours show
        for frame in frames:
            if frame.pts is None:
                continue
            if float(frame.pts * self.src_tb) >= need_end:
                self._early_stop = True
            self._emit(self.selector.feed(frame, int(frame.pts)))

    def _drain_decoder(self) -> None:
        try:
            frames = self.decoder.decode(None)
        except av.error.InvalidDataError:
            frames = []
        for frame in frames:
            if frame.pts is not None:
                self._emit(self.selector.feed(frame, int(frame.pts)))
        self.decoder.flush_buffers()
        self._decoding = False

    # ------------------------------------------------------------------ encode side
    def _emit(self, frames: list[tuple[av.VideoFrame, int]]) -> None:
        for frame, ticks in frames:
            if ticks <= self._last_pts:
                ticks = self._last_pts + 1
            self._last_pts = ticks
            self.frames_out += 1
            self.renderer.stats.reencoded_video_s += float(self.frame_ticks * self.out_tb)
            if self.renderer.splice is not None:
                self._encode_splice(frame, ticks)
            else:
                self._encode_full(frame, ticks)

    def _encode_full(self, frame: av.VideoFrame, ticks: int) -> None:
        reset_picture_type(frame)
        frame.pts = ticks
        frame.time_base = self.out_tb
        frames: list[av.VideoFrame] = [frame]
        if self._filter_chain:
            if self._filter is None:
                self._filter = video_filter(
                    self._filter_chain,
                    width=frame.width,
                    height=frame.height,
                    pix_fmt=frame.format.name,
                    time_base=self.out_tb,
                )
            frames = [f for f in self._filter.push(frame) if isinstance(f, av.VideoFrame)]
        for f in frames:
            f.time_base = self.out_tb
            for packet in self.stream.encode(f):
                self._mux_video(packet)

    def _encode_splice(self, frame: av.VideoFrame, ticks: int) -> None:
        if self.encoder is None:
            self.encoder = self._new_encoder()
        reset_picture_type(frame)
        frame.pts = ticks
        frame.time_base = self.out_tb
        for packet in self.encoder.encode(frame):
            self._mux_spliced(packet)

    def _end_run(self) -> None:
        """Finish the current encoded piece so a copied GOP can follow it."""
        if self.encoder is None:
            return
        for packet in self.encoder.encode(None):
            self._mux_spliced(packet)
        self.encoder = None

    def _mux_spliced(self, packet: Packet) -> None:
        nals = h264.split_annexb(bytes(packet))
        idr = any(h264.nal_type(n) == h264.NAL_IDR for n in nals)
        if idr and not any(h264.nal_type(n) == h264.NAL_SPS for n in nals):
            # In-band parameter sets too: players that ignore extra avcC entries still decode.
            nals = [*self.enc_sps, *self.enc_pps, *nals]
        out = av.Packet(h264.join_length_prefixed(nals, self.length_size))
        assert packet.pts is not None
        pts = int(packet.pts)
        out.time_base = self.out_tb
        out.pts = pts
        out.dts = self._next_dts(pts - self.dts_shift, pts)
        out.duration = self.frame_ticks
        out.is_keyframe = idr
        self._mux_video(out)

    def _next_dts(self, wanted: int, pts: int) -> int:
        dts = wanted if self._last_dts is None else max(self._last_dts + 1, wanted)
        if dts > pts:
            raise SpliceError("the spliced stream would need a decode time after its display time")
        self._last_dts = dts
        return dts

    def _flush_copy(self) -> None:
        packets, self._copy = self._copy, []
        seg = self._copy_segment
        pts = [self.selector.out_ticks(seg, int(p.pts or 0)) for p in packets]
        # The smallest pts still to come bounds each packet's decode time from above.
        suffix_min = pts[:]
        for k in range(len(pts) - 2, -1, -1):
            suffix_min[k] = min(suffix_min[k], suffix_min[k + 1])
        if pts and min(pts) <= self._last_pts:
            raise SpliceError("a copied GOP would overlap the frames before it")
        for k, packet in enumerate(packets):
            data = bytes(packet)
            if k == 0:
                nals = h264.split_length_prefixed(data, self.length_size)
                if not any(h264.nal_type(n) == h264.NAL_SPS for n in nals):
                    assert self.renderer.splice is not None
                    avcc = self.renderer.splice.avcc
                    nals = [*avcc.sps, *avcc.pps, *nals]
                    data = h264.join_length_prefixed(nals, self.length_size)
            out = av.Packet(data)
            out.time_base = self.out_tb
            out.pts = pts[k]
            out.dts = self._next_dts(suffix_min[k] - self.dts_shift, pts[k])
            out.duration = (packet.duration or 0) * self.factor or self.frame_ticks
            out.is_keyframe = packet.is_keyframe
            self._mux_video(out)
            self.frames_out += 1
            self.renderer.stats.copied_video_s += float(self.frame_ticks * self.out_tb)
        if pts:
            self._last_pts = max(pts)

    def _mux_video(self, packet: Packet) -> None:
        packet.stream = self.stream
        if self._pending is not None:
            self.out.mux(self._pending)
        self._pending = packet

    def finish(self) -> None:
        if self._copy:
            self._flush_copy()
        if self._decoding:
            self._drain_decoder()
        self._emit(self.selector.flush())
        if self.renderer.splice is not None:
            self._end_run()
        else:
            if self._filter is not None:
                for f in self._filter.push(None):
                    if isinstance(f, av.VideoFrame):
                        for packet in self.stream.encode(f):
                            self._mux_video(packet)
            for packet in self.stream.encode(None):
                self._mux_video(packet)
        if self._pending is not None:
            last = self._pending
            if last.pts is not None:
                # The MP4 muxer ends the track at the last packet's pts + duration, even
                # when that packet (a B-frame) is not the last one shown.
                last.duration = max(1, self.end_ticks - int(last.pts))
            self.out.mux(last)
            self._pending = None
