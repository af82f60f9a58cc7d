"""hushcut-speedup: silences kept at speed, output as long as planned, pitch unchanged."""

from __future__ import annotations

import re
from pathlib import Path

import av
import numpy as np
import pytest
from click.testing import CliRunner
from hushcut_speedup import speed_up_gaps
from speedup_media import FPS, PAUSE_TONE_HZ

from hushcut.pipeline import (
    CutOptions,
    Detection,
    OptionsError,
    Segment,
    Timeline,
    cut,
    get_plugin_manager,
    plan,
    probe,
)
from hushcut.pipeline.cli import main
from hushcut.pipeline.plugins import option_specs


def test_disabled_by_default_so_installing_it_changes_no_cut() -> None:
    timeline = plan(Detection(10.0, [(4.0, 6.0)], -50, -15, -40))
    assert all(segment.speed == 1.0 for segment in timeline.segments)


def test_gaps_are_filled_with_sped_up_segments() -> None:
    detection = Detection(10.0, [(0.0, 1.0), (4.0, 6.0), (9.0, 10.0)], -50, -15, -40)
    options = {"plugins": {"speedup": {"enabled": True, "factor": "8"}}}
    timeline = plan(detection, options)
    spans = [(round(s.start, 3), round(s.end, 3), s.speed) for s in timeline.segments]
    assert spans == [
        (0.0, 0.85, 8.0),
        (0.85, 4.15, 1.0),
        (4.15, 5.85, 8.0),
        (5.85, 9.15, 1.0),
        (9.15, 10.0, 8.0),
    ]
    # Nothing of the source is lost any more: every second is played, silences faster.
    assert sum(s.source_duration for s in timeline.segments) == pytest.approx(10.0)
    assert timeline.output_duration == pytest.approx(6.6 + 3.4 / 8)
    assert timeline.meta["speedup_factor"] == 8.0


def test_speed_up_gaps_refuses_a_factor_that_is_no_speed_up() -> None:
    timeline = Timeline(5.0, [Segment(1.0, 2.0)])
    with pytest.raises(ValueError, match="above 1"):
        speed_up_gaps(timeline, 1.0)


def _decoded_audio(path: Path) -> tuple[np.ndarray, int]:
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        rate = stream.codec_context.sample_rate
        resampler = av.AudioResampler(format="flt", layout="mono", rate=rate)
        chunks = [
            out.to_ndarray().reshape(-1)
            for frame in container.decode(stream)
            for out in resampler.resample(frame)
        ]
    return np.concatenate(chunks), rate


def _stream_durations(path: Path) -> dict[str, float]:
    """Seconds from the first to the end of the last frame of each stream, by decoding."""
    durations: dict[str, float] = {}
    with av.open(str(path)) as container:
        for stream in (container.streams.video[0], container.streams.audio[0]):
            end = 0.0
            for frame in container.decode(stream):
                if stream.type == "video":
                    end = max(end, float(frame.time) + 1 / FPS)
                else:
                    end = max(end, float(frame.time) + frame.samples / frame.sample_rate)
            durations[stream.type] = end
            container.seek(0)
    return durations


def test_output_lasts_what_the_plan_says_and_the_pauses_keep_their_pitch(
    tone_talk: Path, tmp_path: Path
) -> None:
    output = tmp_path / "sped.mp4"
    result = cut(tone_talk, output, {"plugins": {"speedup": {"enabled": "true", "factor": "4"}}})
    sped = [s for s in result.timeline.segments if s.speed == 4.0]
    assert len(sped) >= 2, result.timeline.segments
    planned = result.timeline.output_duration
    frame = 1 / FPS
    assert abs(probe(output).duration - planned) <= frame
    for kind, seconds in _stream_durations(output).items():
        assert abs(seconds - planned) <= frame, f"{kind} lasts {seconds:.3f} s, plan {planned:.3f}"

    # The longest sped-up pause: its tone must still be 1 kHz, not 4 kHz.
    longest = max(sped, key=lambda s: s.source_duration)
    at = sum(
        s.output_duration
        for s in result.timeline.segments[: result.timeline.segments.index(longest)]
    )
    samples, rate = _decoded_audio(output)
    edge = 0.05
    piece = samples[round((at + edge) * rate) : round((at + longest.output_duration - edge) * rate)]
    assert piece.size > rate // 10
    spectrum = np.abs(np.fft.rfft(piece * np.hanning(piece.size)))
    peak = np.fft.rfftfreq(piece.size, 1 / rate)[int(np.argmax(spectrum))]
    assert peak == pytest.approx(PAUSE_TONE_HZ, rel=0.03)


def test_factor_is_validated_with_one_clear_line(tone_talk: Path, tmp_path: Path) -> None:
    for value, expected in (
        ("1", "greater than 1"),
        ("500", "less than or equal to 100"),
        ("fast", "valid number"),
    ):
        result = CliRunner().invoke(
            main,
            [
                "cut",
                str(tone_talk),
                "-o",
                str(tmp_path / "x.mp4"),
                "--set",
                f"speedup.factor={value}",
            ],
        )
        assert result.exit_code == 1
        assert result.stderr.count("\n") == 1, result.stderr
        assert result.stderr.startswith("error: option speedup.factor:")
        assert expected in result.stderr
    assert not (tmp_path / "x.mp4").exists()


def test_listed_by_hushcut_plugins_with_hooks_and_options() -> None:
    result = CliRunner().invoke(main, ["plugins"])
    assert result.exit_code == 0, result.output
    # One block per plugin: "name (origin)" then indented lines.
    blocks = re.split(r"\n(?=\S)", result.stdout)
    block = next(b for b in blocks if b.startswith("speedup (hushcut-speedup "))
    assert "hooks: hushcut_adjust_timeline, hushcut_options" in block
    for key in ("enabled", "factor"):
        assert f"option speedup.{key} (" in block


def test_api_validation_of_plugins_mapping_names_the_bad_option() -> None:
    """The GraphQL API validates CutOptionsInput.plugins with CutOptions.from_mapping."""
    specs = option_specs(get_plugin_manager())
    with pytest.raises(OptionsError) as error:
        CutOptions.from_mapping({"plugins": {"speedup": {"factor": 0.5}}}, specs)
    assert str(error.value).startswith(
        "option speedup.factor: Input should be greater than 1 (got 0.5"
    )
    assert "\n" not in str(error.value)
    assert (
        CutOptions.from_mapping({"plugins": {"speedup": {"enabled": True}}}, specs).plugin_option(
            "speedup", "factor"
        )
        == 4.0
    )
