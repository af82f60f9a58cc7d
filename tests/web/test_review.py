"""The review flow in a real browser: upload with `Review cuts before rendering` ticked, the
waveform editor with the cuts as regions, an edited cut, a preview that skips the cuts,
Render, and an output as long as the edit."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.async_api import Page, expect

from tests.api.conftest import Account, ApiServer, graphql
from tests.web.conftest import JOB_TIMEOUT_MS, Visitor, unique_name
from tests.web.test_app import job_row, upload
from tests.worker.media import media_duration

pytestmark = pytest.mark.asyncio(loop_scope="session")

TIMELINE = """query($id: ID!) { job(id: $id) { status timeline { start end speed }
  analysis { durationS segments { start end } } } }"""

#: Samples the preview's playback position every animation frame while it plays.
SAMPLE_PLAYBACK = """() => {
  const video = document.querySelector('video.preview');
  window.__times = [];
  const sample = () => {
    window.__times.push(video.currentTime);
    if (!video.paused && !video.ended) requestAnimationFrame(sample);
  };
  video.addEventListener('playing', () => requestAnimationFrame(sample), {once: true});
}"""


async def cut_times(page: Page) -> list[tuple[float, float, bool]]:
    """The cuts as the page lists them: (start, end, on)."""
    found = []
    for item in await page.locator("ol.cuts > li").all():
        start = float(await item.get_by_label(re.compile(r"^Start of cut")).input_value())
        end = float(await item.get_by_label(re.compile(r"^End of cut")).input_value())
        on = await item.get_by_role("checkbox").is_checked()
        found.append((start, end, on))
    return found


async def region_span(page: Page, index: int) -> tuple[float, float]:
    """Where the waveform draws region ``index``, as fractions of its width."""
    box: Any = await page.evaluate(
        """(i) => {
          const root = document.querySelector('.waveform > div').shadowRoot;
          const wrapper = root.querySelector('[part="wrapper"]').getBoundingClientRect();
          const region = root.querySelectorAll('[part~="region"]')[i].getBoundingClientRect();
          return [(region.left - wrapper.left) / wrapper.width,
                  (region.right - wrapper.left) / wrapper.width];
        }""",
        index,
    )
    return box[0], box[1]


async def test_review_edit_a_cut_preview_it_and_render_the_edit(
    visitor: Visitor, account: Account, server: ApiServer, talk_clip: Path, tmp_path: Path
) -> None:
    page = visitor.page
    await visitor.sign_in(account)
    await page.get_by_label("Review cuts before rendering").check()
    filename = await upload(page, talk_clip, unique_name("review"))
    row = job_row(page, filename)
    await expect(row.locator(".badge")).to_have_text("Ready for review", timeout=JOB_TIMEOUT_MS)
    await expect(page.get_by_role("link", name="2 credits")).to_be_visible()  # charged once

    await row.get_by_role("link", name="Review cuts").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text(f"Review cuts: {filename}")
    await expect(page.locator(".waveform[data-ready='true']")).to_be_attached()
    job_id = page.url.rstrip("/").split("/")[-2]
    async with httpx.AsyncClient(base_url=server.url, headers=account.headers) as api:
        analysed = (await graphql(api, TIMELINE, {"id": job_id}))["data"]["job"]
    duration = analysed["analysis"]["durationS"]
    planned = analysed["analysis"]["segments"]

    # The analysis's cuts (the gaps between the planned segments), listed and drawn as
    # regions where they are.
    edges = [0.0] + [t for s in planned for t in (s["start"], s["end"])] + [duration]
    gaps = [(a, b) for a, b in zip(edges[::2], edges[1::2], strict=True) if b - a > 0.01]
    cuts = await cut_times(page)
    assert len(cuts) == len(gaps) >= 2, (cuts, planned)
    assert all(on for _, _, on in cuts)
    assert [(round(a, 3), round(b, 3)) for a, b, _ in cuts] == [
        (round(a, 3), round(b, 3)) for a, b in gaps
    ]
    regions = page.locator(".waveform > div").locator('[part~="region"]')
    await expect(regions).to_have_count(len(cuts))
    # The cut after the first planned segment: the one this test edits.
    index = next(i for i, cut in enumerate(cuts) if abs(cut[0] - planned[0]["end"]) < 0.002)
    left, right = await region_span(page, index)
    assert abs(left - cuts[index][0] / duration) < 0.01
    assert abs(right - cuts[index][1] / duration) < 0.01

    # The preview skips that cut: playing from just before it lands after it.
    start, end, _ = cuts[index]
    await page.evaluate(SAMPLE_PLAYBACK)
    await page.evaluate(
        "(t) => { const v = document.querySelector('video.preview'); v.muted = true;"
        " v.currentTime = t; return v.play(); }",
        max(0.0, start - 0.3),
    )
    await page.wait_for_function(
        f"() => document.querySelector('video.preview').currentTime > {end + 0.2}"
    )
    await page.evaluate("() => document.querySelector('video.preview').pause()")
    times = await page.evaluate("() => window.__times")
    inside = [t for t in times if start + 0.15 < t < end - 0.05]
    assert times
    assert not inside, (start, end, times)

    # Drag that cut 0.3 s later with the mouse: the list follows the region.
    box = await regions.nth(index).bounding_box()
    assert box is not None
    shift_px = (
        0.3 / duration * (await page.locator(".waveform").bounding_box() or {"width": 0})["width"]
    )
    await page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    await page.mouse.down()
    await page.mouse.move(
        box["x"] + box["width"] / 2 + shift_px, box["y"] + box["height"] / 2, steps=8
    )
    await page.mouse.up()
    await expect(
        page.locator("ol.cuts > li").nth(index).get_by_label(re.compile("^Start of"))
    ).not_to_have_value(str(start))
    moved_start, moved_end, _ = (await cut_times(page))[index]
    assert abs(moved_start - start - 0.3) < 0.05, (start, moved_start)
    assert abs((moved_end - moved_start) - (end - start)) < 0.01

    # Then edit it: it starts half-way through, so its first half is kept.
    new_start = round((moved_start + moved_end) / 2, 2)
    edited = page.locator("ol.cuts > li").nth(index)
    await edited.get_by_label(re.compile(r"^Start of cut")).fill(str(new_start))
    await edited.get_by_label(re.compile(r"^Start of cut")).press("Enter")
    left, _ = await region_span(page, index)
    assert abs(left - new_start / duration) < 0.01  # the region moved with it
    expected = [(s["start"], s["end"]) for s in planned]
    expected[0] = (planned[0]["start"], new_start)
    expected[1] = (moved_end, planned[1]["end"])
    await expect(page.locator(".summary")).to_contain_text("Output")

    await page.get_by_role("button", name="Render", exact=True).click()
    await expect(page.get_by_role("heading", name="Videos", exact=True)).to_be_visible()
    await expect(row.locator(".badge")).to_have_text("Completed", timeout=JOB_TIMEOUT_MS)
    await expect(page.get_by_role("link", name="2 credits")).to_be_visible()  # nothing more

    async with httpx.AsyncClient(base_url=server.url, headers=account.headers) as api:
        done = (await graphql(api, TIMELINE, {"id": job_id}))["data"]["job"]
    rendered = [(s["start"], s["end"]) for s in done["timeline"]]
    # As rendered: each cut on the start of the 30 fps frame it falls in (half a frame).
    assert [v for span in rendered for v in span] == pytest.approx(
        [v for span in expected for v in span], abs=1 / 60 + 1e-6
    )
    async with page.expect_download() as info:
        await row.get_by_role("link", name="Download", exact=True).click()
    saved = tmp_path / "edited.mp4"
    await (await info.value).save_as(saved)
    length = sum(end - start for start, end in rendered)
    assert abs(media_duration(saved) - length) < 0.05, (media_duration(saved), length)
