"""FFmpeg filter chains from plugin strings ("highpass=f=80,loudnorm") as PyAV filter graphs."""

from __future__ import annotations

from fractions import Fraction
from typing import TYPE_CHECKING

import av
import av.error
from av.filter import Graph

from hushcut.pipeline.errors import RenderError

if TYPE_CHECKING:
    from av.filter.context import FilterContext


def parse_chain(text: str) -> list[tuple[str, str | None]]:
    """Split a linear filter chain into (filter name, arguments).

    Only linear chains are supported ("a=x,b=y"): a plugin adds processing steps, not
    graphs with several inputs. Commas inside quotes, brackets or after a backslash
    belong to the arguments, as in FFmpeg's own syntax.
    """
    parts: list[str] = []
    current: list[str] = []
    quote: str | None = None
    depth = 0
    escaped = False
    for ch in text:
        if escaped:
            current.append(ch)
            escaped = False
        elif ch == "\\":
            current.append(ch)
            escaped = True
        elif quote:
            current.append(ch)
            if ch == quote:
                quote = None
        elif ch in "'\"":
            current.append(ch)
            quote = ch
        elif ch in "([":
            depth += 1
            current.append(ch)
        elif ch in ")]":
            depth -= 1
            current.append(ch)
        elif ch == "," and depth == 0:
            parts.append("".join(current))
            current = []
        elif ch == ";" and depth == 0:
            raise RenderError(f"filter {text!r}: only a linear chain (a,b,c) is supported")
        else:
            current.append(ch)
    parts.append("".join(current))
    chain: list[tuple[str, str | None]] = []
    for part in (p.strip() for p in parts):
        if not part:
            continue
        if part.startswith("["):
            raise RenderError(f"filter {text!r}: link labels are not supported")
        name, sep, args = part.partition("=")
        chain.append((name.strip(), args if sep else None))
    return chain


def _add_chain(graph: Graph, filters: list[str]) -> list[FilterContext]:
    nodes: list[FilterContext] = []
    for text in filters:
        for name, args in parse_chain(text):
            try:
                nodes.append(graph.add(name, args) if args is not None else graph.add(name))
            except (av.error.FFmpegError, ValueError) as exc:
                raise RenderError(f"filter {name!r} in {text!r}: {exc}") from exc
    return nodes


Frame = av.AudioFrame | av.VideoFrame


class FrameFilter:
    """A configured chain: push frames in, pull what comes out (frames keep their pts)."""

    def __init__(self, graph: Graph) -> None:
        self._graph = graph

    def push(self, frame: Frame | None) -> list[Frame]:
        self._graph.push(frame)
        out: list[Frame] = []
        while True:
            try:
                out.append(self._graph.pull())
            except (av.error.BlockingIOError, av.error.EOFError):
                return out


def audio_filter(
    filters: list[str], *, sample_rate: int, layout: str, fmt: str = "fltp"
) -> FrameFilter:
    graph = Graph()
    src = graph.add_abuffer(
        sample_rate=sample_rate, format=fmt, layout=layout, time_base=Fraction(1, sample_rate)
    )
    nodes = [src, *_add_chain(graph, filters), graph.add("abuffersink")]
    graph.link_nodes(*nodes)
    _configure(graph, filters)
    return FrameFilter(graph)


def video_filter(
    filters: list[str],
    *,
    width: int,
    height: int,
    pix_fmt: str,
    time_base: Fraction,
) -> FrameFilter:
    graph = Graph()
    src = graph.add_buffer(
        width=width, height=height, format=av.VideoFormat(pix_fmt), time_base=time_base
    )
    nodes = [src, *_add_chain(graph, filters), graph.add("buffersink")]
    graph.link_nodes(*nodes)
    _configure(graph, filters)
    return FrameFilter(graph)


def _configure(graph: Graph, filters: list[str]) -> None:
    try:
        graph.configure()
    except (av.error.FFmpegError, ValueError) as exc:
        raise RenderError(f"filters {', '.join(filters)!r} cannot be applied: {exc}") from exc
