"""Media helpers of the worker tests (the clips themselves come from the test kit)."""

from __future__ import annotations

from pathlib import Path

import av


def media_duration(path: Path) -> float:
    with av.open(str(path)) as container:
        assert container.duration is not None
        return container.duration / 1_000_000
