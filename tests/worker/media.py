"""Media helpers of the worker tests (the clips themselves come from the test kit)."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av

#: The worker tests' and the worker bench's job: a 6 s talk at 320x180 (1 s GOPs, x264
#: ultrafast) whose pauses (at least 2 s between sentences, lead-in and tail) a cut
#: visibly removes. Changes to the test kit's default talk (``sample_media("talk", ...)``).
TALK_CLIP = {
    "duration": 6.0,
    "seed": 4,
    "pause_min": 2.0,
    "pause_max": 2.5,
    "video": {"width": 320, "height": 180, "gop": 30, "preset": "ultrafast"},
}


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
