"""hushcut-loudnorm: a Hushcut plugin that normalises the output's loudness (EBU R128)."""

from __future__ import annotations

from hushcut_loudnorm.normalise import (
    Loudness,
    LoudnessError,
    LoudnormTarget,
    Normalisation,
    measure,
    normalise,
)

__all__ = ["Loudness", "LoudnessError", "LoudnormTarget", "Normalisation", "measure", "normalise"]
