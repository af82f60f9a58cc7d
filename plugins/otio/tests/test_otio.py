"""hushcut-otio: every export read back with OpenTimelineIO matches the timeline to the frame."""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from fractions import Fraction
from pathlib import Path

import opentimelineio as otio
import pytest
from click.testing import CliRunner

from hushcut.pipeline import (
    MediaInfo,
    OptionsError,
    Segment,
    Timeline,
    TimelineError,
    analyze,
    capabilities,
    export_timeline,
    probe,
)
from hushcut.pipeline.cli import main

#: OTIO adapter that reads each format back.
READERS = {"otio": "otio_json", "fcpxml": "fcpx_xml", "fcp7": "fcp_xml", "edl": "cmx_3600"}
#: The rate each test clip is edited at (audio only: a 30 fps timebase).
RATES = {"pal-stereo": Fraction(25), "ntsc-mono": Fraction(30000, 1001), "audio-only": Fraction(30)}


def first_frame_at(seconds: float, rate: Fraction) -> int:
    """The first frame the renderer keeps at or after ``seconds`` (frame n plays at n/rate)."""
    return math.ceil(round(seconds * rate, 6))


def exported(clip: Path, fmt: str, pm, timeline: Timeline | None = None, **options) -> str:
    media = probe(clip)
    if timeline is None:
        timeline = analyze(clip, options, plugin_manager=pm).timeline
    return export_timeline(timeline, fmt, media, options, plugin_manager=pm).decode()


def read_back(text: str, fmt: str, rate: Fraction) -> otio.schema.Timeline:
    if fmt == "edl":
        return otio.adapters.read_from_string(text, "cmx_3600", rate=float(rate))
    return otio.adapters.read_from_string(text, READERS[fmt])


@pytest.mark.parametrize("fmt", list(READERS))
@pytest.mark.parametrize("name", list(RATES))
def test_every_clip_covers_its_segment_to_the_frame(clips, pm, name: str, fmt: str) -> None:
    source = clips[name]
    rate = RATES[name]
    timeline = analyze(source, plugin_manager=pm).timeline
    assert len(timeline.segments) == 3, "the clip's two pauses are cut"
    back = read_back(exported(source, fmt, pm, timeline), fmt, rate)

    tracks = list(back.tracks)
    has_video = name != "audio-only"
    kinds = {track.kind for track in tracks}
    assert otio.schema.TrackKind.Video in kinds if has_video else kinds == {"Audio"}
    assert otio.schema.TrackKind.Audio in kinds or fmt == "edl"
    for track in tracks:
        clips_read = list(track.find_clips())
        assert len(clips_read) == len(timeline.segments), f"{fmt} track {track.name}"
        position = 0.0
        slack = 0.0  # how far positions may drift: only a reader that rounds lets them
        for clip, segment in zip(clips_read, timeline.segments, strict=True):
            source_range = clip.source_range
            read_rate = source_range.start_time.rate
            start_s = source_range.start_time.to_seconds()
            end_s = source_range.end_time_exclusive().to_seconds()
            if abs(read_rate - float(rate)) < 1e-6:
                # Exactly the frames the renderer keeps: start <= frame time < end.
                assert source_range.start_time.value == first_frame_at(segment.start, rate)
                assert source_range.end_time_exclusive().value == first_frame_at(segment.end, rate)
            else:
                # The FCP X reader counts NTSC time in whole frames per second (29 for
                # 29.97): one of its frames is the finest it can say.
                assert fmt == "fcpxml"
                assert rate.denominator == 1001
                slack += 1 / read_rate
            frame = 1 / read_rate
            assert segment.start - 1e-6 <= start_s + frame
            assert abs(start_s - segment.start) < frame
            assert abs(end_s - segment.end) < frame
            # Back to back in the edit, in the timeline's order.
            in_edit = clip.range_in_parent()
            assert in_edit.start_time.to_seconds() == pytest.approx(position, abs=1e-6 + slack)
            position = in_edit.end_time_exclusive().to_seconds()
        total = timeline.output_duration
        assert position == pytest.approx(total, abs=len(clips_read) / float(rate))


@pytest.mark.parametrize("fmt", ["otio", "fcpxml", "fcp7"])
def test_exports_reference_the_source_file(clips, pm, fmt: str) -> None:
    source = clips["pal-stereo"]
    back = read_back(exported(source, fmt, pm), fmt, Fraction(25))
    urls = {clip.media_reference.target_url for clip in back.find_clips()}
    assert urls == {source.resolve().as_uri()}
    assert "%20" in source.resolve().as_uri()


def test_fcp7_sequence_has_the_size_of_the_video(clips, pm) -> None:
    text = exported(clips["pal-stereo"], "fcp7", pm)
    document = ET.fromstring(text)  # noqa: S314 (our own export)
    sizes = document.findall(".//sequence/media/video/format/samplecharacteristics")
    assert [(e.findtext("width"), e.findtext("height")) for e in sizes] == [("160", "96")]
    sequence = document.find(".//sequence")
    assert [child.tag for child in sequence] == ["name", "duration", "rate", "media", "timecode"]


def test_fcpxml_times_are_exact_rational_frames_at_ntsc(clips, pm) -> None:
    source = clips["ntsc-mono"]
    timeline = analyze(source, plugin_manager=pm).timeline
    # Our own export, not untrusted input.
    document = ET.fromstring(exported(source, "fcpxml", pm, timeline).split("\n", 2)[2])  # noqa: S314
    formats = document.findall("./resources/format")
    assert [f.get("frameDuration") for f in formats] == ["1001/30000s"]
    assert (formats[0].get("width"), formats[0].get("height")) == ("160", "96")
    assert len(document.findall("./asset-clip")) == 1

    def seconds(value: str) -> Fraction:
        return Fraction(value.removesuffix("s"))

    spine = document.findall("./project/sequence/spine/clip")
    assert len(spine) == len(timeline.segments)
    frame = Fraction(1001, 30000)
    for element, segment in zip(spine, timeline.segments, strict=True):
        start = seconds(element.get("start", "0s"))
        duration = seconds(element.get("duration"))
        rate = Fraction(30000, 1001)
        assert start / frame == first_frame_at(segment.start, rate)
        assert (start + duration) / frame == first_frame_at(segment.end, rate)


@pytest.mark.parametrize(
    ("name", "channels", "fcm"),
    [
        ("pal-stereo", "AA/V", "FCM: NON-DROP FRAME"),
        ("ntsc-mono", "B", "FCM: DROP FRAME"),
        ("audio-only", "A", "FCM: NON-DROP FRAME"),
    ],
)
def test_edl_events_carry_the_audio_and_say_the_timecode(
    clips, pm, name: str, channels: str, fcm: str
) -> None:
    text = exported(clips[name], "edl", pm)
    lines = text.splitlines()
    assert lines[0] == f"TITLE: {clips[name].stem} (hushcut)"
    assert lines[1] == fcm
    events = [line.split() for line in lines if line[:3].isdigit()]
    assert len(events) == 3
    assert {event[1] for event in events} == {"AX"}
    assert {event[2] for event in events} == {channels}
    if fcm == "FCM: DROP FRAME":
        assert all(";" in event[4] for event in events)
    back = read_back(text, "edl", RATES[name])
    names = {track.name for track in back.tracks}
    expected = {"AA/V": {"V", "A1", "A2"}, "B": {"V", "A1"}, "A": {"A1"}}[channels]
    assert names == expected


def test_edl_names_clips_by_their_file_name(clips, tmp_path: Path, pm) -> None:
    source = tmp_path / "my talk (final).mp4"
    source.write_bytes(clips["pal-stereo"].read_bytes())
    text = exported(source, "edl", pm)
    assert text.count("* FROM CLIP NAME:  my talk (final).mp4\n") == 3
    back = read_back(text, "edl", Fraction(25))
    assert {clip.name for clip in back.find_clips()} == {"my talk (final).mp4"}


def test_edl_style_is_an_option(clips, pm) -> None:
    text = exported(clips["pal-stereo"], "edl", pm, plugins={"otio": {"edl_style": "avid"}})
    events = [line.split() for line in text.splitlines() if line[:3].isdigit()]
    assert {event[1] for event in events} == {"palstere"}
    assert f"* FROM CLIP: {clips['pal-stereo'].resolve().as_uri()}" in text
    with pytest.raises(OptionsError, match=r"option otio\.edl_style"):
        exported(clips["pal-stereo"], "edl", pm, plugins={"otio": {"edl_style": "cmx"}})


def test_speed_changes_are_kept_in_otio_and_refused_where_they_would_be_lost(clips, pm) -> None:
    source = clips["pal-stereo"]
    timeline = Timeline(7.0, [Segment(0.0, 1.6), Segment(1.6, 3.1, 3.0), Segment(3.1, 4.4)])
    back = read_back(exported(source, "otio", pm, timeline), "otio", Fraction(25))
    fast = list(back.tracks[0].find_clips())[1]
    assert [effect.time_scalar for effect in fast.effects] == [3.0]
    assert fast.source_range.start_time.value == 40
    assert fast.source_range.duration.value == round((78 - 40) / 3)  # output frames
    assert fast.metadata["hushcut"] == {"segment": 2, "start": 1.6, "end": 3.1, "speed": 3.0}
    for fmt in ("fcpxml", "fcp7", "edl"):
        with pytest.raises(TimelineError, match=r"cannot carry speed changes.*3x from 1\.60 s"):
            exported(source, fmt, pm, timeline)


def test_the_formats_are_registered_exporters(pm) -> None:
    offered = {e["name"]: e for e in capabilities(pm)["exporters"]}
    assert set(offered) == {"json", "otio", "fcpxml", "fcp7", "edl"}
    assert offered["fcpxml"]["extension"] == ".fcpxml"
    assert offered["fcp7"]["extension"] == ".xml"
    assert offered["edl"]["media_type"] == "text/plain"


def test_cut_export_writes_the_file_beside_the_input_without_rendering(
    clips, tmp_path: Path
) -> None:
    source = Path(tmp_path / "my talk.mp4")
    source.write_bytes(clips["pal-stereo"].read_bytes())
    result = CliRunner().invoke(main, ["cut", str(source), "--export", "fcpxml"])
    assert result.exit_code == 0, result.stderr
    written = tmp_path / "my talk_hushcut.fcpxml"
    assert result.stdout.startswith(f"{source} -> {written}: fcpxml timeline keeping ")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["my talk.mp4", "my talk_hushcut.fcpxml"]
    back = read_back(written.read_text(), "fcpxml", Fraction(25))
    assert len(list(back.find_clips())) == 6  # three segments, video and audio
    assert {c.media_reference.target_url for c in back.find_clips()} == {source.as_uri()}


def test_a_stored_media_description_exports_by_file_name_without_the_file(clips, pm) -> None:
    # The platform keeps the probe as JSON and the user's file name; the input may be gone.
    analysis = analyze(clips["ntsc-mono"], plugin_manager=pm)
    stored = {**analysis.media.to_dict(), "path": "Interview take 2.mp4"}
    media = MediaInfo.from_dict(stored)
    for fmt in READERS:
        text = export_timeline(analysis.timeline, fmt, media, plugin_manager=pm).decode()
        back = read_back(text, fmt, Fraction(30000, 1001))
        assert len(list(back.find_clips())) >= len(analysis.timeline.segments)
    fcp7 = export_timeline(analysis.timeline, "fcp7", media, plugin_manager=pm).decode()
    assert "<pathurl>Interview%20take%202.mp4</pathurl>" in fcp7
    assert "<name>Interview take 2 (hushcut)</name>" in fcp7
    assert (
        "* FROM CLIP NAME:  Interview take 2.mp4"
        in export_timeline(analysis.timeline, "edl", media, plugin_manager=pm).decode()
    )
