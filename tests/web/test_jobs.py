"""The jobs list's actions in a real browser: export for editors, delete, cancel a review
and retry it."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
from playwright.async_api import expect

from tests.api.conftest import Account, ApiServer, graphql
from tests.web.conftest import JOB_TIMEOUT_MS, Visitor, unique_name
from tests.web.test_app import job_row, upload

pytestmark = pytest.mark.asyncio(loop_scope="session")

JOB = "query($id: ID!) { job(id: $id) { id status timeline { start end } } }"
JOBS = "query($ws: ID!) { workspace(id: $ws) { jobs(first: 50) { nodes { id filename } } } }"


async def job_id_of(server: ApiServer, account: Account, filename: str) -> str:
    async with httpx.AsyncClient(base_url=server.url, headers=account.headers) as api:
        result = await graphql(api, JOBS, {"ws": account.workspace_id})
    nodes = result["data"]["workspace"]["jobs"]["nodes"]
    return next(node["id"] for node in nodes if node["filename"] == filename)


async def test_export_for_editors_then_delete(
    visitor: Visitor, account: Account, server: ApiServer, talk_clip: Path, tmp_path: Path
) -> None:
    page = visitor.page
    await visitor.sign_in(account)
    filename = await upload(page, talk_clip, unique_name("export"))
    row = job_row(page, filename)
    await expect(row.locator(".badge")).to_have_text("Completed", timeout=JOB_TIMEOUT_MS)
    job_id = await job_id_of(server, account, filename)
    async with httpx.AsyncClient(base_url=server.url, headers=account.headers) as api:
        timeline = (await graphql(api, JOB, {"id": job_id}))["data"]["job"]["timeline"]

    # The timeline the output was cut from, in the format picked, as a file.
    await row.get_by_label("Editor format").select_option("JSON")
    async with page.expect_download() as info:
        await row.get_by_role("button", name="Export for editors").click()
    saved = tmp_path / "timeline.json"
    await (await info.value).save_as(saved)
    exported = json.loads(saved.read_text())
    assert filename in json.dumps(exported)  # it references the uploaded file
    assert len(timeline) >= 2
    assert str(timeline[1]["start"]) in json.dumps(exported)

    # Delete asks first; keeping it changes nothing.
    await row.get_by_role("button", name="Delete", exact=True).click()
    await row.get_by_role("button", name="Keep it").click()
    await expect(row.get_by_role("button", name="Delete for good")).to_have_count(0)
    await row.get_by_role("button", name="Delete", exact=True).click()
    await row.get_by_role("button", name="Delete for good").click()
    await expect(row).to_have_count(0)
    await page.reload()
    await expect(page.get_by_role("heading", name="Videos", exact=True)).to_be_visible()
    await expect(page.get_by_role("heading", name=filename)).to_have_count(0)
    async with httpx.AsyncClient(base_url=server.url, headers=account.headers) as api:
        gone = await graphql(api, JOB, {"id": job_id})
    assert gone["errors"][0]["extensions"]["code"] == "NOT_FOUND"
    await expect(page.get_by_role("link", name="2 credits")).to_be_visible()  # history kept


async def test_cancel_a_review_then_retry_it(
    visitor: Visitor, account: Account, talk_clip: Path
) -> None:
    page = visitor.page
    await visitor.sign_in(account)
    await page.get_by_label("Review cuts before rendering").check()
    filename = await upload(page, talk_clip, unique_name("canceled"))
    row = job_row(page, filename)
    await expect(row.locator(".badge")).to_have_text("Ready for review", timeout=JOB_TIMEOUT_MS)
    await expect(page.get_by_role("link", name="2 credits")).to_be_visible()
    await row.get_by_role("button", name="Cancel", exact=True).click()
    await expect(row.locator(".badge")).to_have_text("Canceled")
    await expect(page.get_by_role("link", name="3 credits")).to_be_visible()  # refunded
    await row.get_by_role("button", name="Retry", exact=True).click()
    # Analyzed again, it waits for a review again (one credit).
    await expect(row.locator(".badge")).to_have_text("Ready for review", timeout=JOB_TIMEOUT_MS)
    await expect(page.get_by_role("link", name="2 credits")).to_be_visible()
