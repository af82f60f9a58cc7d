"""Media helpers of the worker tests (the clips themselves come from the test kit)."""

from __future__ import annotations

from pathlib import Path

import av

#: The worker tests' and the worker bench's job: a 6 s talk at 320x180 (1 s GOPs, x264
#: ultrafast) whose pauses (at least 2 s between sentences, lead-in and tail) a cut
#: visibly removes. Changes to the test kit's default talk (``sample_media("talk", ...)``).
TALK_CLIP = {
    "duration": 6.0,
    "seed": 4,
    "pause_min": 2.0,
    "pause_max": 2.5,
    "video": {"width": 320, "height": 180, "gop": 30, "preset": "ultrafast"},
}


def media_duration(path: Path) -> float:
    with av.open(str(path)) as container:
        assert container.duration is not None
        return container.duration / 1_000_000
