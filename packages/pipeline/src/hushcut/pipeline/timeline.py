"""The plan of an edit: which stretches of the source are kept, and at what speed."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

TIMELINE_VERSION = 1


@dataclass(frozen=True)
class Segment:
    """A stretch of the source, in seconds, played at ``speed`` (1.0 = unchanged)."""

    start: float
    end: float
    speed: float = 1.0

    @property
    def source_duration(self) -> float:
        return self.end - self.start

    @property
    def output_duration(self) -> float:
        return (self.end - self.start) / self.speed


@dataclass
class Timeline:
    """Kept segments of one source, in source order, non-overlapping.

    This is what ``hushcut cut --timeline FILE.json`` writes and what a hand-edited
    file feeds back into rendering; ``docs/pipeline.md`` documents the format.
    """

    source_duration: float
    segments: list[Segment]
    source: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def output_duration(self) -> float:
        return sum(s.output_duration for s in self.segments)

    @property
    def removed_duration(self) -> float:
        return self.source_duration - self.output_duration

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": TIMELINE_VERSION,
            "source": self.source,
            "source_duration": self.source_duration,
            "output_duration": self.output_duration,
            "segments": [asdict(s) for s in self.segments],
            "meta": self.meta,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Timeline:
        if data.get("version") != TIMELINE_VERSION:
            raise ValueError(f"unsupported timeline version {data.get('version')!r}")
        segments = [
            Segment(float(s["start"]), float(s["end"]), float(s.get("speed", 1.0)))
            for s in data["segments"]
        ]
        return cls(
            source_duration=float(data["source_duration"]),
            segments=segments,
            source=data.get("source"),
            meta=dict(data.get("meta") or {}),
        )

    def write(self, path: Path) -> None:
        path.write_text(json.dumps(self.to_dict(), indent=2) + "\n")

    @classmethod
    def read(cls, path: Path) -> Timeline:
        return cls.from_dict(json.loads(path.read_text()))
