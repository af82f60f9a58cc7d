"""analyze(): detection, plan and waveform peaks from one decode of the audio."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import av
import numpy as np
import pytest

from hushcut.pipeline import (
    CanceledError,
    CutOptions,
    Detection,
    Detector,
    MediaInfo,
    OptionsError,
    Peaks,
    ProgressCallback,
    analyze,
    audio_frames,
    audio_samples,
    detect,
    detect_silences,
    hookimpl,
    plan,
    probe,
)
from hushcut.pipeline._peaks import PeakMeter
from tests.pipeline.media import write_tone_wav


class DecodingDetector:
    """A plugin detector that reads the audio itself: through the pipeline's
    ``audio_frames`` or ``audio_samples``, or with its own PyAV decode (``"own"``)."""

    def __init__(self, name: str, *, reads: str) -> None:
        self.name = name
        self.reads = reads

    @hookimpl
    def hushcut_register_detectors(self, register: Callable[[Detector], None]) -> None:
        register(Detector(self.name, self.detect))

    def detect(
        self, source: Path, media: MediaInfo, options: CutOptions, progress: ProgressCallback
    ) -> Detection:
        if self.reads == "audio_frames":
            samples = sum(frame.samples for frame in audio_frames(source, media))
        elif self.reads == "audio_samples":
            samples = sum(block.size for block, _ in audio_samples(source, media))
        else:
            with av.open(str(source)) as container:
                samples = sum(f.samples for f in container.decode(audio=0))
        assert samples > 0
        return Detection(duration=media.duration, silences=[(0.0, 0.5)])


def count_opens(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every file PyAV opens from now on (probe, detection, a decode for peaks...)."""
    opened: list[str] = []
    real_open = av.open

    def counting_open(file, *args, **kwargs):
        opened.append(str(file))
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr(av, "open", counting_open)
    return opened


def reference_peaks(path: Path, per_second: int = 50) -> np.ndarray:
    """Peaks measured independently: the whole audio decoded at once, each sample's
    magnitude the RMS over channels, the largest of each 1/per_second s."""
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        rate = stream.rate
        planes = [
            frame.to_ndarray().astype(np.float64).reshape(stream.channels, -1)
            if frame.format.is_planar
            else frame.to_ndarray().astype(np.float64).reshape(-1, stream.channels).T
            for frame in container.decode(stream)
        ]
    samples = np.concatenate(planes, axis=1)
    if np.issubdtype(samples.dtype, np.integer) or np.abs(samples).max() > 1.5:
        samples /= 32768.0
    magnitude = np.sqrt((samples**2).mean(axis=0))
    bins = np.ceil(np.arange(0, magnitude.size * per_second / rate) * rate / per_second)
    return np.maximum.reduceat(magnitude, bins.astype(int))


def test_analysis_is_the_detection_and_plan_a_cut_would_use(talk: Path, pm) -> None:
    analysis = analyze(talk, {"margin_s": 0.2}, plugin_manager=pm)
    detection = detect(talk, {"margin_s": 0.2}, plugin_manager=pm)
    assert analysis.detection.silences == detection.silences
    assert analysis.detection.threshold_db == pytest.approx(detection.threshold_db)
    expected = plan(detection, {"margin_s": 0.2}, plugin_manager=pm)
    assert analysis.timeline.segments == expected.segments
    assert analysis.timeline.source == talk.name
    assert analysis.options.margin_s == 0.2
    assert analysis.media.duration == pytest.approx(60.0, abs=0.1)


def test_peaks_match_the_audio_and_come_from_the_detection_decode(
    talk: Path, pm, monkeypatch: pytest.MonkeyPatch
) -> None:
    opened = count_opens(monkeypatch)
    analysis = analyze(talk, plugin_manager=pm)
    # One probe, one decode: the peaks cost no pass of their own.
    assert len(opened) == 2
    assert analysis.peaks_decoded_again is False
    peaks = analysis.peaks
    assert peaks.peaks_per_second == 50
    assert len(peaks.peaks) == 1
    values = np.array(peaks.peaks[0])
    assert values.size == round(analysis.media.duration * 50)
    assert values.min() >= 0
    assert values.max() <= 1
    expected = reference_peaks(talk)[: values.size]
    assert np.abs(values[: expected.size] - expected).max() <= 0.006
    # Loud where speech is kept, near the floor inside the detected silences.
    silent = np.zeros(values.size, dtype=bool)
    for start, end in analysis.detection.silences:
        silent[int(start * 50) + 5 : int(end * 50) - 5] = True
    assert values[silent].max() < 0.05
    assert np.median(values[~silent]) > 0.1


@pytest.mark.parametrize("rate", [44_100, 11_025])
def test_peaks_land_in_the_bins_of_their_time(tmp_path: Path, pm, rate: int) -> None:
    # 1 s of -60 dB noise, 1 s of a -10 dBFS tone (peak 0.447), 1 s of noise again.
    wav = write_tone_wav(tmp_path / "tone.wav", [(1.0, -200), (1.0, -10), (1.0, -200)], rate=rate)
    peaks = analyze(wav, plugin_manager=pm).peaks.peaks[0]
    assert len(peaks) == 150
    tone = 10 ** (-10 / 20) * np.sqrt(2)
    assert max(peaks[:50]) < 0.01
    assert peaks[50:100] == pytest.approx([tone] * 50, abs=0.011)
    assert max(peaks[100:]) < 0.01


@pytest.mark.parametrize("reads", ["audio_frames", "audio_samples", "own"])
def test_plugin_detectors_get_peaks_too(
    talk: Path, pm, monkeypatch: pytest.MonkeyPatch, reads: str
) -> None:
    shared = reads != "own"
    pm.register(DecodingDetector("reader", reads=reads), name="reader")
    reference = analyze(talk, plugin_manager=pm).peaks
    opened = count_opens(monkeypatch)
    analysis = analyze(talk, {"detector": "reader"}, plugin_manager=pm)
    assert analysis.detection.detector == "reader"
    # Through audio_frames the detector's decode feeds the peaks; a detector decoding on
    # its own costs one more decode, for the peaks alone. Either way the same waveform.
    assert analysis.peaks_decoded_again is not shared
    assert len(opened) == (2 if shared else 3)
    assert analysis.peaks.peaks[0] == pytest.approx(reference.peaks[0], abs=0.011)


def test_detect_alone_measures_no_peaks(talk: Path, pm, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_metering(*args, **kwargs):
        raise AssertionError("detect() measured peaks nobody asked for")

    monkeypatch.setattr(PeakMeter, "add", no_metering)
    assert detect(talk, plugin_manager=pm).silences
    assert detect_silences(talk).silences


def test_progress_runs_through_the_stages_in_order_and_cancels(talk: Path, pm) -> None:
    seen: list[tuple[str, float]] = []
    analyze(
        talk, progress=lambda stage, fraction: seen.append((stage, fraction)), plugin_manager=pm
    )
    stages = list(dict.fromkeys(stage for stage, _ in seen))
    assert stages == ["probe", "detect", "peaks", "plan"]
    fractions = [fraction for _, fraction in seen]
    assert fractions == sorted(fractions)
    assert fractions[-1] == 1.0

    def cancel(stage: str, fraction: float) -> None:
        if stage == "detect" and fraction > 0.3:
            raise CanceledError("canceled")

    with pytest.raises(CanceledError):
        analyze(talk, progress=cancel, plugin_manager=pm)


def test_bad_options_are_refused_before_the_input_is_read(tmp_path: Path, pm) -> None:
    with pytest.raises(OptionsError, match="no installed detector is called 'nope'"):
        analyze(tmp_path / "missing.mp4", {"detector": "nope"}, plugin_manager=pm)
    with pytest.raises(FileNotFoundError):
        analyze(tmp_path / "missing.mp4", plugin_manager=pm)


def test_peaks_json_is_the_wavesurfer_shape_and_an_hour_stays_under_1_mb() -> None:
    # The largest value text a peak can take ("0.55") everywhere, for an hour.
    hour = Peaks(duration=3600.0, peaks=[[0.55] * 3600 * 50])
    document = hour.to_bytes()
    assert len(document) < 1_000_000
    data = json.loads(document)
    assert set(data) == {"duration", "peaksPerSecond", "peaks"}
    assert data["peaksPerSecond"] == 50
    assert len(data["peaks"][0]) == 180_000
    assert Peaks.from_json(data) == hour


def test_meter_takes_blocks_in_any_order_rate_and_overlap() -> None:
    meter = PeakMeter(1.0)
    block = np.zeros(8000, dtype=np.float32)
    block[4000] = 0.25  # magnitude 0.5 at 0.5 s
    meter.add(block[4000:], 0.5, 8000)
    meter.add(block[:4000], 0.0, 8000)
    meter.add(np.full(480, 0.04, dtype=np.float32), 0.5, 48_000)  # 0.2 over 0.5-0.51 s
    peaks = meter.peaks().peaks[0]
    assert len(peaks) == 50
    assert peaks[25] == 0.5
    assert sum(peaks) == 0.5


def test_media_info_survives_json_for_exports_after_the_file_is_gone(talk: Path, pm) -> None:
    analysis = analyze(talk, plugin_manager=pm)
    stored = json.loads(json.dumps(analysis.media.to_dict()))
    assert MediaInfo.from_dict(stored) == analysis.media
    assert stored["video"]["time_base"] == "1/15360"
    with_keyframes = probe(talk)
    assert MediaInfo.from_dict(json.loads(json.dumps(with_keyframes.to_dict()))).keyframes == ()
    restored = MediaInfo.from_dict(with_keyframes.to_dict(keyframes=True))
    assert restored == with_keyframes


def test_audio_samples_are_contiguous_blocks_at_the_asked_rate(talk: Path) -> None:
    media = probe(talk, keyframes=False)
    blocks = list(audio_samples(talk, media, rate=16_000, layout="stereo", sample_format="flt"))
    assert all(block.dtype == np.float32 for block, _ in blocks)
    position = 0.0
    for block, time in blocks:
        assert time == pytest.approx(position, abs=1e-9)
        position += block.size / 2 / 16_000
    assert position == pytest.approx(media.duration, abs=0.05)
    with pytest.raises(ValueError, match="packed"):
        next(audio_samples(talk, media, sample_format="fltp"))


def _tone_ts(path: Path, rate: int, start: float, seconds: float) -> Path:
    """An MPEG-TS of AAC mono at ``rate`` Hz: a 440 Hz tone from ``start`` for ``seconds``."""
    with av.open(str(path), "w", format="mpegts") as out:
        stream = out.add_stream("aac", rate=rate)
        stream.layout = "mono"
        samples = int(rate * seconds)
        tone = (0.5 * np.sin(2 * np.pi * 440 * np.arange(samples) / rate)).astype(np.float32)
        for at in range(0, samples, 1024):
            frame = av.AudioFrame.from_ndarray(
                tone[at : at + 1024].reshape(1, -1), format="fltp", layout="mono"
            )
            frame.sample_rate = rate
            frame.pts = round(start * rate) + at
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return path


def test_audio_samples_follow_a_stream_that_changes_rate_midway(tmp_path: Path) -> None:
    # Two recordings joined byte for byte, as TS allows: 48 kHz, then 44.1 kHz.
    first = _tone_ts(tmp_path / "a.ts", 48_000, 0.0, 3.0).read_bytes()
    second = _tone_ts(tmp_path / "b.ts", 44_100, 3.0, 3.0).read_bytes()
    joined = tmp_path / "joined.ts"
    joined.write_bytes(first + second)
    with av.open(str(joined)) as container:
        assert {frame.sample_rate for frame in container.decode(audio=0)} == {48_000, 44_100}
    media = probe(joined, keyframes=False)
    blocks = list(audio_samples(joined, media, rate=16_000))
    samples = sum(block.size for block, _ in blocks)
    assert samples / 16_000 == pytest.approx(6.0, abs=0.1)
    position = 0.0
    for block, time in blocks:
        assert time == pytest.approx(position, abs=1e-9)
        position += block.size / 16_000
