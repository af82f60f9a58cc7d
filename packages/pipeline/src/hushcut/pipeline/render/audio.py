"""Sample-accurate audio for a timeline: cut, tempo-change, filter and encode in one pass."""

from __future__ import annotations

from fractions import Fraction
from typing import TYPE_CHECKING, Any

import av
import av.error
import numpy as np

from hushcut.pipeline.errors import RenderError
from hushcut.pipeline.render.filters import FrameFilter, audio_filter

if TYPE_CHECKING:
    from av.audio.stream import AudioStream
    from av.container import OutputContainer
    from av.packet import Packet as StreamPacket

    from hushcut.pipeline.timeline import Segment

    #: A packet of any stream (PyAV types packets by their stream).
    Packet = StreamPacket[Any]

#: Layouts FFmpeg's AAC encoder accepts as they are; anything else is downmixed to stereo.
_AAC_LAYOUTS = {"mono", "stereo", "3.0", "4.0", "5.0(side)", "5.1(side)", "5.0", "5.1", "7.1"}
#: Encoders that take mono or stereo only (more channels are downmixed to stereo).
_STEREO_ONLY = {"libmp3lame", "libopus"}
#: Sample formats in order of preference when the encoder offers several.
_FORMAT_PREFERENCE = ("fltp", "flt", "s32p", "s32", "s16p", "s16", "u8")
#: A pts jump larger than this (in seconds) is a real gap or overlap in the source audio
#: (joined recordings, dropped packets), not timestamp rounding (MKV rounds to 1 ms): the
#: audio then follows the timestamps, as the video does, so the two stay together.
_GAP_TOLERANCE = 0.004


def atempo_chain(speed: float) -> list[str]:
    """``atempo`` stages for ``speed``: each stage accepts 0.5..100, so chain for extremes."""
    stages: list[str] = []
    while speed < 0.5:
        stages.append("atempo=0.5")
        speed /= 0.5
    while speed > 100.0:
        stages.append("atempo=100")
        speed /= 100.0
    stages.append(f"atempo={speed:.9g}")
    return stages


#: From this bitrate on the AAC encoder uses its "fast" coder (see AudioRenderer).
FAST_CODER_MIN_BITRATE = 96_000


def encoder_name(codec: str, source: AudioStream) -> str:
    """The FFmpeg encoder for an output codec; ``"pcm"`` keeps a PCM source's format."""
    if codec != "pcm":
        return codec
    name = source.codec_context.name
    if name.startswith("pcm_") and name.endswith("le"):
        try:
            av.Codec(name, "w")
            return name
        except (ValueError, av.error.FFmpegError):
            pass
    return "pcm_s16le"


def _output_layout(encoder: str, channels: int, layout: str) -> str:
    if channels == 1:
        return "mono"
    if channels == 2 or encoder in _STEREO_ONLY:
        return "stereo"
    if encoder == "aac":
        return layout if layout in _AAC_LAYOUTS else "stereo"
    return layout or "stereo"


def _sample_format(codec: av.Codec) -> str:
    offered = [f.name for f in codec.audio_formats or ()]
    return next((f for f in _FORMAT_PREFERENCE if f in offered), offered[0] if offered else "fltp")


def _sample_rate(codec: av.Codec, rate: int) -> int:
    rates = list(codec.audio_rates or ())
    if not rates or rate in rates:
        return rate
    return 48_000 if 48_000 in rates else max(rates)


class AudioRenderer:
    """Turns one decoded audio stream into an output audio stream (AAC, Opus, MP3, PCM...).

    Each segment maps to an exact range of output samples, computed from the
    segment's start on the *output* timeline, so rounding never accumulates over
    many cuts: after any number of cuts the audio sits where the video does.
    """

    def __init__(
        self,
        source: AudioStream,
        output: OutputContainer,
        segments: list[Segment],
        out_starts: list[float],
        filters: list[str],
        bitrate: int,
        codec: str = "aac",
    ) -> None:
        ctx = source.codec_context
        self.rate = int(ctx.sample_rate or source.sample_rate or 48_000)
        encoder = encoder_name(codec, source)
        layout = _output_layout(encoder, ctx.channels or 2, ctx.layout.name if ctx.layout else "")
        self.layout = layout
        self.decoder = ctx
        self._canon = av.AudioResampler(format="fltp", layout=layout, rate=self.rate)
        enc_codec = av.Codec(encoder, "w")
        enc_rate = _sample_rate(enc_codec, self.rate)
        stream = output.add_stream(encoder, rate=enc_rate)
        assert isinstance(stream, av.AudioStream)
        self.stream = stream
        self.stream.codec_context.layout = layout
        enc_format = _sample_format(enc_codec)
        self.stream.codec_context.format = enc_format
        if not encoder.startswith("pcm_") and encoder != "flac":
            self.stream.codec_context.bit_rate = bitrate
        if encoder == "aac" and bitrate >= FAST_CODER_MIN_BITRATE:
            # FFmpeg's own AAC encoder: its "fast" coder costs a third of the CPU of
            # "twoloop" (measured: 1.6 vs 5.3 cpu-s for 213 s of stereo) and, by its
            # authors' account, sounds better at these bitrates; twoloop only helps
            # below about 64 kb/s.
            self.stream.codec_context.options = {"aac_coder": "fast"}
        self.stream.time_base = Fraction(1, enc_rate)
        for key in ("language", "title"):
            if key in source.metadata:
                self.stream.metadata[key] = source.metadata[key]
        self._final = av.AudioResampler(format=enc_format, layout=layout, rate=enc_rate)
        self._fifo = av.AudioFifo()
        self._enc_pts = 0
        self._user: FrameFilter | None = (
            audio_filter(filters, sample_rate=self.rate, layout=layout) if filters else None
        )

        self._segments = segments
        bounds = [round(o * self.rate) for o in out_starts]
        self._out_len = [bounds[i + 1] - bounds[i] for i in range(len(segments))]
        self._src_range: list[tuple[int, int]] = []
        for seg, length in zip(segments, self._out_len, strict=True):
            lo = round(seg.start * self.rate)
            hi = lo + length if seg.speed == 1.0 else round(seg.end * self.rate)
            self._src_range.append((lo, hi))
        self._seg = 0
        self._seg_written = 0
        self._tempo: FrameFilter | None = None
        self._pos: int | None = None  # source sample index of the next decoded sample
        self._source_tb: float | None = None
        self._out_count = 0
        self.packets_out = 0

    @property
    def done(self) -> bool:
        return self._seg >= len(self._segments)

    # -- input side ---------------------------------------------------------------------
    def feed(self, packet: Packet | None) -> list[Packet]:
        out: list[Packet] = []
        try:
            frames = self.decoder.decode(packet)
        except av.error.InvalidDataError:
            return out  # a damaged audio packet: the gap logic below keeps sync
        for frame in frames:
            out += self._source_frame(frame)
        return out

    def _source_frame(self, frame: av.AudioFrame) -> list[Packet]:
        out: list[Packet] = []
        if frame.pts is not None and frame.time_base is not None:
            if self._source_tb is None:
                self._source_tb = float(frame.time_base)
            at = round(frame.pts * self._source_tb * self.rate)
        else:
            at = self._pos if self._pos is not None else 0
        for canon in self._canon.resample(frame):
            data = canon.to_ndarray()
            if self._pos is None:
                self._pos = at
            elif abs(at - self._pos) > _GAP_TOLERANCE * self.rate:
                if at > self._pos:
                    gap = np.zeros((data.shape[0], at - self._pos), dtype=np.float32)
                    out += self._cut(gap, self._pos)
                    self._pos = at
                else:
                    data = data[:, self._pos - at :]
            if data.shape[1]:
                out += self._cut(data, self._pos)
                self._pos += data.shape[1]
            at = self._pos
        return out

    def _cut(self, data: np.ndarray, pos: int) -> list[Packet]:
        out: list[Packet] = []
        n = data.shape[1]
        while self._seg < len(self._segments):
            lo, hi = self._src_range[self._seg]
            if pos + n <= lo:
                break
            if pos >= hi:
                out += self._finish_segment()
                continue
            a, b = max(pos, lo), min(pos + n, hi)
            out += self._segment_samples(data[:, a - pos : b - pos])
            if b < hi:
                break
            out += self._finish_segment()
        return out

    # -- per segment: tempo and exact length --------------------------------------------
    def _segment_samples(self, data: np.ndarray) -> list[Packet]:
        seg = self._segments[self._seg]
        if seg.speed == 1.0:
            return self._emit_segment(data)
        if self._tempo is None:
            # aformat pins the output to planar float so samples can be sliced per channel.
            pin = f"aformat=sample_fmts=fltp:channel_layouts={self.layout}"
            chain = [*atempo_chain(seg.speed), pin]
            self._tempo = audio_filter(chain, sample_rate=self.rate, layout=self.layout)
        out: list[Packet] = []
        for frame in self._tempo.push(self._frame(data, self._seg_written)):
            out += self._emit_segment(frame.to_ndarray())
        return out

    def _emit_segment(self, data: np.ndarray) -> list[Packet]:
        room = self._out_len[self._seg] - self._seg_written
        if room <= 0:
            return []
        data = data[:, :room]
        self._seg_written += data.shape[1]
        return self._emit(data)

    def _finish_segment(self) -> list[Packet]:
        out: list[Packet] = []
        if self._tempo is not None:
            for frame in self._tempo.push(None):
                out += self._emit_segment(frame.to_ndarray())
            self._tempo = None
        missing = self._out_len[self._seg] - self._seg_written
        if missing > 0:
            # Source audio ended (or had a hole) inside a kept segment: silence keeps sync.
            out += self._emit_segment(np.zeros((self._channels(), missing), dtype=np.float32))
        self._seg += 1
        self._seg_written = 0
        return out

    def _channels(self) -> int:
        return len(av.AudioLayout(self.layout).channels)

    # -- output side: filters, fifo, encoder --------------------------------------------
    def _frame(self, data: np.ndarray, pts: int) -> av.AudioFrame:
        frame = av.AudioFrame.from_ndarray(
            np.ascontiguousarray(data, dtype=np.float32), format="fltp", layout=self.layout
        )
        frame.sample_rate = self.rate
        frame.time_base = Fraction(1, self.rate)
        frame.pts = pts
        return frame

    def _emit(self, data: np.ndarray) -> list[Packet]:
        if not data.shape[1]:
            return []
        frame = self._frame(data, self._out_count)
        self._out_count += data.shape[1]
        frames: list[av.AudioFrame | av.VideoFrame] = (
            self._user.push(frame) if self._user else [frame]
        )
        return self._encode_frames(frames)

    def _encode_frames(self, frames: list[av.AudioFrame | av.VideoFrame]) -> list[Packet]:
        for frame in frames:
            if not isinstance(frame, av.AudioFrame):
                raise RenderError("an audio filter produced video")
            for converted in self._final.resample(frame):
                converted.pts = None
                self._fifo.write(converted)
        return self._drain_fifo(final=False)

    def _drain_fifo(self, *, final: bool) -> list[Packet]:
        out: list[Packet] = []
        # The container opens the encoder before any audio arrives (start_encoding), so
        # its frame size is known: Opus takes exactly 960 samples, MP3 1152, AAC 1024.
        size = self.stream.codec_context.frame_size or 1024
        while self._fifo.samples >= size or (final and self._fifo.samples):
            chunk = self._fifo.read(min(size, self._fifo.samples))
            if chunk is None:
                break
            chunk.pts = self._enc_pts
            chunk.time_base = Fraction(1, self.stream.codec_context.sample_rate)
            self._enc_pts += chunk.samples
            out += self.stream.encode(chunk)
        return out

    def finish(self) -> list[Packet]:
        """Flush everything: pads segments the source audio never reached with silence."""
        out = self.feed(None)
        while self._seg < len(self._segments):
            out += self._finish_segment()
        if self._user is not None:
            out += self._encode_frames(self._user.push(None))
        for converted in self._final.resample(None):
            converted.pts = None
            self._fifo.write(converted)
        out += self._drain_fifo(final=True)
        out += self.stream.encode(None)
        return out

    @property
    def output_samples(self) -> int:
        return self._out_count
