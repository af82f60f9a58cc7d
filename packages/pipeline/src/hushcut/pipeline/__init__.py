"""Hushcut pipeline: find the silences in a recording and cut them out.

``probe`` describes a file, ``detect`` finds its silences, ``plan`` turns them into a
timeline of kept segments, and ``cut`` does it all and renders the output. Plugins
extend every step through the hooks in :mod:`hushcut.pipeline.hookspecs`.
"""

from __future__ import annotations

# The modules named like the API functions are loaded first: a module imported for the
# first time later (plugins import them) would replace the function of the same name here.
from hushcut.pipeline import detect as _detect_module  # noqa: F401
from hushcut.pipeline import plan as _plan_module  # noqa: F401
from hushcut.pipeline import probe as _probe_module  # noqa: F401
from hushcut.pipeline.api import CutResult, cut, default_plugin_manager, detect, plan
from hushcut.pipeline.detect import Detection
from hushcut.pipeline.errors import (
    CanceledError,
    MediaError,
    NoAudioError,
    OptionsError,
    PipelineError,
    PluginError,
    RenderError,
    TimelineError,
)
from hushcut.pipeline.options import CutOptions, OptionSpec
from hushcut.pipeline.plugins import get_plugin_manager, hookimpl, load_plugins
from hushcut.pipeline.probe import MediaInfo, StreamInfo, probe
from hushcut.pipeline.render import ProgressCallback, RenderResult, RenderSettings
from hushcut.pipeline.timeline import Segment, Timeline

__all__ = [
    "CanceledError",
    "CutOptions",
    "CutResult",
    "Detection",
    "MediaError",
    "MediaInfo",
    "NoAudioError",
    "OptionSpec",
    "OptionsError",
    "PipelineError",
    "PluginError",
    "ProgressCallback",
    "RenderError",
    "RenderResult",
    "RenderSettings",
    "Segment",
    "StreamInfo",
    "Timeline",
    "TimelineError",
    "cut",
    "default_plugin_manager",
    "detect",
    "get_plugin_manager",
    "hookimpl",
    "load_plugins",
    "plan",
    "probe",
]
