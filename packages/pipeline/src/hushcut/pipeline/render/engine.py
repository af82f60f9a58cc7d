"""One demux pass over the source producing the cut output: shared by SMART and REENCODE."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any

import av
import av.error
from av.stream import Disposition

from hushcut.pipeline._probe import open_media
from hushcut.pipeline.errors import MediaError, RenderError
from hushcut.pipeline.render import h264
from hushcut.pipeline.render.audio import AudioRenderer
from hushcut.pipeline.render.filters import FrameFilter, video_filter
from hushcut.pipeline.render.scan import (
    SourceScan,
    VideoIndex,
    first_decodable_frame,
    scan_source,
)
from hushcut.pipeline.render.video import (
    COPY,
    DECODE,
    X264_PROFILES,
    FrameSelector,
    SpliceError,
    VideoPlan,
    frame_ticks,
    output_clock,
    plan_video,
    reset_picture_type,
    snap_segments,
    splice_encoder,
)
from hushcut.pipeline.timeline import Segment

if TYPE_CHECKING:
    from av.audio.stream import AudioStream
    from av.container import InputContainer, OutputContainer
    from av.packet import Packet as StreamPacket
    from av.video.stream import VideoStream

    from hushcut.pipeline.render import ProgressCallback, RenderMode, RenderSettings
    from hushcut.pipeline.render.formats import OutputFormat

    #: A packet of any stream (PyAV types packets by their stream).
    Packet = StreamPacket[Any]

log = logging.getLogger(__name__)

#: Seconds between two progress calls: often enough for a bar, rare enough to cost nothing.
PROGRESS_INTERVAL = 0.25

#: How far a timeline may reach past the last packet: planners round to their analysis
#: windows, and container durations and stream ends differ by a frame or two.
TRUNCATION_TOLERANCE = 0.5

#: libvpx-vp9 quality for WebM: its CRF scale runs to 63; 1.5 x the x264 CRF + 1 gives
#: the quality Google recommends for 720p (31) at the default CRF 20.
VP9_CRF_SCALE = 1.5


def codec_label(stream: VideoStream | AudioStream) -> str:
    """The codec's name (``av1``), not the decoder's (``libdav1d``)."""
    ctx = stream.codec_context
    codec = getattr(ctx, "codec", None)
    return str(getattr(codec, "canonical_name", None) or ctx.name)


def pick_streams(
    container: InputContainer, audio_track: int | None = None
) -> tuple[VideoStream | None, list[AudioStream], int]:
    """The first real video stream (cover art is not one), every audio stream, and the
    position among them of the primary one: ``audio_track``, else the default one."""
    video = next(
        (
            s
            for s in container.streams.video
            if not (s.disposition & Disposition.attached_pic) and s.codec_context is not None
        ),
        None,
    )
    audio = list(container.streams.audio)
    if audio_track is not None and 0 <= audio_track < len(audio):
        primary = audio_track
    else:
        primary = next((k for k, s in enumerate(audio) if s.disposition & Disposition.default), 0)
    return video, audio, primary


@dataclass
class SpliceParams:
    """What a SMART render needs to know about the source's H.264 stream."""

    avcc: h264.AvcConfig
    profile: str
    level: int
    sps_id: int
    #: NAL length size of the source packets; None when they use start codes (MPEG-TS).
    source_length_size: int | None


def splice_refusal(video: VideoStream) -> str | None:
    """Why this source cannot be spliced, as far as its stream's header tells (the
    parameter sets ``splice_params`` reads may still refuse it)."""
    ctx = video.codec_context
    if ctx.name != "h264":
        return f"source video is {codec_label(video)}, not H.264: re-encoding everything"
    pix_fmt = ctx.pix_fmt or ""
    if pix_fmt not in ("yuv420p", "yuvj420p"):
        return f"source pixel format {pix_fmt or 'unknown'} cannot be matched: re-encoding"
    if (ctx.profile or "") not in X264_PROFILES:
        return f"source H.264 profile {ctx.profile!r} cannot be matched: re-encoding"
    return None


def splice_params(video: VideoStream, index: VideoIndex) -> SpliceParams | str:
    """Parameters for splicing, or the reason why this source cannot be spliced."""
    refusal = splice_refusal(video)
    if refusal is not None:
        return refusal
    ctx = video.codec_context
    profile = X264_PROFILES[ctx.profile or ""]
    try:
        if index.length_size is not None:
            avcc = h264.AvcConfig.parse(bytes(ctx.extradata or b""))
        else:
            avcc = h264.config_from_nals(index.parameter_sets)
        used_sps = {h264.sps_id(n) for n in avcc.sps}
        used_pps = {h264.pps_id(n) for n in avcc.pps}
    except ValueError as exc:
        return f"source H.264 parameter sets cannot be used ({exc}): re-encoding"
    except IndexError:
        return "source H.264 parameter sets are damaged: re-encoding"
    if not avcc.sps or not avcc.pps:
        return "source H.264 stream has no parameter sets in its header: re-encoding"
    free = next((i for i in range(1, 32) if i not in used_sps and i not in used_pps), None)
    if free is None:
        return "source uses every parameter-set id: re-encoding"
    return SpliceParams(
        avcc=avcc,
        profile=profile,
        level=ctx.level or 0,
        sps_id=free,
        source_length_size=index.length_size,
    )


@dataclass
class RenderStats:
    mode: RenderMode
    fallback_reason: str | None = None
    copied_frames: int = 0
    encoded_frames: int = 0
    frame_s: float = 0.0
    audio_samples: int = 0
    #: The segments rendered, relative to the source's start (cuts moved onto frames).
    segments: list[Segment] = field(default_factory=list)

    @property
    def copied_video_s(self) -> float:
        return self.copied_frames * self.frame_s

    @property
    def reencoded_video_s(self) -> float:
        return self.encoded_frames * self.frame_s


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

    ``mode`` smart: copy what can be copied (see ``plan_video``), encode the rest with
    an encoder matching the source; reencode (or a source SMART cannot splice):
    everything decoded once, encoded once.
    """

    def __init__(
        self,
        source: Path,
        target: Path,
        segments: list[Segment],
        settings: RenderSettings,
        progress: ProgressCallback | None,
        fmt: OutputFormat,
        mode: RenderMode,
    ) -> None:
        self.source = source
        self.target = target
        self.segments = segments
        self.settings = settings
        self.fmt = fmt
        self.mode: RenderMode = mode
        self.progress_callback = progress

    def run(self) -> RenderStats:
        with open_media(self.source, for_render=True) as inp:
            video, audio, primary = pick_streams(inp, self.settings.audio_track)
            if not self.fmt.holds_video:
                video = None
            if video is None and not audio:
                raise MediaError(f"{self.source.name}: no audio or video stream to render")
            # A re-encode starts from the source's first picture: the scan decodes it on
            # its way when the settings or the stream's header rule splicing out.
            reencode = video is not None and (
                self.mode != "smart" or self._refusal(video) is not None
            )
            # The scan reads a container of its own: rewinding ``inp`` with seek(0) is not
            # exact (MP4 and Matroska then start at the video's first keyframe, and the AAC
            # priming packet muxed before it is lost). Its decoder is not the render's.
            with open_media(self.source, for_render=True) as scanning:
                scan = scan_source(scanning, video, audio, first_frame=reencode)
            raw = self._raw_segments(scan)
            stats = RenderStats(mode=self.mode)
            stats.segments = [
                Segment(s.start - scan.start, s.end - scan.start, s.speed) for s in raw
            ]
            splice = self._splice(video, scan, stats)
            first = scan.first_frame
            if video is not None and scan.video is not None and splice is None and not reencode:
                first = self._first_frame(video)
            with av.open(
                str(self.target), mode="w", format=self.fmt.muxer, options=dict(self.fmt.options)
            ) as out:
                self._render(inp, out, video, audio, primary, scan, raw, splice, first, stats)
        return stats

    def _first_frame(self, video: VideoStream) -> av.VideoFrame | None:
        """The source's first picture, read apart: for the rare re-encode that only the
        parameter sets found by the scan decided."""
        with open_media(self.source, for_render=True) as again:
            return first_decodable_frame(again, again.streams[video.index])  # type: ignore[arg-type]

    def _raw_segments(self, scan: SourceScan) -> list[Segment]:
        """The timeline on the source's own clock, cuts snapped onto frames."""
        wanted = scan.start + self.segments[-1].end
        if scan.end < wanted - TRUNCATION_TOLERANCE:
            raise MediaError(
                f"{self.source.name}: the media ends at {scan.end - scan.start:.2f} s but the "
                f"timeline keeps until {self.segments[-1].end:.2f} s (truncated file, or a "
                "timeline for another file)"
            )
        shifted = [
            Segment(s.start + scan.start, s.end + scan.start, s.speed) for s in self.segments
        ]
        raw = snap_segments(shifted, scan.video)
        if not raw:
            raise RenderError("the timeline keeps nothing but slivers shorter than a frame")
        return raw

    def _splice(
        self, video: VideoStream | None, scan: SourceScan, stats: RenderStats
    ) -> SpliceParams | None:
        if video is None or scan.video is None or self.mode != "smart":
            return None
        reason = self._refusal(video)
        params = splice_params(video, scan.video) if reason is None else reason
        if isinstance(params, str):
            stats.mode = "reencode"
            stats.fallback_reason = params
            return None
        return params

    def _refusal(self, video: VideoStream) -> str | None:
        """Why SMART would re-encode ``video``, as far as the settings and the stream's
        header tell (``splice_params`` may still refuse the parameter sets)."""
        if self.fmt.video != "h264":
            return f"{self.fmt.name} holds no H.264: video re-encoded as {self.fmt.video}"
        if self.settings.video_filters:
            return "video filters change every frame: re-encoding everything"
        return splice_refusal(video)

    def _render(
        self,
        inp: InputContainer,
        out: OutputContainer,
        video: VideoStream | None,
        audio: list[AudioStream],
        primary: int,
        scan: SourceScan,
        raw: list[Segment],
        splice: SpliceParams | None,
        first: av.VideoFrame | None,
        stats: RenderStats,
    ) -> None:
        out_starts = [0.0]
        for seg in raw:
            out_starts.append(out_starts[-1] + seg.output_duration)
        progress = Progress(self.progress_callback, "render", raw[-1].end - scan.start)
        progress.update(0.0, force=True)
        path: _VideoPath | None = None
        if video is not None and scan.video is not None:
            path = _VideoPath(self, out, video, scan.video, raw, out_starts, splice, stats, first)
        renderers: dict[int, AudioRenderer] = {}
        for position, stream in enumerate(audio):
            renderer = AudioRenderer(
                stream,
                out,
                raw,
                out_starts,
                self.settings.audio_filters,
                self.settings.audio_bitrate,
                codec=self.fmt.audio,
            )
            renderer.stream.disposition = (
                Disposition.default if position == primary else Disposition(0)
            )
            renderers[stream.index] = renderer
        out.start_encoding()
        if path is not None:
            path.started()
        streams = [s for s in (video, *audio) if s is not None]
        # Float time bases: a Fraction product per packet is measurable on long inputs.
        seconds = {s.index: float(s.time_base or 0) for s in streams}
        for packet in inp.demux(streams):
            if packet.size == 0:
                continue
            track = renderers.get(packet.stream_index)
            if track is not None:
                self._mux(out, track.feed(packet))
            elif path is not None:
                path.feed(packet)
            if packet.pts is not None:
                progress.update(packet.pts * seconds[packet.stream_index] - scan.start)
        if path is not None:
            path.finish()
        for renderer in renderers.values():
            self._mux(out, renderer.finish())
        stats.audio_samples = max((r.output_samples for r in renderers.values()), default=0)
        progress.done()

    @staticmethod
    def _mux(out: OutputContainer, packets: list[Packet]) -> None:
        for packet in packets:
            out.mux(packet)


class _VideoPath:
    """Follows the plan packet by packet: copy, decode, encode, in output order."""

    def __init__(
        self,
        renderer: Renderer,
        out: OutputContainer,
        stream: VideoStream,
        index: VideoIndex,
        segments: list[Segment],
        out_starts: list[float],
        splice: SpliceParams | None,
        stats: RenderStats,
        first_frame: av.VideoFrame | None,
    ) -> None:
        self.renderer = renderer
        self.out = out
        self.src = stream
        self.index = index
        self.splice = splice
        self.stats = stats
        self.src_tb = index.time_base
        self.out_tb, self.factor = output_clock(self.src_tb)
        self.frame_ticks = frame_ticks(stream, self.out_tb)
        stats.frame_s = float(self.frame_ticks * self.out_tb)
        self.total = out_starts[-1]
        self.plan: VideoPlan = plan_video(
            index, segments, copy=splice is not None, open_gops=stream.codec_context.name != "h264"
        )
        self.selector = FrameSelector(
            segments,
            out_starts[:-1],
            self.src_tb,
            self.out_tb,
            self.frame_ticks,
            self.total,
            self.plan.carry,
        )
        self.decoder = stream.codec_context
        self.decoder.thread_type = "AUTO"
        self._k = -1
        self._decoding = False
        self._last_decoded = -2
        self._copying = False
        self._last_out_pts = -(1 << 62)
        self._last_dts: int | None = None
        self._pending: Packet | None = None
        self.final_tb = self.out_tb
        self.to_final = Fraction(1)
        self.min_step = 1
        self._filter: FrameFilter | None = None
        self._filter_chain: list[str] = []
        self.encoder: av.VideoCodecContext | None = None
        if splice is not None:
            self._setup_splice(splice)
        else:
            self._setup_reencode(first_frame)

    # ------------------------------------------------------------------ setup
    def _setup_splice(self, splice: SpliceParams) -> None:
        self.stream = self.out.add_stream_from_template(self.src)
        self.stream.time_base = self.out_tb
        probe = self._new_encoder()
        enc_nals = h264.split_annexb(bytes(probe.extradata or b""))
        self.enc_sps = [n for n in enc_nals if h264.nal_type(n) == h264.NAL_SPS]
        self.enc_pps = [n for n in enc_nals if h264.nal_type(n) == h264.NAL_PPS]
        if not self.enc_sps or not self.enc_pps:
            raise SpliceError("the splice encoder produced no parameter sets")
        if h264.sps_id(self.enc_sps[0]) != splice.sps_id:
            raise SpliceError("the splice encoder ignored the parameter-set id")
        avcc = splice.avcc
        self.src_sets = [*avcc.sps, *avcc.pps]
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
        self.stream.disposition = Disposition.default
        self.length_size = avcc.length_size
        # Encoded frames are decoded this long before they are shown: at least as long
        # as the source's B-frames need, so a copied GOP never decodes before them.
        self.dts_shift = max(self.index.delay * self.factor, self.frame_ticks)

    def _new_encoder(self) -> av.VideoCodecContext:
        splice = self.splice
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

    def _setup_reencode(self, first: av.VideoFrame | None) -> None:
        """An encoder for the whole video; ``first``: the source's first decodable frame."""
        settings = self.renderer.settings
        ctx = self.src.codec_context
        width, height, pix_fmt = ctx.width, ctx.height, ctx.pix_fmt or "yuv420p"
        chain = list(settings.video_filters)
        if width % 2 or height % 2:
            # 4:2:0 needs even sizes: drop the odd row or column.
            chain.append("crop=trunc(iw/2)*2:trunc(ih/2)*2")
            width, height = width - width % 2, height - height % 2
        chain.append("format=yuv420p")
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
        elif pix_fmt == "yuv420p" and chain == ["format=yuv420p"]:
            chain = []
        self._filter_chain = chain
        rate = self.src.average_rate or self.src.guessed_rate or Fraction(30)
        vp9 = self.renderer.fmt.video == "vp9"
        self.stream = self.out.add_stream("libvpx-vp9" if vp9 else "libx264", rate=rate)
        self.stream.width = width
        self.stream.height = height
        self.stream.pix_fmt = "yuv420p"
        self.stream.time_base = self.out_tb
        self.stream.codec_context.time_base = self.out_tb
        self.stream.disposition = Disposition.default
        if rotation:
            self.stream.set_display_rotation(rotation)
        if ctx.sample_aspect_ratio and not settings.video_filters:
            self.stream.codec_context.sample_aspect_ratio = ctx.sample_aspect_ratio
        # PyAV's default (slice threads) makes x264 slice each frame: frame threads are faster.
        self.stream.codec_context.thread_type = "AUTO"
        if vp9:
            crf = min(63, round(settings.crf * VP9_CRF_SCALE + 1))
            # Constant quality, realtime speed settings: libvpx's "good" deadline is
            # several times slower than x264 veryfast for no visible gain on talks.
            self.stream.codec_context.options = {
                "crf": str(crf),
                "b": "0",
                "deadline": "realtime",
                "cpu-used": "8",
                "row-mt": "1",
            }
        else:
            self.stream.codec_context.options = {
                "preset": settings.preset,
                "crf": str(settings.crf),
            }
        self.dts_shift = 0

    def started(self) -> None:
        """The header is written: the muxer may have changed the stream's time base
        (Matroska counts milliseconds), so copied and spliced packets use its own."""
        tb = self.stream.time_base or self.out_tb
        self.final_tb = tb
        self.to_final = self.out_tb / tb
        # Smallest step, in output ticks, that still moves a timestamp in the muxer.
        ratio = tb / self.out_tb
        self.min_step = max(1, -(-ratio.numerator // ratio.denominator))

    def _final(self, ticks: int) -> int:
        if self.to_final == 1:
            return ticks
        return round(ticks * self.to_final)

    # ------------------------------------------------------------------ demux side
    def feed(self, packet: Packet) -> None:
        if packet.pts is None:
            return
        self._k += 1
        k = self._k
        action = self.plan.action[k] if k < len(self.plan.action) else 0
        if action & COPY:
            if not self._copying:
                # Everything encoded so far plays before this copied stretch.
                self._drain()
                self._emit(self.selector.flush())
                self._end_run()
                self._copying = True
            self._copy(packet, k)
        else:
            self._copying = False
        if action & DECODE:
            if self._decoding and self._last_decoded != k - 1 and self.index.random_access[k]:
                # The previous GOP was left early: flush it, this one decodes from scratch.
                # (Gaps inside a GOP are unreferenced pictures; the decoder keeps going.)
                self._drain()
            self._decode(packet)
            self._last_decoded = k

    def _decode(self, packet: Packet) -> None:
        self._decoding = True
        try:
            frames = self.decoder.decode(packet)
        except av.error.InvalidDataError:
            return  # a damaged source packet: its frame is missing, the neighbours show
        self._frames(frames)

    def _frames(self, frames: list[av.VideoFrame]) -> None:
        copied = self.plan.copied_and_decoded
        for frame in frames:
            if frame.pts is None:
                continue
            pts = int(frame.pts)
            if pts in copied:
                copied.discard(pts)
                continue
            self._emit(self.selector.feed(frame, pts))

    def _drain(self) -> None:
        if not self._decoding:
            return
        try:
            frames = self.decoder.decode(None)
        except av.error.InvalidDataError:
            frames = []
        self._frames(frames)
        self.decoder.flush_buffers()
        self._decoding = False

    # ------------------------------------------------------------------ copy side
    def _copy(self, packet: Packet, k: int) -> None:
        splice = self.splice
        assert splice is not None
        data = bytes(packet)
        random_access = bool(self.index.random_access[k])
        if random_access or splice.source_length_size is None:
            nals = h264.split_nals(data, splice.source_length_size)
            if splice.source_length_size is None:
                nals = [n for n in nals if h264.nal_type(n) != h264.NAL_AUD]
            if random_access and not any(h264.nal_type(n) == h264.NAL_SPS for n in nals):
                # In-band parameter sets: a player switching from an encoded piece back
                # to the source's does not have to look them up in the avcC record.
                nals = [*self.src_sets, *nals]
            data = h264.join_length_prefixed(nals, self.length_size)
        segment = self.plan.copy_segment[k]
        pts = self.selector.out_ticks(segment, int(packet.pts or 0))
        dts = (
            self.selector.out_ticks(segment, int(packet.dts))
            if packet.dts is not None
            else pts - self.dts_shift
        )
        self._mux_own(data, pts, dts, random_access)
        self._last_out_pts = max(self._last_out_pts, pts)
        self.stats.copied_frames += 1

    # ------------------------------------------------------------------ encode side
    def _emit(self, frames: list[tuple[av.VideoFrame, int]]) -> None:
        for frame, ticks in frames:
            if ticks < self._last_out_pts + self.min_step:
                ticks = self._last_out_pts + self.min_step
            self._last_out_pts = ticks
            self.stats.encoded_frames += 1
            reset_picture_type(frame)
            frame.pts = ticks
            frame.time_base = self.out_tb
            if self.splice is not None:
                self._encode_splice(frame)
            else:
                self._encode_full(frame)

    def _encode_full(self, frame: av.VideoFrame) -> None:
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
                self._mux_pending(packet)

    def _encode_splice(self, frame: av.VideoFrame) -> None:
        if self.encoder is None:
            self.encoder = self._new_encoder()
        for packet in self.encoder.encode(frame):
            self._mux_spliced(packet)

    def _end_run(self) -> None:
        """Finish the current encoded piece so a copied stretch can follow it."""
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
        assert packet.pts is not None
        pts = int(packet.pts)
        data = h264.join_length_prefixed(nals, self.length_size)
        self._mux_own(data, pts, pts - self.dts_shift, idr)

    def _mux_own(self, data: bytes, pts: int, dts: int, keyframe: bool) -> None:
        """Mux a packet we framed ourselves, timestamps in output ticks."""
        out = av.Packet(data)
        out.time_base = self.final_tb
        out.pts = self._final(pts)
        wanted = self._final(dts)
        final_dts = wanted if self._last_dts is None else max(self._last_dts + 1, wanted)
        if final_dts > out.pts:
            raise SpliceError("the spliced stream would need a decode time after its display time")
        self._last_dts = final_dts
        out.dts = final_dts
        out.duration = max(1, self._final(self.frame_ticks))
        out.is_keyframe = keyframe
        self._mux_pending(out)

    def _mux_pending(self, packet: Packet) -> None:
        packet.stream = self.stream
        if packet.pts is not None and packet.time_base is not None:
            # MP4 ends a track at the largest pts + duration, and FFmpeg gives packets
            # without a duration one frame at the average rate: seconds, for a sparse
            # source. Neither may stretch the video past the timeline.
            end = round(Fraction(self.total) / packet.time_base)
            if not packet.duration:
                packet.duration = max(1, round(self.frame_ticks * self.out_tb / packet.time_base))
            if packet.pts + packet.duration > end:
                packet.duration = max(1, end - int(packet.pts))
        if self._pending is not None:
            self.out.mux(self._pending)
        self._pending = packet

    def finish(self) -> None:
        self._drain()
        self._emit(self.selector.flush())
        if self.splice is not None:
            self._end_run()
        else:
            if self._filter is not None:
                for f in self._filter.push(None):
                    if isinstance(f, av.VideoFrame):
                        for packet in self.stream.encode(f):
                            self._mux_pending(packet)
            for packet in self.stream.encode(None):
                self._mux_pending(packet)
        if self._pending is not None:
            last = self._pending
            if last.pts is not None and last.time_base is not None:
                # The MP4 muxer ends the track at the last packet's pts + duration, even
                # when that packet (a B-frame) is not the last one shown.
                end = round(Fraction(self.total) / last.time_base)
                last.duration = max(1, end - int(last.pts))
            self.out.mux(last)
            self._pending = None
