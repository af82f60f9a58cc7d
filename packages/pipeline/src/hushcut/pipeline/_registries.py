"""Named implementations plugins register: detectors, renderers and timeline exporters.

Plugins register them through the ``hushcut_register_*`` hooks (datasette's
``register_output_renderer``, llm's ``register_models(register)``); a cut picks one by
name (``options.detector``, ``options.renderer``), so every one can be listed, and an
unknown name is refused before any work.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Generic, Protocol, TypeVar

from hushcut.pipeline._detect import Detection
from hushcut.pipeline._probe import MediaInfo
from hushcut.pipeline.errors import OptionsError, PluginOrigin
from hushcut.pipeline.options import CutOptions
from hushcut.pipeline.render import ProgressCallback, RenderResult, RenderSettings
from hushcut.pipeline.timeline import Timeline

#: Names users type (``--set detector=vad``): lower case, digits, ``-`` and ``_``.
NAME_PATTERN = re.compile(r"[a-z0-9][a-z0-9_-]*")

#: ``detect(source, media, options, progress)``: the silences of ``source``.
DetectFunction = Callable[[Path, MediaInfo, CutOptions, ProgressCallback], Detection]
#: ``render(source, output, timeline, settings, progress)``: writes ``output``.
RenderFunction = Callable[[Path, Path, Timeline, RenderSettings, ProgressCallback], RenderResult]
#: ``export(timeline, media, options)``: the file's content, text or bytes.
ExportFunction = Callable[[Timeline, MediaInfo, CutOptions], str | bytes]


@dataclass(frozen=True)
class Detector:
    """A way to find silences, chosen with ``options.detector``.

    ``detect`` returns a :class:`~hushcut.pipeline.Detection`; the pipeline sets its
    ``detector`` field to ``name``. It reports with ``progress("detect", fraction)``.
    """

    name: str
    detect: DetectFunction
    #: One line for ``hushcut plugins`` and the API's option schema.
    description: str = ""


@dataclass(frozen=True)
class Renderer:
    """A way to write the output, chosen with ``options.renderer``.

    ``render`` writes ``output`` (atomically: nothing partial on failure or cancel) and
    returns a :class:`~hushcut.pipeline.RenderResult`; it honours ``settings.mode`` if it
    has modes. ``extension`` (with its dot) and ``media_type`` describe the file it writes.
    """

    name: str
    render: RenderFunction
    extension: str
    media_type: str
    description: str = ""


@dataclass(frozen=True)
class Exporter:
    """A file format for a timeline (an edit decision list for another editor, say).

    ``export(timeline, media, options)`` returns the file's content: ``str`` (written as
    UTF-8) or ``bytes``. ``media`` describes the source the timeline cuts (frame rate,
    size, audio rate, path); ``options`` are the cut's options, with the exporter's own
    plugin options in ``options.plugins``.
    """

    name: str
    export: ExportFunction
    extension: str
    media_type: str
    description: str = ""


class Named(Protocol):
    @property
    def name(self) -> str: ...


T = TypeVar("T", bound=Named)


@dataclass(frozen=True)
class Registered(Generic[T]):
    """One registered implementation (a ``kind``: ``"detector"``...) and the plugin that
    registered it."""

    implementation: T
    kind: str
    plugin: str
    origin: PluginOrigin

    @property
    def name(self) -> str:
        return self.implementation.name


class Registry(Generic[T]):
    """The implementations of one kind (``"detector"``...) registered by every plugin, by name."""

    def __init__(self, kind: str, entries: list[Registered[T]]) -> None:
        self.kind = kind
        self._entries = {entry.name: entry for entry in entries}

    def __iter__(self) -> Iterator[Registered[T]]:
        return iter(self._entries.values())

    def names(self) -> list[str]:
        return list(self._entries)

    def get(self, name: str) -> Registered[T]:
        """The implementation called ``name``; OptionsError listing the known names if none is."""
        try:
            return self._entries[name]
        except KeyError:
            known = ", ".join(self._entries) or "none"
            raise OptionsError(
                f"no installed {self.kind} is called {name!r} "
                f"(installed {self.kind}s: {known}; see `hushcut plugins`)"
            ) from None
