"""The plugin author's test kit: sample media with ground truth, isolated plugin managers,
scoring. In the spirit of pytest's ``pytester``; the fixtures come with
``pytest_plugins = ["hushcut.pipeline.testing.pytest_plugin"]`` (see docs/plugins.md).

Sample media are made by construction, so what they hold is known exactly: a talk of
sentences (espeak-ng, or a synthesized voice when espeak-ng is absent) with pauses of
known length over pink noise at a chosen floor, encoded with PyAV into any container and
codec, each file with its ground truth (``.json``) beside it::

    from hushcut.pipeline.testing import MediaSpec, GroundTruth, generate, score_against_truth

    talk = generate(MediaSpec(duration=20, noise_dbfs=-42))
    score = score_against_truth(detect(talk).silences, talk)   # F1 over seconds
    GroundTruth.load(talk).silences                            # the inserted pauses

Files are generated once and cached (``$HUSHCUT_TEST_MEDIA_CACHE``, by default
``~/.cache/hushcut/test-media``), keyed by every parameter and the generator's version.
"""

from __future__ import annotations

from hushcut.pipeline.testing._media import (
    CACHE_ENV,
    GroundTruth,
    SampleMedia,
    cache_dir,
    generate,
    media_path,
    pink_noise,
    read_frame_number,
    sample,
)
from hushcut.pipeline.testing._plugins import (
    PluginManagers,
    isolated_plugin_manager,
    use_plugin_manager,
)
from hushcut.pipeline.testing._scoring import Score, score_against_truth, score_silences
from hushcut.pipeline.testing._spec import (
    GENERATOR_VERSION,
    SAMPLES,
    TALK,
    AudioSpec,
    MediaSpec,
    VideoSpec,
)

__all__ = [
    "CACHE_ENV",
    "GENERATOR_VERSION",
    "SAMPLES",
    "TALK",
    "AudioSpec",
    "GroundTruth",
    "MediaSpec",
    "PluginManagers",
    "SampleMedia",
    "Score",
    "VideoSpec",
    "cache_dir",
    "generate",
    "isolated_plugin_manager",
    "media_path",
    "pink_noise",
    "read_frame_number",
    "sample",
    "score_against_truth",
    "score_silences",
    "use_plugin_manager",
]
