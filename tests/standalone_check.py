"""Run by `nox -s pipeline_standalone` inside a venv holding only hushcut-pipeline.

Uses the installed `hushcut` command the way a library user would: help, `detect --json`
on a talk, and `cut` on a video (through an edited timeline, to stay quick) and on an
audio-only recording (the whole pipeline). The media come from the wheel's own test kit
(`hushcut.pipeline.testing`, which needs no pytest), so the check also proves the kit
works from a plain install; its cache is shared with the test suite's.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

from hushcut.pipeline.testing import GroundTruth, generate, sample, score_against_truth


def hushcut(*args: str) -> str:
    """Run `hushcut ARGS`; stop with its stderr if it fails."""
    result = subprocess.run(["hushcut", *args], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        sys.exit(f"hushcut {' '.join(args)} failed ({result.returncode}):\n{result.stderr}")
    return result.stdout


def main() -> None:
    print(hushcut("--help"))
    talk = generate(sample("talk"))
    truth = GroundTruth.load(talk)
    detection = json.loads(hushcut("detect", str(talk), "--json"))
    assert detection["duration"] == truth.duration, detection
    score = score_against_truth(detection["silences"], truth)
    assert score.f1 >= 0.97, score
    print(f"detect ok: {len(detection['silences'])} silences in {talk.name}, {score}")
    offered = json.loads(hushcut("plugins", "--json"))
    assert [d["name"] for d in offered["detectors"]] == ["loudness"], offered["detectors"]
    assert [r["name"] for r in offered["renderers"]] == ["mp4"], offered["renderers"]
    assert offered["pipeline_version"] != "unknown", offered["pipeline_version"]
    print(f"plugins ok: hushcut-pipeline {offered['pipeline_version']}")

    with tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch)
        timeline = work / "edited.json"
        timeline.write_text(
            json.dumps(
                {
                    "version": 1,
                    "source_duration": truth.duration,
                    "segments": [{"start": 1.0, "end": 3.0}, {"start": 9.0, "end": 11.0}],
                }
            )
        )
        video = work / "talk_edited.mp4"
        print(hushcut("cut", str(talk), "-o", str(video), "--from-timeline", str(timeline)))
        assert video.stat().st_size > 10_000, "video output is missing or empty"

        audio = work / "speech.mp4"
        summary = hushcut("cut", str(generate(sample("pcm-s16le.wav"))), "-o", str(audio))
        print(summary)
        assert "removed" in summary
        assert audio.stat().st_size > 10_000, "audio output is missing or empty"
    print("standalone cut ok")


if __name__ == "__main__":
    main()
