"""hushcut-loudnorm: the output measures the target loudness; video untouched; failures safe."""

from __future__ import annotations

import hashlib
import re
import shutil
from pathlib import Path

import av
import numpy as np
import pyloudnorm
import pytest
from click.testing import CliRunner
from hushcut_loudnorm import LoudnessError, LoudnormTarget, normalise

from hushcut.pipeline import CutOptions, OptionsError, cut, get_plugin_manager
from hushcut.pipeline.cli import main
from hushcut.pipeline.plugins import option_specs
from hushcut.pipeline.testing import SampleMedia


def integrated_loudness(path: Path) -> float:
    """Integrated loudness (LUFS) by pyloudnorm's BS.1770-4 meter: not FFmpeg's code."""
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        rate = stream.codec_context.sample_rate
        layout = "mono" if stream.codec_context.channels == 1 else "stereo"
        resampler = av.AudioResampler(format="fltp", layout=layout, rate=rate)
        planes = [
            out.to_ndarray()
            for frame in container.decode(stream)
            for out in resampler.resample(frame)
        ]
    samples = np.concatenate(planes, axis=1).T.astype(np.float64)
    return float(pyloudnorm.Meter(rate).integrated_loudness(samples))


def video_packets(path: Path) -> list[str]:
    with av.open(str(path)) as container:
        return [
            hashlib.sha256(bytes(packet)).hexdigest()
            for packet in container.demux(container.streams.video[0])
            if packet.size
        ]


def audio_seconds(path: Path) -> float:
    with av.open(str(path)) as container:
        return sum(frame.samples / frame.sample_rate for frame in container.decode(audio=0))


def test_cut_output_is_normalised_to_minus_16_lufs(
    sample_media: SampleMedia, tmp_path: Path
) -> None:
    source = tmp_path / "speech.wav"
    shutil.copy(sample_media("pcm-s16le.wav"), source)
    output = tmp_path / "out.m4a"
    result = CliRunner().invoke(
        main, ["cut", str(source), "-o", str(output), "--set", "loudnorm.enabled=true"]
    )
    assert result.exit_code == 0, result.output
    assert "note: loudnorm: normalised to -16 LUFS" in result.stderr
    assert integrated_loudness(output) == pytest.approx(-16.0, abs=1.0)


def sample_peak_dbfs(path: Path) -> float:
    with av.open(str(path)) as container:
        peak = max(float(np.abs(frame.to_ndarray()).max()) for frame in container.decode(audio=0))
    return 20 * float(np.log10(peak))


def test_loud_target_is_reached_dynamically_under_the_peak_limit(
    sample_media: SampleMedia, tmp_path: Path
) -> None:
    # +8 dB of gain would push this recording's peaks over -1.5 dBTP: one constant gain
    # cannot do it, so loudnorm normalises dynamically and limits the peaks.
    output = tmp_path / "loud.m4a"
    result = cut(
        sample_media("pcm-s16le.wav"),
        output,
        {"plugins": {"loudnorm": {"enabled": True, "target": -14}}},
    )
    assert any(
        note.startswith("loudnorm: normalised to -14 LUFS (dynamic") for note in result.notes
    )
    assert integrated_loudness(output) == pytest.approx(-14.0, abs=1.0)
    # Sample peaks sit at or below true peaks; AAC may overshoot the limit a little.
    assert sample_peak_dbfs(output) <= -1.5 + 0.5


def test_normalise_copies_video_and_keeps_the_audio_length(
    sample_media: SampleMedia, tmp_path: Path
) -> None:
    clip = tmp_path / "clip.mp4"
    shutil.copy(sample_media("short.mp4"), clip)
    video_before, seconds_before = video_packets(clip), audio_seconds(clip)
    done = normalise(clip, LoudnormTarget(integrated_lufs=-23.0))
    assert done.mode in {"linear", "dynamic"}
    assert integrated_loudness(clip) == pytest.approx(-23.0, abs=1.0)
    assert video_packets(clip) == video_before
    assert audio_seconds(clip) == pytest.approx(seconds_before, abs=0.03)
    assert [p.name for p in tmp_path.iterdir()] == ["clip.mp4"]


def test_audio_only_cut_is_normalised_to_the_chosen_target(
    sample_media: SampleMedia, tmp_path: Path
) -> None:
    output = tmp_path / "commentary.m4a"
    result = cut(
        sample_media("mono.mp3"),
        output,
        {"plugins": {"loudnorm": {"enabled": True, "target": -20, "true_peak": -2}}},
    )
    assert any(note.startswith("loudnorm: normalised to -20 LUFS") for note in result.notes)
    assert integrated_loudness(output) == pytest.approx(-20.0, abs=1.0)


def test_disabled_by_default_so_installing_it_changes_no_cut(
    sample_media: SampleMedia, tmp_path: Path
):
    result = cut(sample_media("mono.mp3"), tmp_path / "plain.m4a")
    assert not any("loudnorm" in note for note in result.notes)


def test_a_failure_leaves_the_output_as_it_was(sample_media: SampleMedia, tmp_path: Path) -> None:
    silent_film = tmp_path / "film.mp4"
    with (
        av.open(str(sample_media("short.mp4"))) as src,
        av.open(str(silent_film), "w") as dst,
    ):
        video = dst.add_stream_from_template(src.streams.video[0])
        for packet in src.demux(src.streams.video[0]):
            if packet.dts is not None:
                packet.stream = video
                dst.mux(packet)
    before = silent_film.read_bytes()
    with pytest.raises(LoudnessError, match=r"film\.mp4 has no audio to normalise"):
        normalise(silent_film, LoudnormTarget())
    assert silent_film.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["film.mp4"]


@pytest.mark.parametrize(
    ("assignment", "expected"),
    [
        ("loudnorm.target=-3", "option loudnorm.target: Input should be less than or equal to -5"),
        (
            "loudnorm.true_peak=1",
            "option loudnorm.true_peak: Input should be less than or equal to 0",
        ),
        ("loudnorm.enabled=maybe", "option loudnorm.enabled: Input should be a valid boolean"),
        (
            "loudnorm.gain=3",
            "unknown option loudnorm.gain (known: enabled, lra, target, true_peak)",
        ),
    ],
)
def test_bad_options_are_one_clear_line(
    sample_media: SampleMedia, tmp_path: Path, assignment: str, expected: str
) -> None:
    result = CliRunner().invoke(
        main,
        [
            "cut",
            str(sample_media("mono.mp3")),
            "-o",
            str(tmp_path / "x.m4a"),
            "--set",
            assignment,
        ],
    )
    assert result.exit_code == 1
    assert result.stderr.startswith(f"error: {expected}")
    assert result.stderr.count("\n") == 1


def test_listed_by_hushcut_plugins_with_hooks_and_options() -> None:
    result = CliRunner().invoke(main, ["plugins"])
    assert result.exit_code == 0, result.output
    # One block per plugin: "name (origin)" then indented lines.
    blocks = re.split(r"\n(?=\S)", result.stdout)
    block = next(b for b in blocks if b.startswith("loudnorm (hushcut-loudnorm "))
    assert "hooks: hushcut_options, hushcut_postprocess" in block
    for key in ("enabled", "target", "true_peak", "lra"):
        assert f"option loudnorm.{key} (" in block


def test_api_validation_of_plugins_mapping_names_the_bad_option() -> None:
    """The GraphQL API validates CutOptionsInput.plugins with CutOptions.from_mapping."""
    specs = option_specs(get_plugin_manager())
    with pytest.raises(OptionsError) as error:
        CutOptions.from_mapping({"plugins": {"loudnorm": {"target": "loud"}}}, specs)
    assert str(error.value).startswith("option loudnorm.target: Input should be a valid number")
    assert "\n" not in str(error.value)
    assert (
        CutOptions.from_mapping({"plugins": {"loudnorm": {"enabled": True}}}, specs).plugin_option(
            "loudnorm", "true_peak"
        )
        == -1.5
    )
