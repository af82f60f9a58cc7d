"""hushcut-vad: a Hushcut detector that finds silences by WebRTC voice activity detection."""

from __future__ import annotations

from hushcut_vad.detector import DETECTOR_NAME, VadSettings, classify_frames, detect_silences

__all__ = ["DETECTOR_NAME", "VadSettings", "classify_frames", "detect_silences"]
