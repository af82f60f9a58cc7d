"""Errors the pipeline raises for a person to act on: one clear line, no traceback."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


class PipelineError(Exception):
    """Base of every expected pipeline failure; ``str(err)`` is the message to show."""

    #: Whether trying the same input again could succeed (storage hiccups do, bad media not).
    transient: bool = False


class MediaError(PipelineError):
    """The input is not readable media: not a media file, truncated or corrupt."""


class NoAudioError(MediaError):
    """The input has no audio track, so there is no speech to find silences in."""


class OptionsError(PipelineError):
    """An option value is invalid (unknown name, wrong type, out of range)."""


@dataclass(frozen=True)
class PluginOrigin:
    """Where a plugin came from: built in, an installed distribution, or registered at runtime."""

    kind: Literal["built-in", "distribution", "runtime"]
    #: The distribution's name and version, and the entry point, for ``kind="distribution"``.
    distribution: str | None = None
    version: str | None = None
    entry_point: str | None = None

    @property
    def builtin(self) -> bool:
        return self.kind == "built-in"

    def __str__(self) -> str:
        if self.kind == "built-in":
            return "built-in"
        if self.kind == "runtime":
            return "registered at runtime"
        if self.distribution is None:
            return "unknown distribution"
        return f"{self.distribution} {self.version}" if self.version else self.distribution


BUILTIN = PluginOrigin("built-in")
RUNTIME = PluginOrigin("runtime")


class PluginError(PipelineError):
    """A plugin failed to load or misbehaved; the message names the plugin.

    The same facts are attributes, for programs: ``plugin`` (its name, None when the
    failure concerns no single plugin), ``origin`` (a :class:`PluginOrigin`: its
    distribution and version) and ``hook`` (the hook it failed in, when it failed in one).
    """

    def __init__(
        self,
        message: str,
        *,
        plugin: str | None = None,
        origin: PluginOrigin | None = None,
        hook: str | None = None,
    ) -> None:
        super().__init__(message)
        self.plugin = plugin
        self.origin = origin
        self.hook = hook

    @classmethod
    def about(
        cls,
        plugin: str,
        origin: PluginOrigin,
        problem: str,
        *,
        hook: str | None = None,
        entry_point: bool = False,
    ) -> PluginError:
        """``plugin 'name' (distribution version) <problem>``: the message every PluginError
        about one plugin starts with (a plugin registered at runtime has no parenthesis;
        ``entry_point`` adds the entry point, for failures while loading)."""
        return cls(
            f"{plugin_label(plugin, origin, entry_point=entry_point)} {problem}",
            plugin=plugin,
            origin=origin,
            hook=hook,
        )


def plugin_label(name: str, origin: PluginOrigin, *, entry_point: bool = False) -> str:
    """How messages name a plugin: ``plugin 'vad' (hushcut-vad 0.1.0)``."""
    if origin.kind == "runtime":
        return f"plugin {name!r}"
    where = str(origin)
    if entry_point and origin.entry_point:
        where += f", entry point {origin.entry_point}"
    return f"plugin {name!r} ({where})"


class RenderError(PipelineError):
    """Rendering the output failed."""


class CanceledError(PipelineError):
    """The caller asked the pipeline to stop (progress callback raised it)."""


class TimelineError(PipelineError, ValueError):
    """A timeline (e.g. a hand-edited JSON file) is malformed or does not fit the source."""
