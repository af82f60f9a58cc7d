"""Sentences as mono float32 samples: espeak-ng when installed, else a synthesized voice."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from functools import cache
from typing import Any

import av
import numpy as np
import numpy.typing as npt

Samples = npt.NDArray[np.float32]

#: What the talk says: paragraphs of sentences (written for this kit, public domain).
#: Short sentences come first so that clips of a few seconds still hold speech.
TEXT = """\
Hello and welcome. Today is about recording. Let me show you how I set up.

A good recording starts long before you press the red button. Find a quiet room, close \
the window, and switch off anything that hums. Soft things on the walls, like curtains \
or a bookshelf, stop the echo that makes a voice sound thin.

Put the microphone close to your mouth, about a hand's width away. Closer means more \
voice and less room. Point it at your chin rather than your lips, so every plosive does \
not hit it with a burst of air.

Now check your levels. Speak as loudly as you will in the talk, and watch the meter. \
The loudest words should stay well below the top, with room to spare. If the meter \
touches red, turn the gain down and try again.

Everyone pauses while they think. That is natural in a room, but on a screen it feels \
slow. Nobody wants to watch you search for the next slide. So we cut the silences out, \
and keep a little air around each word.

The trick is knowing what counts as silence. A quiet room is never truly silent. There \
is hiss from the microphone, the fan of the computer, traffic far away. The tool listens \
to that floor first, and only then decides what is speech.

That is all for today. Thank you for watching, and see you next time.
"""

#: espeak-ng voices (and variants) the talk switches between, one per paragraph.
ESPEAK_VOICES = (
    "en-us",
    "en-gb",
    "en-us+m3",
    "en-gb-x-rp",
    "en-us+f2",
    "en-029",
    "en-gb-scotland+m2",
)
ESPEAK_RATE = 22_050
#: A sample whose magnitude is at most this is quiet (about -50 dBFS).
QUIET = 100 / 32768


def paragraphs() -> list[list[str]]:
    """The sentences of :data:`TEXT`, paragraph by paragraph."""
    result = []
    for block in TEXT.split("\n\n"):
        text = " ".join(block.split())
        if text:
            result.append([s for s in re.split(r"(?<=[.!?])\s+", text) if s])
    return result


@cache
def espeak_version() -> str | None:
    """``espeak-ng``'s version, or None when it is not installed."""
    binary = shutil.which("espeak-ng")
    if binary is None:
        return None
    out = subprocess.run([binary, "--version"], capture_output=True, text=True, check=False)
    words = out.stdout.split()
    return words[3] if len(words) > 3 and out.returncode == 0 else None


#: Environment variable that decides what ``voice="auto"`` means (espeak or synth).
VOICE_ENV = "HUSHCUT_TEST_VOICE"


def resolve_voice(voice: str) -> str:
    """``auto`` becomes ``$HUSHCUT_TEST_VOICE`` if set, else ``espeak`` when espeak-ng is
    installed, else ``synth``."""
    if voice == "auto":
        voice = os.environ.get(VOICE_ENV) or ("espeak" if espeak_version() else "synth")
    if voice == "espeak" and espeak_version() is None:
        raise RuntimeError("voice='espeak' needs espeak-ng (apt-get install -y espeak-ng)")
    if voice not in {"espeak", "synth"}:
        raise ValueError(f"unknown voice {voice!r} (auto, espeak or synth)")
    return voice


def resample(samples: Samples, rate: int, target: int) -> Samples:
    """Mono float32 from ``rate`` to ``target`` Hz with FFmpeg's resampler."""
    if rate == target or samples.size == 0:
        return samples
    frame = av.AudioFrame.from_ndarray(samples.reshape(1, -1), format="flt", layout="mono")
    frame.sample_rate = rate
    resampler = av.AudioResampler(format="flt", layout="mono", rate=target)
    chunks = [f.to_ndarray().reshape(-1) for f in resampler.resample(frame)]
    chunks += [f.to_ndarray().reshape(-1) for f in resampler.resample(None)]
    return np.concatenate(chunks).astype(np.float32) if chunks else samples[:0]


def trim(samples: Samples) -> Samples:
    """Without the quiet samples at either end."""
    loud = np.flatnonzero(np.abs(samples) > QUIET)
    return samples[loud[0] : loud[-1] + 1] if loud.size else samples[:0]


def quiet_runs(samples: Samples, rate: int, min_s: float = 0.150) -> list[tuple[int, int]]:
    """Runs of 10 ms windows whose peak is quiet, at least ``min_s`` long (sample indices)."""
    window = max(1, rate // 100)
    count = samples.size // window
    if count == 0:
        return []
    peaks = np.abs(samples[: count * window]).reshape(count, window).max(axis=1)
    quiet = np.concatenate([[False], peaks <= QUIET, [False]])
    edges = np.flatnonzero(np.diff(quiet.astype(np.int8)))
    runs = []
    for start, end in zip(edges[::2], edges[1::2], strict=True):
        if (end - start) * window >= min_s * rate:
            runs.append((int(start) * window, int(end) * window))
    return runs


@dataclass(frozen=True)
class Utterance:
    """One sentence, spoken: samples at the talk's rate and how it was made."""

    samples: Samples
    details: dict[str, Any]


def speak(text: str, voice: str, rng: np.random.Generator, persona: int, rate: int) -> Utterance:
    """``text`` spoken by ``voice`` (espeak or synth) at ``rate`` Hz, trimmed."""
    if voice == "espeak":
        name = ESPEAK_VOICES[persona % len(ESPEAK_VOICES)]
        speed, pitch = int(rng.integers(150, 181)), int(rng.integers(35, 66))
        raw = _espeak(text, name, speed, pitch)
        samples = trim(resample(raw, ESPEAK_RATE, rate))
        return Utterance(samples, {"voice": name, "rate": speed, "pitch": pitch})
    samples = trim(synthesize(text, rng, persona, rate))
    return Utterance(samples, {"voice": f"synth-{persona % 4}"})


def _espeak(text: str, voice: str, speed: int, pitch: int) -> Samples:
    binary = shutil.which("espeak-ng") or "espeak-ng"
    out = subprocess.run(
        [binary, "--stdout", "-v", voice, "-s", str(speed), "-p", str(pitch), text],
        capture_output=True,
        check=True,
    ).stdout
    # A streamed WAV: the header's sizes are placeholders, the samples follow "data".
    at = out.find(b"data")
    if not out.startswith(b"RIFF") or at < 0:
        raise RuntimeError(f"espeak-ng wrote no WAV for {text!r}")
    pcm = np.frombuffer(out[at + 8 : len(out) - (len(out) - at - 8) % 2], dtype="<i2")
    return (pcm.astype(np.float32) / 32768).astype(np.float32)


# ---------------------------------------------------------------- the synthesized voice
#: (F1, F2, F3) in Hz of a few vowels.
_VOWELS = ((730, 1090, 2440), (270, 2290, 3010), (300, 870, 2240), (530, 1840, 2480))
#: Base pitch (Hz) of each synthetic persona.
_PITCH = (110.0, 205.0, 130.0, 180.0)


def synthesize(text: str, rng: np.random.Generator, persona: int, rate: int) -> Samples:
    """A voice-like signal for ``text``: voiced syllables with formants, consonant noise,
    short dips between words and real pauses at commas (recorded as pauses inside it)."""
    base = _PITCH[persona % len(_PITCH)]
    pieces: list[Samples] = []
    words = text.split()
    for w, word in enumerate(words):
        syllables = max(1, len(re.findall(r"[aeiouy]+", word.lower())))
        for s in range(syllables):
            progress = (w + s / syllables) / max(1, len(words))
            f0 = base * (1.1 - 0.2 * progress) * float(rng.uniform(0.9, 1.12))
            pieces.append(_syllable(rng, f0, float(rng.uniform(0.12, 0.24)), rate))
        if w < len(words) - 1:
            gap = float(rng.uniform(0.2, 0.3)) if word.endswith((",", ";", ":")) else 0.04
            pieces.append(np.zeros(round(gap * rate), np.float32))
    return np.concatenate(pieces).astype(np.float32)


def _syllable(rng: np.random.Generator, f0: float, seconds: float, rate: int) -> Samples:
    n = round(seconds * rate)
    t = np.arange(n) / rate
    pitch = f0 * (1 + 0.04 * np.sin(2 * np.pi * 5 * t))  # a little vibrato
    phase = 2 * np.pi * np.cumsum(pitch) / rate
    formants = _VOWELS[int(rng.integers(len(_VOWELS)))]
    voiced = np.zeros(n)
    for harmonic in range(1, int(4000 // f0) + 1):
        hz = harmonic * f0
        gain = sum(1 / (1 + ((hz - f) / 90) ** 2) for f in formants) / harmonic**0.5
        voiced += gain * np.sin(harmonic * phase)
    envelope = np.sin(np.pi * np.clip(t / seconds, 0, 1)) ** 0.6
    onset = round(min(0.05, seconds / 3) * rate)
    noise = np.diff(rng.normal(0, 1, onset + 1)) * np.linspace(1, 0, onset)
    signal = voiced * envelope
    signal[:onset] += 0.3 * noise * np.abs(voiced).max()
    return signal.astype(np.float32)
