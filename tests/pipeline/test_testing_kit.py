"""The plugin author's test kit: generated media hold what their spec and truth say."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import av
import numpy as np
import pytest
from click.testing import CliRunner

from hushcut.pipeline import detect, probe
from hushcut.pipeline.cli import main
from hushcut.pipeline.testing import (
    SAMPLES,
    AudioSpec,
    GroundTruth,
    MediaSpec,
    PluginManagers,
    SampleMedia,
    VideoSpec,
    generate,
    media_path,
    read_frame_number,
    score_against_truth,
)

#: A quick audio-only spec for the cache tests.
TINY = MediaSpec(
    duration=3.0, seed=9, container="wav", video=None, audio=AudioSpec("pcm_s16le", bitrate=None)
)


def first_channel(path: Path) -> tuple[np.ndarray, int]:
    """The decoded samples of the first channel (every channel carries the talk)."""
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        rate = stream.codec_context.sample_rate
        resampler = av.AudioResampler(format="fltp", rate=rate)
        chunks = [
            out.to_ndarray()[0]
            for frame in container.decode(stream)
            for out in resampler.resample(frame)
        ]
    return np.concatenate(chunks), rate


def rms_db(samples: np.ndarray) -> float:
    return float(10 * np.log10(np.mean(samples.astype(np.float64) ** 2)))


def test_the_talk_is_what_its_spec_says(talk: Path) -> None:
    spec = SAMPLES["talk"]
    truth = GroundTruth.load(talk)
    media = probe(talk)
    assert truth.duration == spec.duration == pytest.approx(media.duration, abs=0.03)
    assert media.video is not None
    assert (media.video.width, media.video.height, media.video.fps) == (640, 360, 30.0)
    gop = spec.video.gop if spec.video else None
    assert gop
    assert media.keyframes == pytest.approx([k * gop / 30 for k in range(len(media.keyframes))])
    assert (media.audio.codec, media.audio.sample_rate, media.audio.channels) == ("aac", 48_000, 2)
    assert truth.data["video"]["frames"] == 1800
    assert truth.data["spec"] == json.loads(json.dumps(spec.to_dict()))


def test_inserted_pauses_hold_only_the_noise_floor_and_sentences_are_loud(talk: Path) -> None:
    truth = GroundTruth.load(talk)
    samples, rate = first_channel(talk)
    floor = truth.data["noise_floor_dbfs_rms"]
    assert truth.silences[0][0] == 0.0
    assert truth.silences[-1][1] == truth.duration
    for start, end in truth.silences:
        # 20 ms inside each edge: AAC spreads a word's energy a little around it.
        pause = samples[round((start + 0.02) * rate) : round((end - 0.02) * rate)]
        assert rms_db(pause) == pytest.approx(floor, abs=1.5), (start, end)
    for sentence in truth.speech:
        spoken = samples[round(sentence["start"] * rate) : round(sentence["end"] * rate)]
        assert rms_db(spoken) > floor + 20, sentence["text"]
    spoken_time = sum(s["end"] - s["start"] for s in truth.speech)
    assert spoken_time + truth.silent_duration == pytest.approx(truth.duration, abs=1e-3)


def test_every_frame_shows_its_own_number(sample_media: SampleMedia) -> None:
    path = sample_media("short.mkv")
    with av.open(str(path)) as container:
        numbers = [read_frame_number(frame) for frame in container.decode(video=0)]
    assert numbers == list(range(GroundTruth.load(path).data["video"]["frames"]))


def test_subtitles_carry_one_cue_per_sentence_and_cover_art_is_attached(
    sample_media: SampleMedia,
) -> None:
    path = sample_media("subtitles.mp4")
    truth = GroundTruth.load(path)
    with av.open(str(path)) as container:
        stream = container.streams.subtitles[0]
        cues = [
            (float(packet.pts * packet.time_base), bytes(packet)[2:].decode())
            for packet in container.demux(stream)
            if packet.size > 2  # the muxer fills the gaps between cues with empty ones
        ]
    assert cues == [(pytest.approx(s["start"], abs=1e-3), s["text"]) for s in truth.speech]
    with av.open(str(sample_media("cover-art.mp4"))) as container:
        cover = container.streams.video[1]
        assert cover.disposition & av.stream.Disposition.attached_pic


def test_any_container_codec_rate_and_layout(sample_media: SampleMedia) -> None:
    path = sample_media(
        "talk",
        duration=4.0,
        container="mkv",
        video={"codec": "mpeg4", "width": 176, "height": 144, "fps": "25"},
        audio={"codec": "libopus", "layout": "5.1", "bitrate": 96_000},
    )
    media = probe(path)
    assert path.suffix == ".mkv"
    assert media.video is not None
    assert (media.video.codec, media.video.width, media.video.fps) == ("mpeg4", 176, 25.0)
    assert (media.audio.codec, media.audio.channels) == ("opus", 6)


def test_the_synthesized_voice_stands_in_for_espeak(sample_media: SampleMedia, pm) -> None:
    path = sample_media("talk", duration=20.0, voice="synth", video=None, container="m4a")
    truth = GroundTruth.load(path)
    assert truth.data["voice"] == "synth"
    assert len(truth.speech) >= 3
    score = score_against_truth(detect(path, plugin_manager=pm).silences, path)
    assert score.f1 >= 0.95, str(score)


def test_generated_once_then_taken_from_the_cache(tmp_path: Path) -> None:
    assert not media_path(TINY, tmp_path).exists()
    results: list[Path] = []
    threads = [
        threading.Thread(target=lambda: results.append(generate(TINY, tmp_path))) for _ in range(3)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(results)) == 1
    made = results[0]
    assert made == media_path(TINY, tmp_path)
    # One media file and its truth; nothing half-written is left behind.
    assert sorted(p.suffix for p in tmp_path.iterdir() if p.suffix != ".lock") == [
        ".json",
        ".wav",
    ]
    stamp = made.stat().st_mtime_ns
    started = time.perf_counter()
    assert generate(TINY, tmp_path) == made
    assert time.perf_counter() - started < 0.5
    assert made.stat().st_mtime_ns == stamp
    # Any parameter makes another file.
    other = generate(TINY.replace(noise_dbfs=-40.0), tmp_path)
    assert other != made
    assert GroundTruth.load(other).data["noise_floor_dbfs_rms"] == -40.0


def test_specs_that_cannot_be_made_are_refused_at_once() -> None:
    with pytest.raises(ValueError, match="cover art"):
        MediaSpec(container="mkv", cover_art=True)
    with pytest.raises(ValueError, match="video, audio or both"):
        MediaSpec(video=None, audio=None)
    with pytest.raises(KeyError, match="no sample named 'talk1'"):
        SampleMedia(Path("unused"))("talk1")
    assert VideoSpec().gop == 250


def test_plugin_managers_hold_exactly_the_plugins_named(hushcut_plugins: PluginManagers) -> None:
    class Shouter:
        pass

    pm = hushcut_plugins.manager(shouter=Shouter())
    names = sorted(str(pm.get_name(plugin)) for plugin in pm.get_plugins())
    assert names == ["json", "loudness", "planner", "renderer", "shouter"]
    with pytest.raises(LookupError, match="no installed plugin named nosuch"):
        hushcut_plugins.manager("nosuch")
    hushcut_plugins.use()
    listing = CliRunner().invoke(main, ["plugins"])
    assert listing.exit_code == 0, listing.output
    plugins = listing.stdout.split("\n\n")[0]  # the plugin blocks, before the registries
    blocks = [line.split()[0] for line in plugins.splitlines() if line[:1].strip()]
    assert blocks == ["loudness", "planner", "renderer", "json"]
