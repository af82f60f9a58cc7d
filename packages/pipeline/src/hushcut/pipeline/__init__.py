"""Hushcut pipeline: find the silences in a recording and cut them out.

``probe`` describes a file, ``detect`` finds its silences, ``plan`` turns them into a
timeline of kept segments, ``analyze`` does both and measures the waveform (a preview
before rendering), and ``cut`` does it all and renders the output. Plugins
extend every step through the hooks in :mod:`hushcut.pipeline.hookspecs`.

The implementation lives in private modules (``_detect``, ``_plan``, ``_probe``...); the
names below are the public API, so a module never shares its name with a function.
"""

from __future__ import annotations

from hushcut.pipeline._analyze import Analysis, analyze
from hushcut.pipeline._audio import audio_frames, audio_samples
from hushcut.pipeline._capabilities import Capabilities, capabilities
from hushcut.pipeline._detect import Detection, detect_silences
from hushcut.pipeline._peaks import Peaks
from hushcut.pipeline._plan import plan_timeline
from hushcut.pipeline._probe import MediaInfo, StreamInfo, probe
from hushcut.pipeline._registries import Detector, Exporter, Renderer
from hushcut.pipeline.api import (
    CutResult,
    cut,
    default_plugin_manager,
    detect,
    export_timeline,
    plan,
)
from hushcut.pipeline.errors import (
    CanceledError,
    MediaError,
    NoAudioError,
    OptionsError,
    PipelineError,
    PluginError,
    PluginOrigin,
    RenderError,
    TimelineError,
)
from hushcut.pipeline.options import CutOptions, OptionSpec
from hushcut.pipeline.plugins import (
    HushcutPluginManager,
    get_plugin_manager,
    hookimpl,
    load_plugins,
)
from hushcut.pipeline.render import ProgressCallback, RenderResult, RenderSettings
from hushcut.pipeline.timeline import Segment, Timeline

__all__ = [
    "Analysis",
    "CanceledError",
    "Capabilities",
    "CutOptions",
    "CutResult",
    "Detection",
    "Detector",
    "Exporter",
    "HushcutPluginManager",
    "MediaError",
    "MediaInfo",
    "NoAudioError",
    "OptionSpec",
    "OptionsError",
    "Peaks",
    "PipelineError",
    "PluginError",
    "PluginOrigin",
    "ProgressCallback",
    "RenderError",
    "RenderResult",
    "RenderSettings",
    "Renderer",
    "Segment",
    "StreamInfo",
    "Timeline",
    "TimelineError",
    "analyze",
    "audio_frames",
    "audio_samples",
    "capabilities",
    "cut",
    "default_plugin_manager",
    "detect",
    "detect_silences",
    "export_timeline",
    "get_plugin_manager",
    "hookimpl",
    "load_plugins",
    "plan",
    "plan_timeline",
    "probe",
]
