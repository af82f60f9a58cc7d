"""Pipeline benchmark: `hushcut cut` SMART/REENCODE against ffmpeg and auto-editor.

Measured in one run, for each input (talk10 with x264's default 8.3 s GOPs, and the
same talk with 2 s GOPs): wall time and peak memory (the whole process tree's RSS) of

- ``hushcut cut`` in SMART (default) and REENCODE mode,
- a stream-copy remux of the input (the floor: reading and writing the bytes),
- one ffmpeg libx264 encode of the whole input with the same preset and CRF,
- one ffmpeg libx264 encode of exactly the kept stretches (the same output as REENCODE),
- auto-editor 23.32.1 with its defaults (last pure-Python release, own venv), or, if it
  cannot be installed, one full x264-medium encode as its documented stand-in,
- ``hushcut detect`` against ffmpeg's ``silencedetect`` pass.

Then the quality of the kept frames (SSIM of output frames against the source frames the
timeline maps them to) and, on a 30-minute input, peak memory and A/V placement: speech
onsets and frames must land where the timeline says, within one frame, to the very end.

Inputs are generated into bench/.cache on first use by the pipeline's test kit
(``hushcut.pipeline.testing``; speech from espeak-ng, ``apt-get install -y espeak-ng``;
talk10 takes about 8 minutes of encoding on 2 cores, the 2 s-GOP variant as long
again). The baselines need ffmpeg: ``apt-get install -y ffmpeg``. ``--clip SECONDS`` benchmarks
stream-copied excerpts of that length instead, for a quick run.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
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


def measure(name: str, cmd: list[str], *, env: dict[str, str] | None = None) -> Measure:
    """Run ``cmd``; wall time and the peak of the summed RSS of its process tree."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.Popen(
        cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, text=True
    )
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
        name, wall, peak / 2**20, proc.returncode == 0, note[:120], cpu, os.getloadavg()[0]
    )
    print(
        f"  {name:<34} {wall:8.1f} s {cpu:8.1f} cpu-s {peak / 2**20:6.0f} MB"
        f" load {result.load:4.1f} {'' if result.ok else note}",
        flush=True,
    )
    return result


def run(cmd: list[str]) -> None:
    subprocess.run(cmd, check=True, capture_output=True)


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
            "-c",
            "copy",
            "-movflags",
            "+faststart",
            str(partial),
        ]
    )
    partial.replace(target)
    return target


def excerpt(source: Path, seconds: float) -> Path:
    target = CACHE / f"{source.stem}-first{seconds:g}s.mp4"
    if not target.exists():
        run(
            [
                "ffmpeg",
                "-v",
                "error",
                "-y",
                "-i",
                str(source),
                "-t",
                str(seconds),
                "-c",
                "copy",
                "-movflags",
                "+faststart",
                str(target),
            ]
        )
    return target


def auto_editor() -> Path | None:
    """auto-editor 23.32.1 in its own venv (its PyAV pin clashes with ours), or None."""
    venv = CACHE / "autoeditor-venv"
    exe = venv / "bin" / "auto-editor"
    if exe.exists():
        return exe
    uv = shutil.which("uv")
    try:
        if uv:
            run([uv, "venv", "-q", "-p", "3.11", str(venv)])
            py = str(venv / "bin" / "python")
            run([uv, "pip", "install", "-q", "--python", py, "--no-deps", *AUTO_EDITOR])
            run([uv, "pip", "install", "-q", "--python", py, *AUTO_EDITOR_EXTRA])
        else:
            run([sys.executable, "-m", "venv", str(venv)])
            pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "-q"]
            run([*pip, "--no-deps", *AUTO_EDITOR])
            run([*pip, *AUTO_EDITOR_EXTRA])
    except subprocess.CalledProcessError as exc:
        print(f"auto-editor could not be installed: {exc}", flush=True)
        return None
    return exe if exe.exists() else None


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


def to_output(segs: list[Seg], t: float) -> float | None:
    for s, o in zip(segs, out_starts(segs), strict=False):
        if s.start <= t < s.end:
            return o + (t - s.start) / s.speed
    return None


def to_source(segs: list[Seg], tau: float) -> float | None:
    for s, o in zip(segs, out_starts(segs), strict=False):
        length = (s.end - s.start) / s.speed
        if o <= tau < o + length:
            return s.start + (tau - o) * s.speed
    return None


# ---------------------------------------------------------------------------- quality
def _box(img: np.ndarray, k: int = 8) -> np.ndarray:
    c = np.cumsum(np.cumsum(np.pad(img, ((1, 0), (1, 0))), 0), 1)
    return (c[k:, k:] - c[:-k, k:] - c[k:, :-k] + c[:-k, :-k]) / (k * k)


def ssim(a: np.ndarray, b: np.ndarray) -> float:
    """Mean SSIM of two luma planes (8x8 box windows, the usual constants)."""
    a = a.astype(np.float64)
    b = b.astype(np.float64)
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    ma, mb = _box(a), _box(b)
    va = _box(a * a) - ma * ma
    vb = _box(b * b) - mb * mb
    cov = _box(a * b) - ma * mb
    num = (2 * ma * mb + c1) * (2 * cov + c2)
    den = (ma * ma + mb * mb + c1) * (va + vb + c2)
    return float(np.mean(num / den))


class FrameReader:
    """Luma of the frame shown at a time, for sparse, increasing times (seeks as needed)."""

    def __init__(self, path: Path) -> None:
        self.container = av.open(str(path))
        self.stream = self.container.streams.video[0]
        self.stream.thread_type = "AUTO"
        self._frames = None
        self._last: tuple[float, np.ndarray] | None = None

    def frames_around(self, t: float, count: int = 1) -> list[tuple[float, np.ndarray]]:
        """The frame shown at ``t`` and the ``count`` frames on each side of it."""
        tb = self.stream.time_base
        assert tb is not None
        self.container.seek(int(max(0.0, t - 1.0) / tb), stream=self.stream, backward=True)
        window: list[tuple[float, np.ndarray]] = []
        after = -1
        for frame in self.container.decode(self.stream):
            ft = float(frame.pts * tb)
            window.append((ft, frame.to_ndarray(format="gray")))
            window = window[-(2 * count + 2) :]
            if after < 0 and ft > t + 1e-6:
                after = 0
            if after >= 0:
                after += 1
                if after > count:
                    break
        # the frame shown at t is the last one starting at or before t
        index = max(i for i, (ft, _) in enumerate(window) if ft <= t + 1e-6)
        return window[max(0, index - count) : index + count + 1]

    def close(self) -> None:
        self.container.close()


def kept_frame_ssim(source: Path, output: Path, segs: list[Seg], samples: int = 24) -> dict:
    """SSIM of sampled output frames against the source frame the timeline maps them to,
    and whether that frame matches better than its neighbours (frame-exact placement)."""
    total = out_starts(segs)[-1]
    src, out = FrameReader(source), FrameReader(output)
    scores: list[float] = []
    misplaced = 0
    try:
        for k in range(samples):
            tau = total * (k + 0.5) / samples
            shown = out.frames_around(tau, 0)
            tau_frame, picture = shown[0]
            # the middle of the output frame's display time maps into the source exactly
            src_t = to_source(segs, tau_frame + 0.001)
            if src_t is None:
                continue
            candidates = src.frames_around(src_t, 1)
            values = [ssim(picture, cand) for _, cand in candidates]
            expected = max(i for i, (ft, _) in enumerate(candidates) if ft <= src_t + 1e-6)
            scores.append(values[expected])
            if int(np.argmax(values)) != expected:
                misplaced += 1
    finally:
        src.close()
        out.close()
    return {
        "ssim_min": round(min(scores), 4) if scores else None,
        "ssim_mean": round(float(np.mean(scores)), 4) if scores else None,
        "frames": len(scores),
        "misplaced_frames": misplaced,
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


def av_placement(source: Path, output: Path, segs: list[Seg]) -> dict:
    """Speech onsets of the output against the source's, mapped through the timeline.

    Only onsets whose quiet lead-in (200 ms) lies in the same kept segment are compared:
    elsewhere the cut itself removes the quiet that makes an onset detectable.
    """
    src_on, step = loudness_onsets(source)
    out_on, _ = loudness_onsets(output)
    errors: list[float] = []
    for t in src_on:
        expected = to_output(segs, float(t))
        inside = any(s.start + 0.2 <= t < s.end - 0.05 for s in segs)
        if expected is None or not inside or not out_on.size:
            continue
        nearest = out_on[np.argmin(np.abs(out_on - expected))]
        errors.append(abs(float(nearest) - expected))
    errors_arr = np.array(errors) if errors else np.array([np.inf])
    return {
        "onsets_checked": len(errors),
        "max_error_ms": round(float(errors_arr.max()) * 1000, 1),
        "median_error_ms": round(float(np.median(errors_arr)) * 1000, 1),
        "window_ms": step * 1000,
    }


# ---------------------------------------------------------------------------- scenarios
@dataclass
class InputReport:
    name: str
    source: str
    duration_s: float
    planned_s: float = 0.0
    segments: int = 0
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
        "ffmpeg",
        "-v",
        "error",
        "-y",
        "-i",
        str(source),
        "-filter_complex_script",
        str(script),
        "-map",
        "[v]",
        "-map",
        "[a]",
        "-c:v",
        "libx264",
        "-preset",
        PRESET,
        "-crf",
        str(CRF),
        "-c:a",
        "aac",
        str(target),
    ]


def bench_input(name: str, source: Path, work: Path, ae: Path | None) -> InputReport:
    print(f"\n{name}: {source}", flush=True)
    report = InputReport(name, str(source), duration_of(source))
    out = work / name
    out.mkdir(parents=True, exist_ok=True)
    timeline = out / "timeline.json"
    m = report.measures
    m.append(
        measure(
            "hushcut cut (smart)",
            hushcut(
                "cut", str(source), "-o", str(out / "smart.mp4"), "--timeline", str(timeline), "-q"
            ),
        )
    )
    m.append(
        measure(
            "hushcut cut --mode reencode",
            hushcut(
                "cut",
                str(source),
                "-o",
                str(out / "reencode.mp4"),
                "--mode",
                "reencode",
                "--from-timeline",
                str(timeline),
                "-q",
            ),
        )
    )
    segs = read_timeline(timeline)
    report.planned_s = out_starts(segs)[-1]
    report.segments = len(segs)
    m.append(
        measure(
            "stream-copy remux (floor)",
            [
                "ffmpeg",
                "-v",
                "error",
                "-y",
                "-i",
                str(source),
                "-map",
                "0",
                "-c",
                "copy",
                str(out / "remux.mp4"),
            ],
        )
    )
    m.append(
        measure(
            f"ffmpeg x264 {PRESET}, whole input",
            [
                "ffmpeg",
                "-v",
                "error",
                "-y",
                "-i",
                str(source),
                "-c:v",
                "libx264",
                "-preset",
                PRESET,
                "-crf",
                str(CRF),
                "-c:a",
                "aac",
                str(out / "ffmpeg-full.mp4"),
            ],
        )
    )
    m.append(
        measure(
            f"ffmpeg x264 {PRESET}, same output",
            ffmpeg_same_output(source, segs, out / "ffmpeg-same.mp4"),
        )
    )
    if ae is not None:
        env = dict(os.environ, PATH=f"/usr/bin:{os.environ.get('PATH', '')}")
        m.append(
            measure(
                "auto-editor 23.32.1 (defaults)",
                [
                    str(ae),
                    str(source),
                    "-o",
                    str(out / "auto-editor.mp4"),
                    "--no-open",
                    "--progress",
                    "none",
                ],
                env=env,
            )
        )
    else:
        m.append(
            measure(
                "x264 medium (auto-editor stand-in)",
                [
                    "ffmpeg",
                    "-v",
                    "error",
                    "-y",
                    "-i",
                    str(source),
                    "-c:v",
                    "libx264",
                    "-preset",
                    "medium",
                    "-c:a",
                    "aac",
                    str(out / "medium.mp4"),
                ],
            )
        )
    m.append(measure("hushcut detect", hushcut("detect", "--json", str(source))))
    m.append(
        measure(
            "ffmpeg silencedetect",
            [
                "ffmpeg",
                "-v",
                "info",
                "-nostats",
                "-i",
                str(source),
                "-vn",
                "-af",
                "silencedetect=n=-35dB:d=0.3",
                "-f",
                "null",
                "-",
            ],
        )
    )
    for mode in ("smart", "reencode"):
        path = out / f"{mode}.mp4"
        if path.exists():
            report.quality[mode] = {
                "output_s": round(duration_of(path), 3),
                **kept_frame_ssim(source, path, segs),
            }
            print(f"  quality {mode}: {report.quality[mode]}", flush=True)
    return report


def bench_long(source: Path, work: Path) -> InputReport:
    print(f"\nlong input: {source}", flush=True)
    report = InputReport(source.stem, str(source), duration_of(source))
    out = work / f"long-{source.stem}"
    out.mkdir(parents=True, exist_ok=True)
    timeline = out / "timeline.json"
    report.measures.append(
        measure(
            f"hushcut cut (smart), {report.duration_s / 60:.0f} min",
            hushcut(
                "cut", str(source), "-o", str(out / "smart.mp4"), "--timeline", str(timeline), "-q"
            ),
        )
    )
    report.measures.append(
        measure(
            f"hushcut detect, {report.duration_s / 60:.0f} min",
            hushcut("detect", "--json", str(source)),
        )
    )
    segs = read_timeline(timeline)
    report.planned_s = out_starts(segs)[-1]
    report.segments = len(segs)
    output = out / "smart.mp4"
    report.quality["smart"] = {
        "output_s": round(duration_of(output), 3),
        **kept_frame_ssim(source, output, segs, samples=12),
        **av_placement(source, output, segs),
    }
    print(f"  sync/quality: {report.quality['smart']}", flush=True)
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


def print_table(reports: list[InputReport]) -> None:
    for r in reports:
        print(
            f"\n{r.name}: {r.duration_s:.1f} s -> planned {r.planned_s:.1f} s, "
            f"{r.segments} kept segments"
        )
        print(f"  {'what':<36}{'wall s':>9}{'cpu s':>9}{'peak MB':>9}{'load':>6}")
        for m in r.measures:
            flag = "" if m.ok else f"  FAILED: {m.note}"
            print(f"  {m.name:<36}{m.wall_s:9.1f}{m.cpu_s:9.1f}{m.peak_mb:9.0f}{m.load:6.1f}{flag}")
        smart = r.get("hushcut cut (smart)")
        reenc = r.get("hushcut cut --mode reencode")
        ae = r.get("auto-editor 23.32.1 (defaults)") or r.get("x264 medium (auto-editor stand-in)")
        same = r.get(f"ffmpeg x264 {PRESET}, same output")
        full = r.get(f"ffmpeg x264 {PRESET}, whole input")
        det = r.get("hushcut detect")
        sd = r.get("ffmpeg silencedetect")
        if smart or reenc:
            print(
                f"  smart vs auto-editor(-stand-in): {ratio(smart, ae)} faster"
                " (target >= 2.5x on talk10, >= 5x on 2 s GOPs)"
            )
            print(f"  reencode / ffmpeg same-output encode: {share(reenc, same)} (target <= 1.2)")
            print(f"  reencode / ffmpeg whole-input encode: {share(reenc, full)}")
            print(f"  smart / ffmpeg whole-input encode: {share(smart, full)}")
        if det and sd:
            print(f"  detect / silencedetect: {share(det, sd)} (target <= 2)")
        for mode, q in r.quality.items():
            print(f"  {mode}: {q}")


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
    stamp = time.strftime("%Y%m%d-%H%M%S")
    analyzed: list[AnalyzeReport] = []
    if not args.skip_analyze and (not args.long_only or args.analyze_only):
        base = inputs[0][1] if inputs else make_talk("talk10", "--duration", "600", "--seed", "1")
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
    ae = None if args.no_auto_editor or args.long_only else auto_editor()
    work = CACHE / f"run-{stamp}"
    if args.long_only:
        inputs = []
        args.skip_long = False
    reports = [bench_input(name, path, work, ae) for name, path in inputs]
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
