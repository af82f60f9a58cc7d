"""Scoring a silence detector against ground truth: precision, recall and F1 over seconds."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from hushcut.pipeline.testing._media import GroundTruth

#: Scoring resolution: 1 ms is far below any detector's window.
RESOLUTION_S = 0.001

Interval = Sequence[float]


@dataclass(frozen=True)
class Score:
    """Overlap of detected silent time with the truth, in seconds and ratios."""

    precision: float
    recall: float
    f1: float
    true_positive_s: float
    false_positive_s: float
    false_negative_s: float

    def __str__(self) -> str:
        return (
            f"F1 {self.f1:.4f} (precision {self.precision:.4f}, recall {self.recall:.4f}; "
            f"missed {self.false_negative_s:.2f} s, extra {self.false_positive_s:.2f} s)"
        )


def _mask(intervals: Iterable[Interval], n: int) -> npt.NDArray[np.bool_]:
    mask = np.zeros(n, dtype=bool)
    for start, end in intervals:
        a = max(0, round(start / RESOLUTION_S))
        b = min(n, round(end / RESOLUTION_S))
        if b > a:
            mask[a:b] = True
    return mask


def score_silences(
    detected: Iterable[Interval],
    truth: Iterable[Interval],
    duration: float,
    dont_care: Iterable[Interval] = (),
) -> Score:
    """Score ``detected`` silences against ``truth``; time inside ``dont_care`` counts for
    neither side (e.g. the pauses inside sentences that a detector may legitimately find)."""
    n = round(duration / RESOLUTION_S) + 1
    found = _mask(detected, n)
    real = _mask(truth, n)
    ignored = _mask(dont_care, n) & ~real
    tp = float(np.count_nonzero(found & real)) * RESOLUTION_S
    fp = float(np.count_nonzero(found & ~real & ~ignored)) * RESOLUTION_S
    fn = float(np.count_nonzero(~found & real)) * RESOLUTION_S
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return Score(precision, recall, f1, tp, fp, fn)


def score_against_truth(detected: Iterable[Interval], truth: GroundTruth | Path | str) -> Score:
    """Score against a ground truth: a :class:`GroundTruth`, a generated file (its
    ``.json`` beside it) or a truth ``.json`` (also ``make_talk.py``'s ``talk1.json``)."""
    if not isinstance(truth, GroundTruth):
        truth = GroundTruth.load(truth)
    return score_silences(detected, truth.silences, truth.duration, dont_care=truth.dont_care)
