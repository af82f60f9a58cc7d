"""Short test clips made with PyAV, for worker tests and the worker benchmark."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av


def make_clip(source: Path, target: Path, start: float, end: float, size: int = 320) -> Path:
    """Cut [start, end) of ``source`` into a small H.264/AAC MP4 (``size`` px wide)."""
    width, height = size, size * 9 // 16
    with av.open(str(source)) as inp, av.open(str(target), "w") as out:
        vin, ain = inp.streams.video[0], inp.streams.audio[0]
        video = out.add_stream("libx264", rate=30)
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        video.options = {"preset": "ultrafast", "g": "30"}
        audio = out.add_stream("aac", rate=48000)
        audio.layout = "stereo"
        inp.seek(int(start * av.time_base))
        index = 0
        for frame in inp.decode(vin, ain):
            if not isinstance(frame, av.VideoFrame | av.AudioFrame):
                continue
            if frame.time is None or frame.time < start:
                continue
            if frame.time >= end:
                if isinstance(frame, av.VideoFrame):
                    break
                continue
            if isinstance(frame, av.VideoFrame):
                scaled = frame.reformat(width=width, height=height, format="yuv420p")
                scaled.pts, scaled.time_base = index, Fraction(1, 30)
                index += 1
                out.mux(video.encode(scaled))
            else:
                frame.pts = None
                out.mux(audio.encode(frame))
        out.mux(video.encode())
        out.mux(audio.encode())
    return target


def media_duration(path: Path) -> float:
    with av.open(str(path)) as container:
        assert container.duration is not None
        return container.duration / 1_000_000


#: The marker talk: "speech" (loud noise) in these stretches, near-silence between them.
MARKER_SPEECH = [(0.0, 2.0), (3.5, 5.5), (7.0, 8.0)]
MARKER_SECONDS = 8.0
#: Source times of the markers: a white frame and a 1 kHz beep start together, in speech.
MARKERS = [0.5, 1.5, 4.0, 5.0, 7.5]
MARKER_FPS = 30
MARKER_RATE = 48_000


def make_marker_talk(target: Path) -> Path:
    """An 8 s H.264/AAC clip (320x180, 30 fps, 1 s GOPs) whose silences and A/V sync
    points are known by construction: loud noise in MARKER_SPEECH, near-silence (-70
    dBFS) elsewhere, and at each of MARKERS a white frame with a beep starting at the
    same instant, so a rendered cut shows whether picture and sound stayed together."""
    import numpy as np

    width, height = 320, 180
    with av.open(str(target), "w", format="mp4") as out:
        video = out.add_stream("libx264", rate=MARKER_FPS)
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        video.codec_context.options = {
            "preset": "ultrafast",
            "x264-params": "keyint=30:min-keyint=30:scenecut=0",
        }
        audio = out.add_stream("aac", rate=MARKER_RATE)
        audio.layout = "stereo"
        flashes = {round(t * MARKER_FPS) for t in MARKERS}
        yy, xx = np.mgrid[0:height, 0:width]
        for index in range(round(MARKER_SECONDS * MARKER_FPS)):
            gray = (40 + (xx + yy + 4 * index) % 80).astype(np.uint8)
            if index in flashes:
                gray[:] = 255
            rgb = np.ascontiguousarray(np.stack([gray, gray, gray], -1))
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            frame.pts, frame.time_base = index, Fraction(1, MARKER_FPS)
            out.mux(video.encode(frame))
        samples = round(MARKER_SECONDS * MARKER_RATE)
        noise = np.random.default_rng(7).uniform(-1.0, 1.0, samples).astype(np.float32)
        level = np.full(samples, 0.0003, dtype=np.float32)
        for start, end in MARKER_SPEECH:
            level[round(start * MARKER_RATE) : round(end * MARKER_RATE)] = 0.1
        signal = noise * level
        beep = 0.5 * np.sin(2 * np.pi * 1000 * np.arange(round(0.05 * MARKER_RATE)) / MARKER_RATE)
        for t in MARKERS:
            at = round(t * MARKER_RATE)
            signal[at : at + beep.size] = beep.astype(np.float32)
        stereo = np.stack([signal, signal])
        for pos in range(0, samples, 1024):
            chunk = np.ascontiguousarray(stereo[:, pos : pos + 1024])
            frame = av.AudioFrame.from_ndarray(chunk, format="fltp", layout="stereo")
            frame.sample_rate, frame.pts = MARKER_RATE, pos
            frame.time_base = Fraction(1, MARKER_RATE)
            out.mux(audio.encode(frame))
        out.mux(video.encode())
        out.mux(audio.encode())
    return target


def markers_seen(path: Path) -> tuple[list[float], list[float], float, float]:
    """In a rendered marker talk: when white frames show and beeps start (seconds of
    the output), and the declared video and audio stream durations."""
    import numpy as np

    flashes: list[float] = []
    onsets: list[float] = []
    with av.open(str(path)) as container:
        vstream = container.streams.video[0]
        astream = container.streams.audio[0]
        video_end = float((vstream.duration or 0) * vstream.time_base)
        audio_end = float((astream.duration or 0) * astream.time_base)
        for frame in container.decode(vstream):
            if frame.to_ndarray(format="gray").mean() > 235:
                flashes.append(float(frame.pts * frame.time_base))
        container.seek(0)
        rate = astream.codec_context.sample_rate
        chunks = [
            frame.to_ndarray().reshape(len(frame.layout.channels), -1)[0]
            for frame in container.decode(astream)
        ]
    loud = np.flatnonzero(np.abs(np.concatenate(chunks)) > 0.3)
    last = -1.0
    for index in loud:
        t = float(index) / rate
        if t - last > 0.2:
            onsets.append(t)
        last = t
    return flashes, onsets, video_end, audio_end


def output_time(segments: list[tuple[float, float]], t: float) -> float | None:
    """Where source time ``t`` lands in an output keeping ``segments`` (speed 1)."""
    start = 0.0
    for a, b in segments:
        if a <= t < b:
            return start + t - a
        start += b - a
    return None
