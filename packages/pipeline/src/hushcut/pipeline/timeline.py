"""The plan of an edit: which stretches of the source are kept, and at what speed."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from hushcut.pipeline.errors import TimelineError

TIMELINE_VERSION = 1
#: Slack (s) allowed past the end of the source: durations in headers are rounded.
END_TOLERANCE_S = 0.05
TIME_DECIMALS = 6
#: Durations are rounded to the millisecond, as everywhere the pipeline reports one.
DURATION_DECIMALS = 3


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
            "output_duration": round(self.output_duration, DURATION_DECIMALS),
            # Microseconds are finer than any sample; longer decimals only obscure the file.
            "segments": [
                {key: round(value, TIME_DECIMALS) for key, value in asdict(s).items()}
                for s in self.segments
            ],
            "meta": self.meta,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Timeline:
        """Parse the JSON form; TimelineError says what is wrong with it."""
        if not isinstance(data, dict):
            raise TimelineError("a timeline must be a JSON object")
        if data.get("version") != TIMELINE_VERSION:
            raise TimelineError(f"unsupported timeline version {data.get('version')!r}")
        try:
            segments = [
                Segment(float(s["start"]), float(s["end"]), float(s.get("speed", 1.0)))
                for s in data["segments"]
            ]
            source_duration = float(data["source_duration"])
        except KeyError as exc:
            raise TimelineError(f"timeline is missing {exc.args[0]!r}") from None
        except (TypeError, ValueError) as exc:
            raise TimelineError(f"timeline has a malformed value: {exc}") from None
        timeline = cls(
            source_duration=source_duration,
            segments=segments,
            source=data.get("source"),
            meta=dict(data.get("meta") or {}),
        )
        timeline.check()
        return timeline

    def check(self, source_duration: float | None = None) -> None:
        """Raise TimelineError unless segments are ordered, disjoint, non-empty, within the
        source (``source_duration`` if given, else the recorded one) and at positive speed."""
        limit = self.source_duration if source_duration is None else source_duration
        if not self.segments:
            raise TimelineError("timeline keeps nothing: it has no segments")
        previous_end = 0.0
        for number, segment in enumerate(self.segments, start=1):
            where = f"timeline segment {number} ({segment.start:g}-{segment.end:g} s)"
            if not (segment.speed > 0 and segment.speed < float("inf")):
                raise TimelineError(f"{where} has speed {segment.speed:g}; it must be above 0")
            if segment.start < 0 or segment.end <= segment.start:
                raise TimelineError(f"{where} must start at 0 or later and end after its start")
            if segment.start < previous_end - 1e-9:
                raise TimelineError(f"{where} overlaps or precedes the segment before it")
            if segment.end > limit + END_TOLERANCE_S:
                raise TimelineError(f"{where} ends after the source ({limit:.3f} s)")
            previous_end = segment.end

    def to_json(self) -> str:
        """The JSON file's text (what :meth:`write` writes and the ``json`` exporter returns)."""
        return json.dumps(self.to_dict(), indent=2) + "\n"

    def write(self, path: Path) -> None:
        path.write_text(self.to_json())

    @classmethod
    def read(cls, path: Path) -> Timeline:
        """Load a timeline file; TimelineError (one line) if it is not a valid timeline."""
        try:
            data = json.loads(Path(path).read_text())
        except json.JSONDecodeError as exc:
            raise TimelineError(f"{Path(path).name} is not valid JSON: {exc}") from None
        return cls.from_dict(data)
