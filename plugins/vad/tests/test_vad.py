"""hushcut-vad: speech found by voice, not loudness; selected by name; options validated."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from hushcut.pipeline import CutOptions, OptionsError, analyze, detect, get_plugin_manager
from hushcut.pipeline.cli import main
from hushcut.pipeline.plugins import option_specs
from hushcut.pipeline.testing import score_against_truth


def test_vad_keeps_finding_pauses_under_a_drum_loop_where_loudness_fails(
    talk_over_drums: Path, sample_talk: Path
) -> None:
    truth = sample_talk
    vad = score_against_truth(detect(talk_over_drums, {"detector": "vad"}).silences, truth)
    loudness = score_against_truth(detect(talk_over_drums).silences, truth)
    assert vad.f1 >= 0.9, f"vad: {vad}"
    assert loudness.f1 <= vad.f1 - 0.15, f"loudness: {loudness}; vad: {vad}"


def test_vad_on_a_clean_talk_finds_the_pauses(sample_talk: Path) -> None:
    detection = detect(sample_talk, {"detector": "vad"})
    score = score_against_truth(detection.silences, sample_talk)
    assert score.f1 >= 0.9, str(score)
    assert detection.detector == "vad"
    # Levels are reported for information: quiet noise floor, speech well above it.
    assert detection.noise_floor_db < -40 < detection.speech_db


def test_analysis_with_vad_draws_the_waveform_from_the_vad_decode(sample_talk: Path) -> None:
    by_voice = analyze(sample_talk, {"detector": "vad"})
    assert by_voice.detection.detector == "vad"
    # The audio vad read (16 kHz mono, through the pipeline's audio_samples) fed the
    # peaks: no decode of their own, and the waveform the loudness detector's analysis
    # draws from the original 48 kHz, within a few percent (16 kHz rounds peaks off).
    assert by_voice.peaks_decoded_again is False
    by_loudness = analyze(sample_talk)
    difference = np.abs(np.array(by_voice.peaks.peaks[0]) - by_loudness.peaks.peaks[0])
    assert difference.max() <= 0.08
    assert difference.mean() <= 0.005
    assert by_voice.timeline.segments != by_loudness.timeline.segments


def test_installed_but_not_selected_it_changes_nothing(sample_talk: Path) -> None:
    assert detect(sample_talk).detector == "loudness"


def test_detect_command_selects_it_with_options(sample_talk: Path) -> None:
    result = CliRunner().invoke(
        main,
        [
            "detect",
            str(sample_talk),
            "--json",
            "--set",
            "detector=vad",
            "--set",
            "vad.aggressiveness=2",
            "--set",
            "vad.frame_ms=30",
        ],
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["detector"] == "vad"
    assert len(report["silences"]) >= 8


@pytest.mark.parametrize(
    ("assignment", "expected"),
    [
        (
            "vad.aggressiveness=5",
            "option vad.aggressiveness: Input should be less than or equal to 3",
        ),
        ("vad.frame_ms=25", "option vad.frame_ms: Input should be 10, 20 or 30"),
        ("vad.window_s=-1", "option vad.window_s: Input should be greater than or equal to 0.05"),
        (
            "vad.agressiveness=3",
            "unknown option vad.agressiveness (known: aggressiveness, frame_ms",
        ),
    ],
)
def test_bad_options_are_one_clear_line(sample_talk: Path, assignment: str, expected: str) -> None:
    result = CliRunner().invoke(
        main, ["detect", str(sample_talk), "--set", "detector=vad", "--set", assignment]
    )
    assert result.exit_code == 1
    assert result.stderr.startswith(f"error: {expected}"), result.stderr
    assert result.stderr.count("\n") == 1


def test_listed_by_hushcut_plugins_with_hooks_and_options() -> None:
    result = CliRunner().invoke(main, ["plugins"])
    assert result.exit_code == 0, result.output
    # One block per plugin: "name (origin)" then indented lines.
    blocks = re.split(r"\n(?=\S)", result.stdout)
    block = next(b for b in blocks if b.startswith("vad (hushcut-vad "))
    assert "hooks: hushcut_options, hushcut_register_detectors" in block
    assert "detector vad: WebRTC voice activity detection" in block
    for key in ("aggressiveness", "frame_ms", "window_s", "hangover_s"):
        assert f"option vad.{key} (" in block


def test_api_validation_of_plugins_mapping_names_the_bad_option() -> None:
    """The GraphQL API validates CutOptionsInput.plugins with CutOptions.from_mapping."""
    specs = option_specs(get_plugin_manager())
    with pytest.raises(OptionsError) as error:
        CutOptions.from_mapping(
            {"detector": "vad", "plugins": {"vad": {"aggressiveness": 7}}}, specs
        )
    assert str(error.value).startswith(
        "option vad.aggressiveness: Input should be less than or equal to 3 (got 7"
    )
    assert "\n" not in str(error.value)
    assert (
        CutOptions.from_mapping(
            {"detector": "vad", "plugins": {"vad": {"aggressiveness": "1"}}}, specs
        ).plugin_option("vad", "aggressiveness")
        == 1
    )
