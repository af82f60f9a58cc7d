"""Errors the pipeline raises for a person to act on: one clear line, no traceback."""

from __future__ import annotations


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


class PluginError(PipelineError):
    """A plugin failed to load or misbehaved; the message names the plugin."""


class RenderError(PipelineError):
    """Rendering the output failed."""


class CanceledError(PipelineError):
    """The caller asked the pipeline to stop (progress callback raised it)."""


class TimelineError(PipelineError, ValueError):
    """A timeline (e.g. a hand-edited JSON file) is malformed or does not fit the source."""
