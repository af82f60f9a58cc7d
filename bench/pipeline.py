"""Pipeline benchmark: `hushcut cut` SMART/REENCODE against smartcut, auto-editor, ffmpeg.

Measured in one run, for each input (talk10 with x264's default 8.3 s GOPs, and the
same talk with 2 s GOPs): wall time, CPU time and peak memory (the whole process tree's
RSS), the share of output video frames copied from the source, and decode errors, of

- ``hushcut cut`` with its defaults (detect + plan + SMART render),
- ``hushcut cut --from-timeline`` (SMART render only) on the segments the first run kept,
  and the same with ``--mode reencode``,
- with ``--baseline REF``: the SMART render of the pipeline as committed at REF (its
  ``packages/pipeline/src`` exported with ``git archive``), on the same segments,
- smartcut 1.7 (PyPI; PyAV, "minimal recoding around cutpoints") ``--keep`` on the
  same segments, installed into its own venv,
- auto-editor 23.32.1 with its defaults (its own detection; last pure-Python release,
  own venv), or, if it cannot be installed, one x264-medium encode as its stand-in,
- one ffmpeg libx264 encode of exactly the kept stretches (select filter, same
  preset/CRF as REENCODE),
- ``hushcut detect`` against ffmpeg's ``silencedetect`` pass,
- the floor under any SMART render of those segments (``bench/_floor.py``): decoding and
  encoding only the frames that cannot be copied, at the same encoder settings.

Then, for hushcut's SMART and REENCODE outputs: SSIM of every kept frame against the
source frame the rendered timeline maps it to (ffmpeg's ssim filter), the timestamp of
every output frame against the timeline, and speech onsets (audio) against the source's
mapped through the timeline. On a 30-minute input (talk10 three times, joined by stream
copy): peak memory and the same placement checks to the very end.

Peers are installed under bench/.cache (never into the project's environment). Inputs
are generated there on first use by the pipeline's test kit (``hushcut.pipeline.testing``;
speech from espeak-ng, ``apt-get install -y espeak-ng``; talk10 takes about 8 minutes of
encoding on 2 cores, the 2 s-GOP variant as long again). The baselines need ffmpeg:
``apt-get install -y ffmpeg``. ``--clip SECONDS`` benchmarks stream-copied excerpts of
that length instead, for a quick run. Then ``analyze`` against ``detect`` on talk10 and
the size of an hour's waveform peaks (``--analyze-only`` runs just that).
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import av
import numpy as np
import psutil

from hushcut.pipeline.testing import MediaSpec, VideoSpec, generate, media_path

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / "bench" / ".cache"
RESULTS = ROOT / "bench" / "results"
#: The 10-minute talk: 1280x720 H.264 (x264 medium, CRF 23, a keyframe every 250 frames
#: = 8.3 s, x264's default) + AAC 128 kb/s, speech and pauses over -50 dBFS pink noise.
TALK10 = MediaSpec(
    duration=600, seed=1, video=VideoSpec(width=1280, height=720, preset="medium", crf=23)
)
PRESET = "veryfast"
CRF = 20
AUTO_EDITOR = ("auto-editor==23.32.1", "av==12.0.0")
#: What auto-editor needs besides itself when installed with --no-deps.
AUTO_EDITOR_EXTRA = ("numpy<2", "pillow")
SMARTCUT = ("smartcut==1.7",)
#: Targets from the issue, checked at the end of a run.
SMART_VS_BASELINE_MAX = 0.55  # talk10, 8.3 s GOPs
SMART_VS_SMARTCUT_MIN = {"talk10": 2.5, "talk10-gop2s": 2.0}
SSIM_MIN = 0.98
PEAK_MB_MAX = 300
#: Plugins installed in the workspace must not change what is measured.
QUIET_ENV = {"HUSHCUT_DISABLE_PLUGIN_AUTOLOAD": "1"}


# ---------------------------------------------------------------------------- running
@dataclass
class Measure:
    name: str
    wall_s: float
    peak_mb: float
    ok: bool
    note: str = ""
    cpu_s: float = 0.0  # user+system of the whole tree: fairer than wall time on a busy box
    load: float = 0.0  # 1-minute load average when it finished
    output: str | None = None
    copied_share: float | None = None  # output video frames found byte-identical in the source
    decode_errors: int | None = None


def measure(
    name: str,
    cmd: list[str],
    *,
    env: dict[str, str] | None = None,
    output: Path | None = None,
) -> Measure:
    """Run ``cmd``; wall time and the peak of the summed RSS of its process tree."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    try:
        proc = subprocess.Popen(
            cmd,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            env={**os.environ, **QUIET_ENV, **(env or {})},
            text=True,
        )
    except OSError as exc:  # a peer's venv lost its program: the row fails, the run goes on
        print(f"  {name:<40} could not start: {exc}", flush=True)
        return Measure(name, 0.0, 0.0, False, f"could not start: {exc}"[:120])
    peak = 0
    done = threading.Event()

    def poll() -> None:
        nonlocal peak
        try:
            root = psutil.Process(proc.pid)
        except psutil.NoSuchProcess:
            return
        while not done.is_set():
            total = 0
            try:
                for p in [root, *root.children(recursive=True)]:
                    with contextlib.suppress(psutil.NoSuchProcess):
                        total += p.memory_info().rss
            except psutil.NoSuchProcess:
                return
            peak = max(peak, total)
            done.wait(0.05)

    watcher = threading.Thread(target=poll, daemon=True)
    watcher.start()
    _, stderr = proc.communicate()
    wall = time.perf_counter() - start
    done.set()
    watcher.join()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    note = "" if proc.returncode == 0 else (stderr.strip().splitlines() or ["failed"])[-1]
    result = Measure(
        name,
        wall,
        peak / 2**20,
        proc.returncode == 0,
        note[:120],
        cpu,
        os.getloadavg()[0],
        str(output) if output else None,
    )
    print(
        f"  {name:<40} {wall:8.1f} s {cpu:8.1f} cpu-s {peak / 2**20:6.0f} MB"
        f" load {result.load:4.1f} {'' if result.ok else note}",
        flush=True,
    )
    return result


def run(cmd: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, check=True, capture_output=True, text=True)


def ffmpeg(*args: str, level: str = "error") -> list[str]:
    """An ffmpeg command line: quiet, overwriting, then ``args``."""
    return ["ffmpeg", "-v", level, "-nostdin", "-y", *args]


def x264(preset: str = PRESET, crf: int | None = CRF) -> list[str]:
    """ffmpeg arguments encoding video with libx264 and audio as AAC."""
    quality = ["-crf", str(crf)] if crf is not None else []
    return ["-c:v", "libx264", "-preset", preset, *quality, "-c:a", "aac"]


def hushcut(*args: str) -> list[str]:
    return [sys.executable, "-m", "hushcut.pipeline", *args]


# ---------------------------------------------------------------------------- inputs
def need_tools() -> None:
    missing = [t for t in ("ffmpeg", "ffprobe") if shutil.which(t) is None]
    if missing:
        raise SystemExit(f"the bench needs {', '.join(missing)}: apt-get install -y ffmpeg")


def make_talk(name: str, spec: MediaSpec) -> Path:
    """The talk ``spec`` describes, generated once into bench/.cache (truth beside it)."""
    if not media_path(spec, CACHE).exists():
        print(f"generating {name} ({spec.duration:g} s); this takes minutes", flush=True)
    return generate(spec, CACHE)


def duration_of(path: Path) -> float:
    with av.open(str(path)) as c:
        return float(c.duration or 0) / 1e6


def make_long(base: Path, copies: int = 3) -> Path:
    """A 30-minute talk: ``copies`` x talk10 joined by stream copy (no re-encode)."""
    target = CACHE / "talk30.mp4"
    if target.exists():
        return target
    listing = CACHE / "talk30.txt"
    listing.write_text("".join(f"file '{base}'\n" for _ in range(copies)))
    partial = CACHE / "partial-talk30.mp4"
    run(ffmpeg("-f", "concat", "-safe", "0", "-i", str(listing), *copy_args(), str(partial)))
    partial.replace(target)
    return target


def copy_args() -> list[str]:
    return ["-c", "copy", "-movflags", "+faststart"]


def excerpt(source: Path, seconds: float) -> Path:
    target = CACHE / f"{source.stem}-first{seconds:g}s.mp4"
    if not target.exists():
        run(ffmpeg("-i", str(source), "-t", str(seconds), *copy_args(), str(target)))
    return target


def tool_venv(name: str, packages: tuple[str, ...], extra: tuple[str, ...] = ()) -> Path | None:
    """``packages`` (installed without their dependencies when ``extra`` lists those)
    in a venv of their own under bench/.cache; its bin/ directory, or None."""
    venv = CACHE / f"{name}-venv"
    marker = venv / ".installed"
    if marker.exists() and (venv / "bin" / "python").exists():
        return venv / "bin"
    shutil.rmtree(venv, ignore_errors=True)
    uv = shutil.which("uv")
    python = str(venv / "bin" / "python")
    no_deps = ["--no-deps"] if extra else []
    try:
        if uv:
            run([uv, "venv", "-q", "-p", "3.11", str(venv)])
            run([uv, "pip", "install", "-q", "--python", python, *no_deps, *packages])
            if extra:
                run([uv, "pip", "install", "-q", "--python", python, *extra])
        else:
            run([sys.executable, "-m", "venv", str(venv)])
            pip = [python, "-m", "pip", "install", "-q"]
            run([*pip, *no_deps, *packages])
            if extra:
                run([*pip, *extra])
    except subprocess.CalledProcessError as exc:
        print(f"{name} could not be installed: {exc.stderr or exc}", flush=True)
        return None
    marker.write_text(" ".join((*packages, *extra)) + "\n")
    return venv / "bin"


def peer_program(bin_dir: Path, name: str) -> list[str]:
    """The command line of a peer's console script, run by its venv's own python: the
    script's #! line names the folder the venv was made in, which may have moved."""
    return [str(bin_dir / "python"), str(bin_dir / name)]


def baseline_source(ref: str) -> Path:
    """``packages/pipeline/src`` as committed at ``ref``, exported under bench/.cache."""
    sha = run(["git", "-C", str(ROOT), "rev-parse", "--short", ref]).stdout.strip()
    target = CACHE / f"baseline-{sha}"
    if not (target / "src").exists():
        target.mkdir(parents=True, exist_ok=True)
        archive = subprocess.run(
            ["git", "-C", str(ROOT), "archive", sha, "packages/pipeline/src"],
            check=True,
            capture_output=True,
        ).stdout
        subprocess.run(["tar", "-x", "-C", str(target)], input=archive, check=True)
        (target / "packages" / "pipeline" / "src").rename(target / "src")
    return target / "src"


# ---------------------------------------------------------------------------- timeline
@dataclass
class Seg:
    start: float
    end: float
    speed: float = 1.0


def read_timeline(path: Path) -> list[Seg]:
    data = json.loads(path.read_text())
    return [Seg(s["start"], s["end"], s.get("speed", 1.0)) for s in data["segments"]]


def out_starts(segs: list[Seg]) -> list[float]:
    starts = [0.0]
    for s in segs:
        starts.append(starts[-1] + (s.end - s.start) / s.speed)
    return starts


#: The timeline file holds times to the microsecond: a frame up to this much before a
#: segment's start (or end) is that segment's first frame (or the next one's).
TIMELINE_SLACK_S = 1e-3


def to_output(segs: list[Seg], t: float) -> float | None:
    for s, o in zip(segs, out_starts(segs), strict=False):
        if s.start - TIMELINE_SLACK_S <= t < s.end - TIMELINE_SLACK_S:
            return o + (t - s.start) / s.speed
    return None


# ---------------------------------------------------------------------------- quality
def _slice_key(data: bytes) -> bytes | None:
    """A digest of a packet's picture data (slices only), whatever parameter sets,
    SEI or delimiters ride along and however its NAL units are framed."""
    if data[:3] == b"\x00\x00\x01" or data[:4] == b"\x00\x00\x00\x01":
        nals = [n.rstrip(b"\x00") for n in re.split(b"\x00\x00\x01", data) if n]
    else:
        nals, pos = [], 0
        while pos + 4 <= len(data):
            size = int.from_bytes(data[pos : pos + 4], "big")
            nals.append(data[pos + 4 : pos + 4 + size])
            pos += 4 + size
    slices = [n for n in nals if n and n[0] & 0x1F in (1, 5)]
    return hashlib.blake2b(b"".join(slices), digest_size=16).digest() if slices else None


def copied_share(source: Path, output: Path) -> float | None:
    """The share of the output's video frames whose coded pictures are the source's own."""
    with av.open(str(source)) as container:
        known = {
            _slice_key(bytes(p)) for p in container.demux(container.streams.video[0]) if p.size
        }
    with av.open(str(output)) as container:
        if not container.streams.video:
            return None
        keys = [_slice_key(bytes(p)) for p in container.demux(container.streams.video[0]) if p.size]
    known.discard(None)
    return sum(k in known for k in keys) / len(keys) if keys else None


def decode_errors(path: Path) -> int:
    """Lines FFmpeg logs at error level while decoding every stream of ``path``."""
    done = subprocess.run(
        ffmpeg("-i", str(path), "-f", "null", "-"), capture_output=True, text=True, check=False
    )
    return len([line for line in done.stderr.splitlines() if line.strip()])


def kept_select(segs: list[Seg]) -> str:
    """An ffmpeg select expression true for the source frames ``segs`` keep."""
    return "+".join(f"gte(t,{s.start - 1e-6:.6f})*lt(t,{s.end - 1e-6:.6f})" for s in segs)


def every_frame_ssim(source: Path, output: Path, segs: list[Seg]) -> dict:
    """SSIM of every output frame against the source frame the timeline keeps in its
    place (ffmpeg's ssim filter over the two frame sequences)."""
    # Both sequences are renumbered on one fixed clock (N/25 s): FRAME_RATE may differ
    # by a hair between the two files, and the ssim filter pairs frames by time.
    stats = CACHE / f"ssim-{os.getpid()}.log"
    script = CACHE / f"ssim-{os.getpid()}.filter"
    script.write_text(
        f"[1:v]select='{kept_select(segs)}',setpts=N/(25*TB)[ref];"
        f"[0:v]setpts=N/(25*TB)[out];[out][ref]ssim=stats_file={stats}"
    )
    try:
        run(
            [
                *ffmpeg(
                    "-i", str(output), "-i", str(source), "-filter_complex_script", str(script)
                ),
                "-an",
                "-f",
                "null",
                "-",
            ]
        )
        luma = [float(m) for m in re.findall(r"Y:([\d.]+)", stats.read_text())]
        every = [float(m) for m in re.findall(r"All:([\d.]+)", stats.read_text())]
    finally:
        stats.unlink(missing_ok=True)
        script.unlink(missing_ok=True)
    with av.open(str(output)) as container:
        frames = sum(1 for p in container.demux(container.streams.video[0]) if p.size)
    return {
        "ssim_frames": len(every),
        "output_frames": frames,
        "ssim_min": round(min(every), 4) if every else None,
        "ssim_luma_min": round(min(luma), 4) if luma else None,
        "ssim_mean": round(float(np.mean(every)), 4) if every else None,
    }


def frame_times(path: Path) -> list[float]:
    """Presentation times of every video frame (demuxed, in display order), from 0."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        start = (container.start_time or 0) / av.time_base
        times = sorted(
            float(p.pts * p.time_base) - start
            for p in container.demux(stream)
            if p.size and p.pts is not None and not p.is_discard
        )
    return times


def video_placement(source: Path, output: Path, segs: list[Seg]) -> dict:
    """The worst distance between an output frame's time and the time the timeline gives
    the source frame it shows (frames compared in order)."""
    expected = [t for t in (to_output(segs, t) for t in frame_times(source)) if t is not None]
    got = frame_times(output)
    errors = [abs(a - b) for a, b in zip(got, expected, strict=False)]
    return {
        "video_frames": len(got),
        "video_expected": len(expected),
        "video_max_error_ms": round(max(errors) * 1000, 1) if errors else None,
    }


def loudness_onsets(path: Path, window: float = 0.005) -> tuple[np.ndarray, float]:
    """Times where the level rises from 150 ms of quiet to speech (5 ms windows).

    Samples are placed by their timestamps, not by counting, so a source whose audio
    has gaps or overlaps (joined recordings) is measured on the same clock as its video.
    """
    times: list[np.ndarray] = []
    levels: list[np.ndarray] = []
    with av.open(str(path)) as c:
        stream = c.streams.audio[0]
        rate = stream.codec_context.sample_rate
        size = int(rate * window)
        carry = np.zeros(0, dtype=np.float32)
        carry_start = 0.0
        resampler = av.AudioResampler(format="flt", layout="mono", rate=rate)
        for frame in c.decode(stream):
            at = float(frame.pts * frame.time_base) if frame.pts is not None else None
            for mono in resampler.resample(frame):
                data = mono.to_ndarray().reshape(-1)
                expected = carry_start + carry.size / rate
                if at is not None and abs(at - expected) > 0.002:
                    carry, carry_start = np.zeros(0, dtype=np.float32), at
                data = np.concatenate([carry, data])
                n = data.size // size
                blocks = data[: n * size].reshape(n, size)
                times.append(carry_start + np.arange(n) * window)
                levels.append(np.sqrt(np.mean(blocks**2, axis=1) + 1e-12))
                carry = data[n * size :]
                carry_start += n * window
                at = None
    t = np.concatenate(times)
    loud = 20 * np.log10(np.concatenate(levels)) > -30
    rising = np.flatnonzero(loud[1:] & ~loud[:-1]) + 1
    quiet_before = np.array([not loud[max(0, i - 30) : i].any() for i in rising], dtype=bool)
    return t[rising[quiet_before]], window


#: Audio is compared at this rate (mono): 0.125 ms resolution, light enough for an hour.
PLACEMENT_RATE = 8000
#: How far (s) from where the timeline puts it an onset's audio is looked for.
PLACEMENT_SEARCH_S = 0.5
#: The stretch of source audio matched at each onset: 50 ms before it, 250 ms after.
ONSET_BEFORE_S, ONSET_AFTER_S = 0.05, 0.25


def mono_audio(path: Path, rate: int = PLACEMENT_RATE) -> tuple[np.ndarray, float]:
    """The first audio stream as mono float samples at ``rate`` and the time of the first
    one, in seconds from the file's start."""
    chunks: list[np.ndarray] = []
    first: float | None = None
    with av.open(str(path)) as c:
        start = (c.start_time or 0) / av.time_base
        stream = c.streams.audio[0]
        resampler = av.AudioResampler(format="flt", layout="mono", rate=rate)
        for frame in c.decode(stream):
            if first is None and frame.pts is not None:
                first = float(frame.pts * frame.time_base) - start
            chunks.extend(m.to_ndarray().reshape(-1) for m in resampler.resample(frame))
    return np.concatenate(chunks), first or 0.0


def av_placement(source: Path, output: Path, segs: list[Seg]) -> dict:
    """Where each speech onset's audio sits in the output against where the timeline puts
    it: the source's audio around the onset (50 ms before, 250 ms after) is found in the
    output's by normalised cross-correlation within 0.5 s of the mapped time.

    Matching the audio itself, not onsets detected again in the output, keeps the
    measure free of the detector's threshold jitter (the AAC re-encode moves levels by
    a fraction of a dB). Only onsets whose stretch lies inside one kept segment count.
    """
    src_on, _ = loudness_onsets(source)
    rate = PLACEMENT_RATE
    a, a0 = mono_audio(source, rate)
    b, b0 = mono_audio(output, rate)
    search = int(PLACEMENT_SEARCH_S * rate)
    errors: list[float] = []
    for t in map(float, src_on):
        expected = to_output(segs, t)
        inside = any(s.start + 0.2 <= t < s.end - ONSET_AFTER_S for s in segs)
        if expected is None or not inside:
            continue
        i = round((t - ONSET_BEFORE_S - a0) * rate)
        ref = a[i : i + round((ONSET_BEFORE_S + ONSET_AFTER_S) * rate)]
        j = round((expected - ONSET_BEFORE_S - b0) * rate) - search
        if i < 0 or j < 0 or ref.size == 0:
            continue
        window = b[j : j + ref.size + 2 * search]
        if window.size < ref.size + 2 * search:
            continue
        scores = np.correlate(window, ref, mode="valid")
        energy = np.convolve(window**2, np.ones(ref.size), mode="valid")
        lag = int(np.argmax(scores / np.sqrt(energy + 1e-12))) - search
        errors.append(abs(lag) / rate)
    errors_arr = np.array(errors) if errors else np.array([np.inf])
    return {
        "onsets_checked": len(errors),
        "audio_max_error_ms": round(float(errors_arr.max()) * 1000, 1),
        "audio_median_error_ms": round(float(np.median(errors_arr)) * 1000, 1),
        "resolution_ms": 1000 / rate,
    }


def quality(source: Path, output: Path, segs: list[Seg], *, ssim: bool = True) -> dict:
    result: dict = {"output_s": round(duration_of(output), 3)}
    if ssim:
        result.update(every_frame_ssim(source, output, segs))
    result.update(video_placement(source, output, segs))
    result.update(av_placement(source, output, segs))
    return result


# ---------------------------------------------------------------------------- scenarios
@dataclass
class Peers:
    auto_editor: Path | None = None
    smartcut: Path | None = None
    baseline: Path | None = None  # src/ of the pipeline at --baseline
    baseline_ref: str = ""


@dataclass
class InputReport:
    name: str
    source: str
    duration_s: float
    planned_s: float = 0.0
    segments: int = 0
    gop_s: float = 0.0
    measures: list[Measure] = field(default_factory=list)
    quality: dict = field(default_factory=dict)

    def get(self, name: str) -> Measure | None:
        return next((m for m in self.measures if m.name == name and m.ok), None)


def ffmpeg_same_output(source: Path, segs: list[Seg], target: Path) -> list[str]:
    picks = "+".join(f"between(t,{s.start:.4f},{s.end:.4f})" for s in segs)
    script = CACHE / f"{target.stem}.filter"
    script.write_text(
        f"[0:v]select='{picks}',setpts=N/FRAME_RATE/TB[v];[0:a]aselect='{picks}',asetpts=N/SR/TB[a]"
    )
    return [
        *ffmpeg(
            "-i", str(source), "-filter_complex_script", str(script), "-map", "[v]", "-map", "[a]"
        ),
        *x264(),
        str(target),
    ]


def gop_seconds(path: Path) -> float:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        keys = [
            float(p.pts * p.time_base) for p in container.demux(stream) if p.is_keyframe and p.pts
        ]
    return round(float(np.median(np.diff([0.0, *keys]))), 2) if keys else 0.0


SMART_FULL = "hushcut cut (smart, detect+render)"
SMART = "hushcut cut --from-timeline (smart)"
REENCODE = "hushcut cut --from-timeline --mode reencode"
SMARTCUT_ROW = "smartcut 1.7 --keep (same segments)"
AUTO_EDITOR_ROW = "auto-editor 23.32.1 (defaults)"
STAND_IN_ROW = "x264 medium (auto-editor stand-in)"
FFMPEG_ROW = f"ffmpeg x264 {PRESET}, same output"
FLOOR_ROW = "floor: decode+encode only what SMART must"


def bench_input(name: str, source: Path, work: Path, peers: Peers) -> InputReport:
    print(f"\n{name}: {source}", flush=True)
    report = InputReport(name, str(source), duration_of(source), gop_s=gop_seconds(source))
    out = work / name
    out.mkdir(parents=True, exist_ok=True)
    timeline = out / "timeline.json"
    m = report.measures
    m.append(
        measure(
            SMART_FULL,
            [
                *hushcut(
                    "cut", str(source), "-o", str(out / "full.mp4"), "--timeline", str(timeline)
                ),
                "-q",
            ],
        )
    )
    segs = read_timeline(timeline)
    report.planned_s = out_starts(segs)[-1]
    report.segments = len(segs)
    render = ["--from-timeline", str(timeline), "-q"]
    m.append(
        measure(
            SMART,
            hushcut("cut", str(source), "-o", str(out / "smart.mp4"), *render),
            output=out / "smart.mp4",
        )
    )
    m.append(
        measure(
            FLOOR_ROW,
            [sys.executable, "-m", "bench._floor", str(source), str(timeline)],
            env={"PYTHONPATH": str(ROOT)},
        )
    )
    if peers.baseline is not None:
        m.append(
            measure(
                f"hushcut@{peers.baseline_ref} --from-timeline (smart)",
                hushcut("cut", str(source), "-o", str(out / "baseline.mp4"), *render),
                env={"PYTHONPATH": str(peers.baseline)},
                output=out / "baseline.mp4",
            )
        )
    m.append(
        measure(
            REENCODE,
            hushcut("cut", str(source), "-o", str(out / "reencode.mp4"), "--mode", "reencode")
            + render,
            output=out / "reencode.mp4",
        )
    )
    if peers.smartcut is not None:
        keep = ",".join(f"{s.start:.6f},{s.end:.6f}" for s in segs)
        m.append(
            measure(
                SMARTCUT_ROW,
                [
                    *peer_program(peers.smartcut, "smartcut"),
                    str(source),
                    str(out / "smartcut.mp4"),
                    "--keep",
                    keep,
                    "--log-level",
                    "error",
                ],
                output=out / "smartcut.mp4",
            )
        )
    if peers.auto_editor is not None:
        env = {"PATH": f"/usr/bin:{os.environ.get('PATH', '')}"}
        m.append(
            measure(
                AUTO_EDITOR_ROW,
                [
                    *peer_program(peers.auto_editor, "auto-editor"),
                    str(source),
                    "-o",
                    str(out / "auto-editor.mp4"),
                    "--no-open",
                    "--progress",
                    "none",
                ],
                env=env,
                output=out / "auto-editor.mp4",
            )
        )
    else:
        m.append(
            measure(
                STAND_IN_ROW,
                ffmpeg("-i", str(source), *x264("medium", None), str(out / "medium.mp4")),
                output=out / "medium.mp4",
            )
        )
    m.append(
        measure(
            FFMPEG_ROW,
            ffmpeg_same_output(source, segs, out / "ffmpeg-same.mp4"),
            output=out / "ffmpeg-same.mp4",
        )
    )
    m.append(measure("hushcut detect", hushcut("detect", "--json", str(source))))
    m.append(
        measure(
            "ffmpeg silencedetect",
            [
                *ffmpeg("-nostats", "-i", str(source), "-vn", "-af", "silencedetect=n=-35dB:d=0.3"),
                "-f",
                "null",
                "-",
            ],
        )
    )
    for row in m:
        if row.ok and row.output and Path(row.output).exists():
            row.copied_share = copied_share(source, Path(row.output))
            row.decode_errors = decode_errors(Path(row.output))
    for mode in ("smart", "reencode"):
        path = out / f"{mode}.mp4"
        if path.exists():
            report.quality[mode] = quality(source, path, segs)
            print(f"  quality {mode}: {report.quality[mode]}", flush=True)
    return report


def bench_long(source: Path, work: Path) -> InputReport:
    print(f"\nlong input: {source}", flush=True)
    report = InputReport(source.stem, str(source), duration_of(source), gop_s=gop_seconds(source))
    out = work / f"long-{source.stem}"
    out.mkdir(parents=True, exist_ok=True)
    timeline = out / "timeline.json"
    minutes = f"{report.duration_s / 60:.0f} min"
    output = out / "smart.mp4"
    row = measure(
        f"hushcut cut (smart), {minutes}",
        hushcut("cut", str(source), "-o", str(output), "--timeline", str(timeline), "-q"),
        output=output,
    )
    report.measures.append(row)
    report.measures.append(
        measure(f"hushcut detect, {minutes}", hushcut("detect", "--json", str(source)))
    )
    segs = read_timeline(timeline)
    report.planned_s = out_starts(segs)[-1]
    report.segments = len(segs)
    row.copied_share = copied_share(source, output)
    row.decode_errors = decode_errors(output)
    report.quality["smart"] = quality(source, output, segs, ssim=False)
    print(f"  sync: {report.quality['smart']}", flush=True)
    return report


# ---------------------------------------------------------------------------- report
def ratio(a: Measure | None, b: Measure | None) -> str:
    """How many times faster ``a`` is than ``b``, by wall time and by CPU time."""
    if a is None or b is None or a.wall_s <= 0 or a.cpu_s <= 0:
        return "n/a"
    return f"{b.wall_s / a.wall_s:.2f}x wall, {b.cpu_s / a.cpu_s:.2f}x cpu"


def share(a: Measure | None, b: Measure | None) -> str:
    """``a`` as a multiple of ``b``, by wall time and by CPU time."""
    if a is None or b is None or b.wall_s <= 0 or b.cpu_s <= 0:
        return "n/a"
    return f"{a.wall_s / b.wall_s:.2f} wall, {a.cpu_s / b.cpu_s:.2f} cpu"


def _percent(value: float | None) -> str:
    return "" if value is None else f"{100 * value:.1f}%"


def targets(reports: list[InputReport]) -> list[str]:
    """Each target of the issue, judged on CPU time (the machine is shared) and wall."""
    lines = []
    for r in reports:
        smart = r.get(SMART)
        base = next((m for m in r.measures if m.name.startswith("hushcut@") and m.ok), None)
        peer = r.get(SMARTCUT_ROW)
        if r.name == "talk10" and smart and base:
            cpu, wall = smart.cpu_s / base.cpu_s, smart.wall_s / base.wall_s
            verdict = "met" if cpu <= SMART_VS_BASELINE_MAX else "NOT met"
            lines.append(
                f"{r.name}: SMART / baseline = {cpu:.2f} cpu, {wall:.2f} wall "
                f"(target <= {SMART_VS_BASELINE_MAX}): {verdict}"
            )
            floor = r.get(FLOOR_ROW)
            if floor and floor.ok:
                below = floor.cpu_s / base.cpu_s > SMART_VS_BASELINE_MAX
                lines.append(
                    f"{r.name}: floor / baseline = {floor.cpu_s / base.cpu_s:.2f} cpu, "
                    f"{floor.wall_s / base.wall_s:.2f} wall: decoding and encoding only the "
                    "frames SMART cannot copy "
                    + (
                        f"already costs more than {SMART_VS_BASELINE_MAX}x the baseline"
                        if below
                        else "leaves room under the target"
                    )
                )
        wanted = SMART_VS_SMARTCUT_MIN.get(r.name)
        if wanted and smart and peer:
            cpu, wall = peer.cpu_s / smart.cpu_s, peer.wall_s / smart.wall_s
            verdict = "met" if cpu >= wanted else "NOT met"
            lines.append(
                f"{r.name}: SMART vs smartcut = {cpu:.2f}x cpu, {wall:.2f}x wall faster "
                f"(target >= {wanted}x): {verdict}"
            )
        for mode, q in r.quality.items():
            if q.get("ssim_min") is not None:
                ok = q["ssim_min"] >= SSIM_MIN and q["ssim_frames"] == q["output_frames"]
                lines.append(
                    f"{r.name} {mode}: SSIM min {q['ssim_min']} over {q['ssim_frames']} of "
                    f"{q['output_frames']} frames (target >= {SSIM_MIN}): "
                    f"{'met' if ok else 'NOT met'}"
                )
            frame_ms = 1000 / 30
            worst = max(q.get("video_max_error_ms") or 0, q.get("audio_max_error_ms") or 0)
            lines.append(
                f"{r.name} {mode}: A/V error at cuts {worst:.1f} ms (target <= 1 frame, "
                f"{frame_ms:.1f} ms): {'met' if worst <= frame_ms else 'NOT met'}"
            )
        for m in r.measures:
            if m.name.startswith("hushcut cut") and m.decode_errors is not None:
                lines.append(
                    f"{r.name} {m.name}: {m.decode_errors} decode errors, peak {m.peak_mb:.0f} MB"
                    f" (targets 0, < {PEAK_MB_MAX} MB): "
                    f"{'met' if m.decode_errors == 0 and m.peak_mb < PEAK_MB_MAX else 'NOT met'}"
                )
    return lines


def print_table(reports: list[InputReport]) -> None:
    for r in reports:
        print(
            f"\n{r.name}: {r.duration_s:.1f} s (GOP {r.gop_s:g} s) -> planned "
            f"{r.planned_s:.1f} s, {r.segments} kept segments"
        )
        print(
            f"  {'what':<44}{'wall s':>9}{'cpu s':>9}{'peak MB':>9}{'copied':>8}"
            f"{'errors':>7}{'load':>6}"
        )
        for m in r.measures:
            flag = "" if m.ok else f"  FAILED: {m.note}"
            errors = "" if m.decode_errors is None else str(m.decode_errors)
            print(
                f"  {m.name:<44}{m.wall_s:9.1f}{m.cpu_s:9.1f}{m.peak_mb:9.0f}"
                f"{_percent(m.copied_share):>8}{errors:>7}{m.load:6.1f}{flag}"
            )
        smart = r.get(SMART)
        full = r.get(SMART_FULL)
        reenc = r.get(REENCODE)
        ae = r.get(AUTO_EDITOR_ROW) or r.get(STAND_IN_ROW)
        same = r.get(FFMPEG_ROW)
        det = r.get("hushcut detect")
        sd = r.get("ffmpeg silencedetect")
        base = next((m for m in r.measures if m.name.startswith("hushcut@") and m.ok), None)
        if smart:
            peer = r.get(SMARTCUT_ROW)
            print(f"  SMART render vs smartcut 1.7 (same segments): {ratio(smart, peer)} faster")
            if base:
                print(f"  SMART render / {base.name}: {share(smart, base)}")
            print(f"  SMART render / ffmpeg same-output encode: {share(smart, same)}")
            floor = r.get(FLOOR_ROW)
            if floor and floor.ok:
                print(f"  SMART render / its floor (must-encode frames): {share(smart, floor)}")
        if full:
            print(f"  hushcut cut (detect+SMART) vs auto-editor: {ratio(full, ae)} faster")
        if reenc:
            print(f"  reencode / ffmpeg same-output encode: {share(reenc, same)} (target <= 1.2)")
        if det and sd:
            print(f"  detect / silencedetect: {share(det, sd)} (target <= 2)")
        for mode, q in r.quality.items():
            print(f"  {mode}: {q}")
    lines = targets(reports)
    if lines:
        print("\ntargets (CPU time decides: the machine is shared)")
        for line in lines:
            print(f"  {line}")


# ---------------------------------------------------------------------------- analyze
@dataclass
class AnalyzeReport:
    """``analyze`` (detect + plan + waveform peaks) against ``detect`` alone, in-process,
    alternating rounds; and the size of an hour's peaks."""

    source: str
    duration_s: float
    detector: str = "loudness"
    #: Whether analyze measured the peaks on the detector's own decode.
    one_decode: bool = True
    rounds: list[dict[str, float]] = field(default_factory=list)
    detect_cpu_s: float = 0.0
    analyze_cpu_s: float = 0.0
    detect_wall_s: float = 0.0
    analyze_wall_s: float = 0.0
    hour_source: str = ""
    hour_duration_s: float = 0.0
    hour_peaks: int = 0
    hour_bytes_compact: int = 0
    hour_bytes_default_json: int = 0

    @property
    def cpu_ratio(self) -> float:
        return self.analyze_cpu_s / self.detect_cpu_s if self.detect_cpu_s else 0.0

    @property
    def wall_ratio(self) -> float:
        return self.analyze_wall_s / self.detect_wall_s if self.detect_wall_s else 0.0

    @property
    def median_cpu_ratio(self) -> float:
        """The median over rounds of analyze / detect CPU time (each pair ran back to back)."""
        ratios = [r["analyze_cpu_s"] / r["detect_cpu_s"] for r in self.rounds if r["detect_cpu_s"]]
        return float(np.median(ratios)) if ratios else 0.0


def make_hour_audio(base: Path, copies: int = 6) -> Path:
    """An hour of talk audio: ``copies`` x talk10's audio joined by stream copy (the
    waveform needs only the audio, and an hour of video would be 1.4 GB)."""
    target = CACHE / f"talk{10 * copies}-audio.m4a"
    if target.exists():
        return target
    listing = CACHE / f"{target.stem}.txt"
    listing.write_text("".join(f"file '{base}'\n" for _ in range(copies)))
    partial = CACHE / f"partial-{target.name}"
    run(
        [
            "ffmpeg",
            "-v",
            "error",
            "-y",
            "-f",
            "concat",
            "-safe",
            "0",
            "-i",
            str(listing),
            "-vn",
            "-c:a",
            "copy",
            "-f",
            "mp4",
            str(partial),
        ]
    )
    partial.replace(target)
    return target


def bench_analyze(
    source: Path, hour: Path | None, detector: str = "loudness", rounds: int = 5
) -> AnalyzeReport:
    """``detect`` and ``analyze`` with ``detector`` on ``source`` in this process,
    alternating, ``rounds`` times after one warm-up of each; the best (least disturbed)
    round of each counts."""
    from hushcut.pipeline import analyze, detect, get_plugin_manager

    pm = get_plugin_manager(autoload=detector != "loudness")
    options = {"detector": detector}
    report = AnalyzeReport(source=str(source), duration_s=duration_of(source), detector=detector)
    print(
        f"\nanalyze vs detect on {source.name} ({report.duration_s:.0f} s), {detector} detector",
        flush=True,
    )
    detect(source, options, plugin_manager=pm)
    report.one_decode = not analyze(source, options, plugin_manager=pm).peaks_decoded_again
    for number in range(1, rounds + 1):
        row: dict[str, float] = {}
        for name, call in (
            ("detect", lambda: detect(source, options, plugin_manager=pm)),
            ("analyze", lambda: analyze(source, options, plugin_manager=pm)),
        ):
            cpu, wall = time.process_time(), time.perf_counter()
            call()
            row[f"{name}_cpu_s"] = time.process_time() - cpu
            row[f"{name}_wall_s"] = time.perf_counter() - wall
        row["load"] = os.getloadavg()[0]
        report.rounds.append(row)
        print(
            f"  round {number}: detect {row['detect_wall_s']:.2f} s ({row['detect_cpu_s']:.2f}"
            f" cpu-s), analyze {row['analyze_wall_s']:.2f} s ({row['analyze_cpu_s']:.2f} cpu-s),"
            f" load {row['load']:.1f}",
            flush=True,
        )
    for key in ("detect_cpu_s", "analyze_cpu_s", "detect_wall_s", "analyze_wall_s"):
        setattr(report, key, min(row[key] for row in report.rounds))
    if hour is not None:
        peaks = analyze(hour, options, plugin_manager=pm).peaks
        report.hour_source = str(hour)
        report.hour_duration_s = peaks.duration
        report.hour_peaks = len(peaks.peaks[0])
        report.hour_bytes_compact = len(peaks.to_bytes())
        report.hour_bytes_default_json = len(json.dumps(peaks.to_json()).encode())
    return report


def analyze_reports(base: Path, hour: Path | None) -> list[AnalyzeReport]:
    """The built-in detector (the target), then hushcut-vad's if it is installed."""
    from hushcut.pipeline import default_plugin_manager
    from hushcut.pipeline._hooks import Hooks

    reports = [bench_analyze(base, hour)]
    if "vad" in Hooks(default_plugin_manager()).register_detectors().names():
        reports.append(bench_analyze(base, None, "vad", rounds=3))
    return reports


def print_analyze(report: AnalyzeReport) -> None:
    print(
        f"\nanalyze / detect on {Path(report.source).name} ({report.duration_s:.0f} s),"
        f" {report.detector} detector, peaks "
        + ("from the detector's decode:" if report.one_decode else "decoded again:")
    )
    print(
        f"  detect {report.detect_wall_s:.2f} s wall, {report.detect_cpu_s:.2f} cpu-s;"
        f" analyze {report.analyze_wall_s:.2f} s wall, {report.analyze_cpu_s:.2f} cpu-s"
        f" (best of {len(report.rounds)})"
    )
    print(
        f"  analyze / detect: {report.wall_ratio:.3f} wall, {report.cpu_ratio:.3f} cpu"
        f" (best of each), {report.median_cpu_ratio:.3f} cpu (median of rounds)"
        " (target <= 1.15)"
    )
    if report.hour_peaks:
        print(
            f"  peaks of {report.hour_duration_s / 60:.0f} min: {report.hour_peaks} values,"
            f" {report.hour_bytes_compact / 1e6:.3f} MB as Peaks.to_bytes() (target < 1 MB),"
            f" {report.hour_bytes_default_json / 1e6:.3f} MB as json.dumps(to_json())"
        )


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench pipeline",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--clip",
        type=float,
        default=0.0,
        help="benchmark excerpts of this many seconds (quick run)",
    )
    parser.add_argument("--skip-long", action="store_true", help="skip the 30-minute input")
    parser.add_argument("--skip-gop2", action="store_true", help="skip the 2 s-GOP variant")
    parser.add_argument("--long-only", action="store_true", help="only the 30-minute input")
    parser.add_argument(
        "--analyze-only",
        action="store_true",
        help="only analyze vs detect on talk10 and the size of an hour's peaks",
    )
    parser.add_argument("--skip-analyze", action="store_true", help="skip analyze vs detect")
    parser.add_argument(
        "--long-input", type=Path, help="use this file as the long input (default: talk30)"
    )
    parser.add_argument("--keep", action="store_true", help="keep the outputs in bench/.cache")
    parser.add_argument(
        "--input",
        type=Path,
        action="append",
        default=[],
        help="benchmark this file instead of the generated talks",
    )
    parser.add_argument(
        "--no-auto-editor",
        action="store_true",
        help="use the x264-medium stand-in instead of auto-editor",
    )
    parser.add_argument("--no-smartcut", action="store_true", help="leave smartcut out")
    parser.add_argument(
        "--baseline",
        metavar="REF",
        help="also render with the pipeline as committed at this git ref (e.g. main)",
    )
    args = parser.parse_args(argv)
    if args.analyze_only:
        args.skip_gop2 = args.skip_long = True
    need_tools()
    if args.input:
        inputs = [(p.stem, p.resolve()) for p in args.input]
        args.skip_long = True
    else:
        talk10 = make_talk("talk10", TALK10)
        inputs = [("talk10", talk10)]
    if not args.skip_gop2 and not args.input and not args.long_only:
        inputs.append(
            (
                "talk10-gop2s",
                make_talk("talk10-gop60", TALK10.replace(video={"gop": 60})),
            )
        )
    if args.clip:
        inputs = [(f"{n}-first{args.clip:g}s", excerpt(p, args.clip)) for n, p in inputs]
    peers = Peers()
    if not args.long_only:
        if not args.no_auto_editor:
            peers.auto_editor = tool_venv("autoeditor", AUTO_EDITOR, AUTO_EDITOR_EXTRA)
        if not args.no_smartcut:
            peers.smartcut = tool_venv("smartcut", SMARTCUT)
        if args.baseline:
            peers.baseline = baseline_source(args.baseline)
            peers.baseline_ref = args.baseline
    stamp = time.strftime("%Y%m%d-%H%M%S")
    analyzed: list[AnalyzeReport] = []
    if not args.skip_analyze and (not args.long_only or args.analyze_only):
        base = inputs[0][1] if inputs else make_talk("talk10", TALK10)
        hour = None if args.input or args.clip else make_hour_audio(base)
        analyzed = analyze_reports(base, hour)
    if args.analyze_only:
        for report in analyzed:
            print_analyze(report)
        RESULTS.mkdir(parents=True, exist_ok=True)
        result_file = RESULTS / f"pipeline-analyze-{stamp}.json"
        result_file.write_text(json.dumps([asdict(r) for r in analyzed], indent=1))
        print(f"\nresults: {result_file}")
        return 0
    work = CACHE / f"run-{stamp}"
    if args.long_only:
        inputs = []
        args.skip_long = False
    print(f"load before the run: {os.getloadavg()[0]:.1f} (cores: {os.cpu_count()})", flush=True)
    reports = [bench_input(name, path, work, peers) for name, path in inputs]
    if not args.skip_long:
        long_input = args.long_input.resolve() if args.long_input else make_long(talk10)
        reports.append(bench_long(long_input, work))
    print_table(reports)
    for report in analyzed:
        print_analyze(report)
    RESULTS.mkdir(parents=True, exist_ok=True)
    result_file = RESULTS / f"pipeline-{stamp}.json"
    results: list[dict[str, object]] = [asdict(r) for r in reports]
    results.extend({"analyze": asdict(report)} for report in analyzed)
    result_file.write_text(json.dumps(results, indent=1, default=str))
    print(f"\nresults: {result_file}")
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    return 0
