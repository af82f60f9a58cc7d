"""Outputs play in a browser: headless Chromium's <video> decodes every frame to the end.

A SMART output switches between the source's parameter sets and the encoder's at every
splice, which is where players differ; Chromium (Debian's, driven by Playwright) must
play it through without an error or a corrupted frame.
"""

from __future__ import annotations

import functools
import http.server
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, sync_playwright

from hushcut.pipeline.render import RenderSettings, render
from hushcut.pipeline.timeline import Segment, Timeline
from tests.browser import CHROMIUM_ARGS, LAUNCHER
from tests.pipeline.clips import FPS, Clip, Track, write_clip

#: Cuts inside GOPs and at B-frames, so the output alternates copied and encoded pieces.
SEGMENTS = [Segment(0.2, 2.37), Segment(2.9, 5.55), Segment(6.1, 7.9)]

PLAY = """async (src) => {
    const video = document.createElement('video');
    video.muted = true;
    video.src = src;
    document.body.appendChild(video);
    const finished = new Promise((resolve) => {
        video.addEventListener('ended', () => resolve('ended'));
        video.addEventListener('error', () => {
            resolve(`error ${video.error.code}: ${video.error.message}`);
        });
        setTimeout(() => resolve(`stalled at ${video.currentTime} s`), 60000);
    });
    await new Promise((resolve) => video.addEventListener('loadedmetadata', resolve, {once: true}));
    video.playbackRate = 4;
    let outcome;
    try {
        await video.play();
        outcome = await finished;
    } catch (error) {
        outcome = `play() failed: ${error.message}; ${await finished}`;
    }
    const quality = video.getVideoPlaybackQuality();
    return {
        outcome,
        duration: video.duration,
        position: video.currentTime,
        decoded: quality.totalVideoFrames,
        corrupted: quality.corruptedVideoFrames,
        width: video.videoWidth,
    };
}"""


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, str]]:
    """A folder served over HTTP (a page may not load file:// media)."""
    folder = tmp_path_factory.mktemp("served")
    handler = functools.partial(QuietHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield folder, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        thread.join(timeout=10)


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=LAUNCHER,
            args=[*CHROMIUM_ARGS, "--autoplay-policy=no-user-gesture-required"],
        )
        try:
            yield chromium
        finally:
            chromium.close()


def play(browser: Browser, base_url: str, name: str) -> dict[str, Any]:
    page = browser.new_page()
    try:
        page.goto(f"{base_url}/", timeout=30_000)
        return page.evaluate(PLAY, f"{base_url}/{name}")  # type: ignore[no-any-return]
    finally:
        page.close()


@pytest.mark.parametrize(
    ("source_name", "suffix", "mode"),
    [
        ("source.mp4", ".mp4", "smart"),
        ("obs.ts", ".mp4", "smart"),  # start codes and access unit delimiters converted
        ("source.mp4", ".webm", "reencode"),
    ],
)
def test_an_output_plays_to_the_end_in_chromium(
    browser: Browser, served: tuple[Path, str], source_name: str, suffix: str, mode: str
) -> None:
    folder, base_url = served
    source = folder / source_name
    if not source.exists():
        ts = {"format": "mpegts", "offset": 1.4} if source.suffix == ".ts" else {}
        write_clip(source, Clip(seconds=8.0, tracks=(Track(),), **ts))  # type: ignore[arg-type]
    output = folder / f"{source.stem}-{mode}{suffix}"
    result = render(source, output, Timeline(8.0, SEGMENTS), RenderSettings(mode=mode))
    if mode == "smart":
        assert result.mode_used == "smart"
        assert result.copied_frames > 100
        assert result.encoded_frames > 30
    frames = result.copied_frames + result.encoded_frames
    played = play(browser, base_url, output.name)
    assert played["outcome"] == "ended", played
    assert played["corrupted"] == 0, played
    assert played["decoded"] == frames, played
    assert played["position"] == pytest.approx(result.duration, abs=1 / FPS), played
    assert played["width"] == 320
