"""Large files go to storage in parts, and an upload cut short resumes where it stopped,
even after the page was reloaded."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.async_api import Route, expect

from tests.api.conftest import Account
from tests.web.conftest import JOB_TIMEOUT_MS, Visitor, unique_name
from tests.web.test_app import job_row

pytestmark = pytest.mark.asyncio(loop_scope="session")

#: Above the app's MULTIPART_FROM (10 MiB): two parts of 8 MiB and the rest.
PADDED_SIZE = 17 * 1024 * 1024


async def test_a_large_upload_goes_in_parts_and_resumes_after_a_reload(
    visitor: Visitor, account: Account, talk_clip: Path, tmp_path: Path
) -> None:
    page = visitor.page
    # The talk, padded to 17 MiB (a zero-sized box runs to the end of the file: players
    # and the worker read past it).
    large = tmp_path / unique_name("large")
    large.write_bytes(talk_clip.read_bytes())
    with large.open("ab") as out:
        out.write(b"\0" * (PADDED_SIZE - large.stat().st_size))
    sent: dict[int, int] = {}
    dropping = True

    async def storage(route: Route) -> None:
        part = int(route.request.url.split("part=")[1].split("&")[0])
        if part == 3 and dropping:
            await route.abort("connectionfailed")  # the connection drops on the last part
            return
        sent[part] = sent.get(part, 0) + 1
        await route.continue_()

    await page.route("**/storage/**part=*", storage)
    await visitor.sign_in(account)
    await page.get_by_label("Video file").set_input_files(str(large))
    upload = page.locator("ul.uploads li").filter(has_text=large.name)
    await expect(upload.get_by_role("alert")).to_contain_text("The connection dropped")
    await expect(upload.get_by_role("button", name="Resume upload")).to_be_visible()
    assert sent == {1: 1, 2: 1}
    # Chromium logs each dropped try (three): expected here, not a fault of the page.
    dropped = [p for p in visitor.problems if "ERR_CONNECTION_FAILED" in p and "/storage/" in p]
    assert len(dropped) == 3, visitor.problems
    visitor.problems[:] = [p for p in visitor.problems if p not in dropped]
    bar = upload.get_by_role("progressbar")
    assert 80 <= int(await bar.get_attribute("aria-valuenow") or 0) < 100
    await expect(page.get_by_role("link", name="3 credits")).to_be_visible()  # not charged

    # The tab is reloaded: the upload is still there, and the same file picks it up.
    await page.reload()
    resume = page.get_by_label(f"Choose {large.name} again to resume")
    await expect(resume).to_be_attached()
    dropping = False
    await resume.set_input_files(str(large))
    row = job_row(page, large.name)
    await expect(row.locator(".badge")).to_have_text("Completed", timeout=JOB_TIMEOUT_MS)
    assert sent == {1: 1, 2: 1, 3: 1}  # only the missing part went again
    await expect(page.get_by_role("link", name="2 credits")).to_be_visible()
    await expect(upload).to_have_count(0)
