"""The editor formats, each written by its OpenTimelineIO adapter.

- ``otio``: OpenTimelineIO JSON (core adapter ``otio_json``); Kdenlive 25.04+, DaVinci
  Resolve 18.5+ and others import it directly.
- ``fcpxml``: Final Cut Pro X XML 1.8 (``otio-fcpx-xml-adapter``), with four fixes of
  that adapter: frame durations exact for any rate (it knows eight, and 29.97 only as
  the float 29.97), the format sized from the source instead of by calling ``ffprobe``,
  no empty format name, and the source listed once in the event, not once per clip.
- ``fcp7``: Final Cut Pro 7 XML (``otio-fcp-adapter``), what Premiere Pro and DaVinci
  Resolve import as "XML"; the sequence gets the video's frame size.
- ``edl``: CMX 3600 EDL (``otio-cmx3600-adapter``); events carry the audio channels
  (``B``, ``AA/V``), an ``FCM`` line says whether timecode drops frames, and clip names
  are file names, not percent-encoded URL parts: three things the adapter gets wrong.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from fractions import Fraction
from typing import Any
from urllib.parse import unquote

import opentimelineio as otio
from otio_fcpx_xml_adapter.fcpx_xml import FcpxOtio

from hushcut.pipeline import MediaInfo, Timeline, TimelineError
from hushcut_otio.timeline import edit_rate, to_otio

#: Rates whose timecode drops frame numbers (OTIO writes them with ``;``).
DROP_FRAME_RATES = (Fraction(30000, 1001), Fraction(60000, 1001))
#: An EDL event line the adapter writes: number, reel, channels, cut.
EVENT_LINE = re.compile(r"^(\d{3}  .{8}) V     C ", re.MULTILINE)
#: The comment naming an event's clip.
CLIP_NAME_LINE = re.compile(r"^(\* FROM CLIP NAME:\s+)(.*)$", re.MULTILINE)


def export_otio(timeline: Timeline, media: MediaInfo) -> str:
    return str(otio.adapters.write_to_string(to_otio(timeline, media), "otio_json"))


def export_fcp7(timeline: Timeline, media: MediaInfo) -> str:
    _refuse_speed_changes(timeline, "FCP 7 XML")
    converted = to_otio(timeline, media)
    video = media.video
    if video is not None and video.width and video.height:
        # The adapter builds the sequence from this metadata: with the frame size in it,
        # Premiere makes the sequence the size of the video instead of its default.
        characteristics = {"width": str(video.width), "height": str(video.height)}
        converted.metadata["fcp_xml"] = {
            "media": {"video": {"format": {"samplecharacteristics": characteristics}}}
        }
    return _sequence_in_order(str(otio.adapters.write_to_string(converted, "fcp_xml")))


#: The order FCP 7 and Premiere write a sequence's elements in.
SEQUENCE_ORDER = ("name", "duration", "rate", "media", "timecode")


def _sequence_in_order(document: str) -> str:
    """``document`` with each sequence's elements in FCP 7's order: the adapter puts the
    elements it built from metadata (the frame size above) before the others."""
    root = ET.fromstring(document)  # noqa: S314 (the adapter's output, not untrusted input)
    for sequence in root.iter("sequence"):
        children = list(sequence)
        rank = {tag: number for number, tag in enumerate(SEQUENCE_ORDER)}
        children.sort(key=lambda child: rank.get(child.tag, len(rank)))
        sequence[:] = children
    ET.indent(root, space="    ")
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def export_fcpxml(timeline: Timeline, media: MediaInfo) -> str:
    _refuse_speed_changes(timeline, "FCP X XML")
    converted = to_otio(timeline, media)
    if not media.has_video:
        # The adapter hangs audio tracks under video clips; with no video, the audio
        # clips go in the spine themselves (written as audio, see _SizedFcpx).
        for track in converted.tracks:
            track.kind = otio.schema.TrackKind.Video
    return str(_SizedFcpx(converted, media).to_xml())


def export_edl(timeline: Timeline, media: MediaInfo, style: str) -> str:
    _refuse_speed_changes(timeline, "a CMX 3600 EDL")
    rate = edit_rate(media)
    converted = to_otio(timeline, media)
    if media.has_video:
        text = otio.adapters.write_to_string(converted, "cmx_3600", rate=float(rate), style=style)
        # The adapter writes the first (video) track's events as video only: the source's
        # audio goes with each event (B: V + A1, AA/V: V + A1 + A2).
        channels = "AA/V" if (media.audio.channels or 1) >= 2 else "B"
        text = EVENT_LINE.sub(lambda m: f"{m.group(1)} {channels:<5} C ", str(text))
    else:
        # The adapter's entry point insists on one video track; its writer does not.
        from otio_cmx3600_adapter.cmx_3600 import EDLWriter

        writer = EDLWriter(tracks=converted.tracks, rate=float(rate), style=style)
        text = writer.get_content_for_track_at_index(0, title=converted.name)
    if style == "premiere":
        # Premiere style names each clip by the last part of its URL, percent-encoded:
        # "my%20talk.mp4" would never match the file "my talk.mp4".
        text = CLIP_NAME_LINE.sub(lambda m: m.group(1) + unquote(m.group(2)), str(text))
    drop = "DROP FRAME" if rate in DROP_FRAME_RATES else "NON-DROP FRAME"
    title, _, events = str(text).partition("\n")
    return f"{title}\nFCM: {drop}\n{events.lstrip(chr(10))}"


def _refuse_speed_changes(timeline: Timeline, format_name: str) -> None:
    changed = [s for s in timeline.segments if s.speed != 1.0]
    if changed:
        raise TimelineError(
            f"{format_name} cannot carry speed changes through OpenTimelineIO, and "
            f"{len(changed)} segment(s) of this timeline play at another speed "
            f"(e.g. {changed[0].speed:g}x from {changed[0].start:.2f} s): export otio, "
            "which keeps them, or render the cut"
        )


class _SizedFcpx(FcpxOtio):  # type: ignore[misc]
    """The FCP X XML adapter, with frame durations, sizes and names that FCP X accepts."""

    def __init__(self, timeline: otio.schema.Timeline, media: MediaInfo) -> None:
        super().__init__(timeline)
        self._media = media

    def _clip_format_name(self, clip: Any) -> str:
        # The adapter calls ffprobe for a name; the format's size says the same.
        return ""

    @staticmethod
    def _framerate_to_frame_duration(framerate: float) -> str:
        rate = Fraction(framerate).limit_denominator(1001)
        return f"{rate.denominator}/{rate.numerator}s"

    def _stack_to_sequence(self, stack: Any, compound_clip: bool = False) -> Any:
        sequence = super()._stack_to_sequence(stack, compound_clip)
        if self._media.video is None:
            # An audio-only source: its clips were laid out as the spine's clips; they
            # play the asset's audio.
            for element in sequence.iter("video"):
                element.tag = "audio"
            for asset in self.resource_element.iter("asset"):
                asset.attrib.pop("hasVideo", None)
                asset.set("hasAudio", "1")
        return sequence

    def _asset_clip_by_name(self, name: str) -> Any:
        # By comparison, not an XPath predicate a quote in the file name would break.
        clips = self.event_resource.iterfind("./asset-clip")
        return next((clip for clip in clips if clip.get("name") == name), None)

    def _create_asset_clip_element(self, clip: Any, format_element: Any, resource_id: str) -> None:
        # The adapter tests the element it found for truth, and an element without
        # children is false: it would list the source once per clip in the event.
        if self._asset_clip_by_name(clip.name) is None:
            super()._create_asset_clip_element(clip, format_element, resource_id)

    def _find_or_create_format_from(self, clip: Any) -> Any:
        element = super()._find_or_create_format_from(clip)
        if not element.get("name"):
            element.attrib.pop("name", None)
        video = self._media.video
        if video is not None and video.width and video.height:
            element.set("width", str(video.width))
            element.set("height", str(video.height))
        return element
