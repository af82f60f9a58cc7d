"""Silence detection: accuracy against ground truth, adaptive threshold, any audio format."""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from hushcut.pipeline import CutOptions, detect
from hushcut.pipeline._detect import WINDOW_S, choose_threshold, detect_silences, find_silences
from hushcut.pipeline.testing import SampleMedia, score_against_truth, score_silences
from tests.pipeline.media import transcode_audio, write_tone_wav

#: Acceptance thresholds from the issue (F1 over seconds of silent time).
TALK_MIN_F1 = 0.97
NOISY_MIN_F1 = 0.95


def test_default_detection_on_the_talk_meets_acceptance_f1(talk: Path, pm) -> None:
    detection = detect(talk, plugin_manager=pm)
    score = score_against_truth(detection.silences, talk)
    print(f"talk default detection: {score}")
    assert score.f1 >= TALK_MIN_F1, str(score)


@pytest.mark.shared_media
def test_default_detection_on_shared_talk1_meets_acceptance_f1(shared_media: Path, pm) -> None:
    talk1 = shared_media / "talk1.mp4"
    score = score_against_truth(detect(talk1, plugin_manager=pm).silences, talk1)
    assert score.f1 >= TALK_MIN_F1, str(score)


def test_same_defaults_find_pauses_over_a_minus_42_dbfs_noise_floor(noisy_talk: Path, pm) -> None:
    detection = detect(noisy_talk, plugin_manager=pm)
    score = score_against_truth(detection.silences, noisy_talk)
    print(f"-42 dBFS noise floor, default detection: {score}")
    assert score.f1 >= NOISY_MIN_F1, str(score)
    # The measured floor is what the threshold adapted to, and the noise really is there.
    assert -46 < detection.noise_floor_db < -40
    assert detection.threshold_db > detection.noise_floor_db + 5


def test_a_fixed_threshold_for_a_quieter_room_misses_pauses_the_default_finds(
    noisy_talk: Path, pm
) -> None:
    truth = noisy_talk
    fixed = detect(noisy_talk, {"threshold_db": -45.0}, plugin_manager=pm)
    assert score_against_truth(fixed.silences, truth).recall < 0.2
    adaptive = detect(noisy_talk, plugin_manager=pm)
    assert score_against_truth(adaptive.silences, truth).recall > 0.95


def test_any_channel_layout_rate_and_sample_format_gives_the_same_silences(
    talk: Path, tmp_path: Path
) -> None:
    surround = transcode_audio(
        talk, tmp_path / "talk-5.1.wav", layout="5.1", rate=22_050, codec="pcm_s16le"
    )
    mono_mp3 = transcode_audio(talk, tmp_path / "talk.mp3", layout="mono", rate=44_100, codec="mp3")
    for path in (surround, mono_mp3):
        detection = detect_silences(path)
        score = score_against_truth(detection.silences, talk)
        assert score.f1 >= TALK_MIN_F1, f"{path.name}: {score}"


def _phase_inverted(source: Path, target: Path) -> Path:
    """``source``'s audio as stereo WAV whose right channel is minus its left."""
    resampler = av.AudioResampler(format="fltp", layout="stereo", rate=48_000)
    with av.open(str(source)) as src:
        planes = [
            out.to_ndarray()
            for frame in src.decode(src.streams.audio[0])
            for out in resampler.resample(frame)
        ]
    left = np.concatenate(planes, axis=1)[0]
    pcm = np.stack([left, -left]).clip(-1, 1)
    interleaved = (pcm.T.reshape(1, -1) * 32767).astype("<i2")
    with av.open(str(target), "w") as dst:
        stream = dst.add_stream("pcm_s16le", rate=48_000, layout="stereo")
        frame = av.AudioFrame.from_ndarray(interleaved, format="s16", layout="stereo")
        frame.sample_rate, frame.pts, frame.time_base = 48_000, 0, Fraction(1, 48_000)
        dst.mux(stream.encode(frame))
        dst.mux(stream.encode(None))
    return target


def test_phase_inverted_stereo_does_not_cancel_out(talk: Path, tmp_path: Path) -> None:
    # Right = -left (a miswired microphone): a plain downmix to mono is digital silence.
    inverted = _phase_inverted(talk, tmp_path / "inverted.wav")
    score = score_against_truth(detect_silences(inverted).silences, talk)
    assert score.f1 >= TALK_MIN_F1, str(score)


@pytest.mark.parametrize("name", ["aac.m4a", "mono.mp3", "pcm-s32le.wav", "pcm-s16le.wav"])
def test_audio_only_inputs_are_analysed(sample_media: SampleMedia, name: str) -> None:
    path = sample_media(name)
    detection = detect_silences(path)
    assert detection.noise_floor_db < detection.threshold_db < detection.speech_db
    assert all(0 <= a < b <= detection.duration for a, b in detection.silences)
    score = score_against_truth(detection.silences, path)
    assert score.f1 >= TALK_MIN_F1, str(score)


def test_real_speech_is_analysed_and_its_pause_found(real_speech: Path, tmp_path: Path) -> None:
    as_wav = transcode_audio(
        real_speech, tmp_path / "speech.wav", layout="stereo", rate=48_000, codec="pcm_s16le"
    )
    for path in (real_speech, as_wav):
        detection = detect_silences(path)
        assert detection.duration == pytest.approx(6.63, abs=0.05)
        assert detection.noise_floor_db < detection.threshold_db < detection.speech_db
        # Real speech is mostly speech: one pause, heard at about 3.1-3.5 s, and no other.
        assert [(round(a, 1), round(b, 1)) for a, b in detection.silences] == [(3.1, 3.5)], path


def test_threshold_options_absolute_and_relative(tmp_path: Path) -> None:
    # 1 s tone at -20 dBFS, 1 s of -60 dBFS noise, 1 s of tone at -45 dBFS, 1 s noise.
    wav = write_tone_wav(tmp_path / "steps.wav", [(1, -20), (1, -200), (1, -45), (1, -200)])
    default = detect_silences(wav, min_silence_s=0.3)
    # The auto threshold sits between the -60 floor and the speech level: the quiet tone
    # at -45 dBFS is above it, so only the two noise seconds are silent.
    assert [round(a, 1) for a, _ in default.silences] == [1.0, 3.0]
    # An absolute threshold above the quiet tone makes it silent as well.
    loud = detect_silences(wav, threshold_db=-40.0, min_silence_s=0.3)
    assert loud.threshold_db == -40.0
    assert [(round(a, 1), round(b, 1)) for a, b in loud.silences] == [(1.0, 4.0)]
    # Relative: 25 dB above the measured floor (about -60) also swallows the -45 dB tone.
    relative = detect_silences(wav, above_floor_db=25.0, min_silence_s=0.3)
    assert relative.threshold_db == pytest.approx(relative.noise_floor_db + 25.0)
    assert [(round(a, 1), round(b, 1)) for a, b in relative.silences] == [(1.0, 4.0)]


def test_a_steady_tone_has_no_pauses_to_find(tmp_path: Path) -> None:
    wav = write_tone_wav(tmp_path / "tone.wav", [(3, -30)])
    assert detect_silences(wav).silences == []
    # An explicit threshold above the tone is still obeyed.
    assert detect_silences(wav, threshold_db=-20).silences == [(0.0, pytest.approx(3.0))]


def test_hysteresis_keeps_a_silence_through_noise_that_only_nears_the_threshold() -> None:
    # Quiet at -60, a silence with bumps to -39 (above T=-40 but below T+h=-37), speech -20.
    envelope = np.array([-20.0] * 50 + [-60.0, -39.0] * 25 + [-20.0] * 50, dtype=np.float32)
    duration = envelope.size * WINDOW_S
    with_h = find_silences(envelope, -40.0, hysteresis_db=3.0, min_silence_s=0.1, duration=duration)
    assert with_h == [(pytest.approx(0.5), pytest.approx(1.0))]
    without = find_silences(
        envelope, -40.0, hysteresis_db=0.0, min_silence_s=0.1, duration=duration
    )
    assert without == []


def test_silences_shorter_than_min_silence_are_ignored() -> None:
    envelope = np.array([-20.0] * 30 + [-60.0] * 20 + [-20.0] * 30 + [-60.0] * 40, dtype=np.float32)
    found = find_silences(envelope, -40, hysteresis_db=2, min_silence_s=0.3, duration=1.2)
    assert found == [(pytest.approx(0.8), pytest.approx(1.2))]


def test_automatic_threshold_sits_between_floor_and_speech() -> None:
    assert choose_threshold(-50, -15) == pytest.approx(-50 + 0.25 * 35)
    # A tiny gap still leaves the threshold inside it, not above the speech.
    assert -50 < choose_threshold(-50, -46) < -46
    assert choose_threshold(-50, -15, threshold_db=-33) == -33
    assert choose_threshold(-50, -15, above_floor_db=10) == -40


def test_detect_json_shape_is_what_the_cli_prints(talk: Path, pm) -> None:
    data = detect(talk, CutOptions(), plugin_manager=pm).to_dict()
    assert json.loads(json.dumps(data))["silences"][0][0] == 0.0
    assert {"duration", "silences"} <= set(data)


def test_detection_score_helper_counts_dont_care_time() -> None:
    score = score_silences([(0, 2)], [(0, 1)], duration=3, dont_care=[(1, 2)])
    assert score.f1 == 1.0
    assert score_silences([(0, 2)], [(0, 1)], duration=3).precision == pytest.approx(0.5)
