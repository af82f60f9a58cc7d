"""EBU R128 two-pass loudness normalisation of a rendered file with FFmpeg's filters via PyAV.

Pass one measures the file with FFmpeg's ``ebur128`` meter (integrated loudness, loudness
range, true peak). Pass two feeds those numbers to FFmpeg's ``loudnorm`` filter, which
applies one constant gain when that reaches the target without breaking the true-peak
limit or the loudness range ("linear" mode), and otherwise normalises dynamically with
its true-peak limiter. The video stream is copied untouched; the audio is re-encoded AAC.
"""

from __future__ import annotations

import itertools
import math
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import av
import av.error
from av.filter import Graph

from hushcut.pipeline import MediaError, PipelineError

if TYPE_CHECKING:
    from av.audio.stream import AudioStream

#: ebur128 reports this (its absolute gate) for a file with no audible sound at all.
SILENT_LUFS = -70.0
#: AAC bitrate of the re-encoded audio when the input does not declare one.
DEFAULT_AUDIO_BITRATE = 160_000
#: Layouts FFmpeg's AAC encoder takes as they are; others are downmixed to stereo.
AAC_LAYOUTS = frozenset(
    {"mono", "stereo", "3.0", "4.0", "5.0", "5.0(side)", "5.1", "5.1(side)", "7.1"}
)
#: Samples per AAC frame: the filter graph hands the encoder frames of exactly this size.
AAC_FRAME = 1024

FractionCallback = Callable[[float], None]


class LoudnessError(PipelineError):
    """Normalising the loudness failed; the message says why in one line."""


@dataclass(frozen=True)
class Loudness:
    """An EBU R128 measurement: integrated loudness (LUFS), loudness range (LU) and the
    highest true peak over all channels (dBTP)."""

    integrated_lufs: float
    range_lu: float
    true_peak_dbtp: float

    @property
    def silent(self) -> bool:
        return self.integrated_lufs <= SILENT_LUFS + 0.01


@dataclass(frozen=True)
class LoudnormTarget:
    """What the output should measure: ``integrated_lufs`` (-70..-5), at most
    ``true_peak_dbtp`` (-9..0), with a loudness range of at most ``range_lu`` (1..50)."""

    integrated_lufs: float = -16.0
    true_peak_dbtp: float = -1.5
    range_lu: float = 11.0

    def mode_for(self, measured: Loudness) -> Literal["linear", "dynamic"]:
        """Which ``loudnorm`` mode a file measuring ``measured`` gets (FFmpeg's own rule):
        linear when one gain reaches the target without exceeding the peak and range."""
        gain = self.integrated_lufs - measured.integrated_lufs
        if measured.true_peak_dbtp + gain <= self.true_peak_dbtp and (
            measured.range_lu <= self.range_lu
        ):
            return "linear"
        return "dynamic"


@dataclass(frozen=True)
class Normalisation:
    """What normalising one file did."""

    before: Loudness
    target: LoudnormTarget
    mode: Literal["linear", "dynamic", "skipped"]

    def describe(self) -> str:
        if self.mode == "skipped":
            return "loudnorm: the output is silent, loudness left as it was"
        return (
            f"loudnorm: normalised to {self.target.integrated_lufs:g} LUFS "
            f"({self.mode}; was {self.before.integrated_lufs:.1f} LUFS, "
            f"true peak {self.before.true_peak_dbtp:.1f} dBTP)"
        )


def measure(path: Path, progress: FractionCallback | None = None) -> Loudness:
    """Measure the first audio stream of ``path`` with FFmpeg's ``ebur128`` filter."""
    last: dict[str, str] = {}
    with _open(path) as container:
        stream = _audio_stream(container, path)
        graph = _graph(stream, [("ebur128", "peak=true:metadata=1")])
        duration = _duration(container, stream)
        for frame in _decoded(container, stream, path, duration, progress):
            for out in _push(graph, frame):
                if out.metadata:
                    last = dict(out.metadata)
        for out in _push(graph, None):
            if out.metadata:
                last = dict(out.metadata)
    if "lavfi.r128.I" not in last:
        raise LoudnessError(f"{path.name}: the audio is too short to measure its loudness")
    peak = float(last.get("lavfi.r128.true_peak", "0"))
    return Loudness(
        integrated_lufs=float(last["lavfi.r128.I"]),
        range_lu=float(last.get("lavfi.r128.LRA", "0")),
        true_peak_dbtp=20 * math.log10(peak) if peak > 0 else -math.inf,
    )


def normalise(
    path: Path, target: LoudnormTarget, progress: FractionCallback | None = None
) -> Normalisation:
    """Normalise the loudness of ``path`` to ``target``, replacing the file atomically.

    The rewritten file is written beside ``path`` and moved over it only when complete,
    so a failure leaves the original untouched. ``progress`` gets 0..1 over both passes.
    """
    path = Path(path)
    first = (lambda f: progress(f / 2)) if progress else None
    second = (lambda f: progress(0.5 + f / 2)) if progress else None
    before = measure(path, first)
    if before.silent:
        if progress:
            progress(1.0)
        return Normalisation(before, target, "skipped")
    partial = path.with_name(f".{path.name}.{os.getpid()}.loudnorm.part")
    try:
        _rewrite(path, partial, _loudnorm_filter(before, target), second)
        os.replace(partial, path)
    except av.error.FFmpegError as exc:
        raise LoudnessError(f"{path.name}: loudness normalisation failed ({exc})") from exc
    finally:
        partial.unlink(missing_ok=True)
    return Normalisation(before, target, target.mode_for(before))


def _loudnorm_filter(measured: Loudness, target: LoudnormTarget) -> str:
    # ebur128 reports no gating threshold; loudnorm uses measured_thresh only to tell a
    # real first pass from its "not measured" default (-70), so the relative gate of
    # BS.1770 (10 LU below the integrated loudness) stands in for it.
    true_peak = max(measured.true_peak_dbtp, -99.0)
    return (
        f"loudnorm=I={target.integrated_lufs}:TP={target.true_peak_dbtp}:LRA={target.range_lu}"
        f":measured_I={measured.integrated_lufs:.2f}:measured_LRA={measured.range_lu:.2f}"
        f":measured_TP={true_peak:.2f}:measured_thresh={measured.integrated_lufs - 10:.2f}"
        ":linear=true:print_format=none"
    )


def _rewrite(source: Path, target: Path, loudnorm: str, progress: FractionCallback | None) -> None:
    """Copy ``source`` to ``target``: video packets as they are, audio through ``loudnorm``."""
    with (
        _open(source) as inp,
        av.open(str(target), "w", format="mp4", options={"movflags": "+faststart"}) as out,
    ):
        audio_in = _audio_stream(inp, source)
        video_in = next((s for s in inp.streams.video if not _is_cover(s)), None)
        rate = int(audio_in.codec_context.sample_rate or audio_in.sample_rate or 48_000)
        channels = audio_in.codec_context.channels or 2
        layout = audio_in.codec_context.layout.name if audio_in.codec_context.layout else ""
        if channels == 1:
            layout = "mono"
        elif channels == 2 or layout not in AAC_LAYOUTS:
            layout = "stereo"
        video_out = out.add_stream_from_template(video_in) if video_in is not None else None
        audio_out = out.add_stream("aac", rate=rate)
        audio_out.codec_context.layout = layout
        audio_out.codec_context.bit_rate = audio_in.codec_context.bit_rate or DEFAULT_AUDIO_BITRATE
        audio_out.time_base = Fraction(1, rate)
        # loudnorm works at 192 kHz in dynamic mode: bring it back to the input's format,
        # and in encoder-sized frames.
        graph = _graph(
            audio_in,
            [
                ("loudnorm", loudnorm.partition("=")[2]),
                ("aresample", str(rate)),
                ("aformat", f"sample_fmts=fltp:channel_layouts={layout}"),
                ("asetnsamples", f"n={AAC_FRAME}:p=0"),
            ],
        )
        written = 0
        duration = _duration(inp, audio_in)
        streams = [audio_in] if video_out is None else [audio_in, video_in]
        for packet in inp.demux(*streams):
            if packet.stream is video_in and video_out is not None:
                if packet.dts is None:
                    continue  # the demuxer's end-of-stream marker, not data
                packet.stream = video_out
                out.mux(packet)
                continue
            for frame in _decode_packet(audio_in, packet, source):
                for filtered in _push(graph, frame):
                    written = _encode(out, audio_out, filtered, written)
                if progress and frame.time is not None and duration:
                    progress(min(frame.time / duration, 1.0))
        for filtered in _push(graph, None):
            written = _encode(out, audio_out, filtered, written)
        out.mux(audio_out.encode(None))
    if progress:
        progress(1.0)


def _encode(
    out: av.container.OutputContainer, stream: AudioStream, frame: av.AudioFrame, at: int
) -> int:
    frame.pts = at
    frame.time_base = Fraction(1, stream.codec_context.sample_rate)
    out.mux(stream.encode(frame))
    return at + frame.samples


def _open(path: Path) -> av.container.InputContainer:
    if not path.is_file():
        raise MediaError(f"{path}: no such file")
    try:
        return av.open(str(path))
    except av.error.FFmpegError as exc:
        raise MediaError(f"{path.name}: cannot be read as media ({exc})") from exc


def _audio_stream(container: av.container.InputContainer, path: Path) -> AudioStream:
    if not container.streams.audio:
        raise LoudnessError(f"{path.name} has no audio to normalise")
    return container.streams.audio[0]


def _is_cover(stream: av.stream.Stream) -> bool:
    return bool(stream.disposition & av.stream.Disposition.attached_pic)


def _duration(container: av.container.InputContainer, stream: AudioStream) -> float:
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    return container.duration / av.time_base if container.duration else 0.0


def _graph(stream: AudioStream, chain: list[tuple[str, str]]) -> Graph:
    graph = Graph()
    nodes = [graph.add_abuffer(template=stream)]
    nodes += [graph.add(name, args) for name, args in chain]
    nodes.append(graph.add("abuffersink"))
    for upstream, downstream in itertools.pairwise(nodes):
        upstream.link_to(downstream)
    graph.configure()
    return graph


def _push(graph: Graph, frame: av.AudioFrame | None) -> Iterator[av.AudioFrame]:
    """Feed ``frame`` (None flushes) and yield every frame the graph has ready."""
    graph.push(frame)
    while True:
        try:
            out = graph.pull()
        except (av.error.BlockingIOError, av.error.EOFError):
            return
        if isinstance(out, av.AudioFrame):
            yield out


def _decode_packet(stream: AudioStream, packet: av.Packet[Any], path: Path) -> list[av.AudioFrame]:
    try:
        return list(stream.decode(packet))
    except av.error.InvalidDataError:
        return []  # one damaged packet: the rest of the audio is still worth normalising
    except av.error.FFmpegError as exc:
        raise MediaError(f"{path.name}: audio cannot be decoded ({exc})") from exc


def _decoded(
    container: av.container.InputContainer,
    stream: AudioStream,
    path: Path,
    duration: float,
    progress: FractionCallback | None,
) -> Iterator[av.AudioFrame]:
    for packet in container.demux(stream):
        for frame in _decode_packet(stream, packet, path):
            yield frame
            if progress and frame.time is not None and duration:
                progress(min(frame.time / duration, 1.0))
