"""hushcut-speedup: a Hushcut plugin that plays silences faster instead of cutting them."""

from __future__ import annotations

from hushcut_speedup.timeline import MAX_FACTOR, speed_up_gaps

__all__ = ["MAX_FACTOR", "speed_up_gaps"]
