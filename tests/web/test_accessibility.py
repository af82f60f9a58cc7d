"""Every page at desktop and phone width: an axe-core scan with no serious or critical
violation, and a screenshot (artifacts/web/<page>-<width>.png, linked from the README)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, Page, expect

from hushcut.core.runtime import Runtime
from tests.api.conftest import Account, ApiServer, new_account
from tests.web.conftest import (
    DESKTOP,
    JOB_TIMEOUT_MS,
    PHONE,
    Visitor,
    describe,
    open_visitor,
    serious_violations,
)

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def heading(page: Page, text: str) -> None:
    await expect(page.get_by_role("heading", level=1)).to_contain_text(text)


async def landing(visitor: Visitor) -> None:
    await visitor.page.goto(visitor.url("/"))
    await heading(visitor.page, "silences")


async def sign_in_page(visitor: Visitor) -> None:
    await visitor.page.goto(visitor.url("/signin"))
    await visitor.page.get_by_label("API token").fill("hc_not-a-token")
    await visitor.page.get_by_role("button", name="Sign in", exact=True).click()
    await expect(visitor.page.get_by_role("alert")).to_be_visible()  # the error state too


async def dashboard(visitor: Visitor) -> None:
    page = visitor.page
    await page.goto(visitor.url("/"))
    await expect(page.locator("li.job .badge").filter(has_text="Completed")).to_be_visible()
    await expect(page.locator("li.job .badge").filter(has_text="Failed")).to_be_visible()
    await page.get_by_text("Cut options").click()
    await expect(page.get_by_label("Render mode")).to_be_visible()


async def review(visitor: Visitor) -> None:
    page = visitor.page
    await page.goto(visitor.url("/"))
    await page.get_by_role("link", name="Review cuts").first.click()
    await heading(page, "Review cuts:")
    await expect(page.locator(".waveform[data-ready='true']")).to_be_attached()


async def billing(visitor: Visitor) -> None:
    await visitor.page.goto(visitor.url("/billing"))
    await expect(visitor.page.get_by_role("button", name="Buy 10 credits")).to_be_visible()


async def tokens(visitor: Visitor) -> None:
    page = visitor.page
    await page.goto(visitor.url("/tokens"))
    await page.get_by_label("Token name").fill("Screenshot")
    await page.get_by_role("button", name="Create token").click()
    await expect(page.get_by_label("New API token")).to_be_visible()


async def team(visitor: Visitor) -> None:
    await visitor.page.goto(visitor.url("/team"))
    await expect(visitor.page.get_by_role("cell", name="Owner")).to_be_visible()


async def invitation(visitor: Visitor) -> None:
    await visitor.page.goto(visitor.url("/invite/hci_not-a-real-invitation"))
    await heading(visitor.page, "Join a workspace")


async def not_found(visitor: Visitor) -> None:
    await visitor.page.goto(visitor.url("/no/such/page"))
    await heading(visitor.page, "Page not found")


async def graphiql(visitor: Visitor) -> None:
    await visitor.page.goto(visitor.url("/graphql"))
    await expect(visitor.page.locator(".graphiql-query-editor")).to_contain_text("query Me")


Show = Callable[[Visitor], Awaitable[None]]
SIGNED_OUT: list[tuple[str, Show]] = [("landing", landing), ("sign-in", sign_in_page)]
SIGNED_IN: list[tuple[str, Show]] = [
    ("dashboard", dashboard),
    ("review", review),
    ("billing", billing),
    ("tokens", tokens),
    ("team", team),
    ("invitation", invitation),
    ("not-found", not_found),
    ("graphiql", graphiql),
]


async def test_every_page_passes_axe_at_desktop_and_phone_width(
    browser: Browser,
    server: ApiServer,
    runtime: Runtime,
    talk_clip: Path,
    tmp_path: Path,
) -> None:
    account = await new_account(runtime, credits=3)
    await jobs_to_show(browser, server, account, talk_clip, tmp_path)
    found: dict[str, Any] = {}
    for width, viewport in (("desktop", DESKTOP), ("phone", PHONE)):
        visitor = await open_visitor(browser, server, viewport)
        try:
            for name, show in SIGNED_OUT:
                await show(visitor)
                found[f"{name}-{width}"] = await scan(visitor, f"{name}-{width}")
            await visitor.sign_in(account)
            for name, show in SIGNED_IN:
                await show(visitor)
                found[f"{name}-{width}"] = await scan(visitor, f"{name}-{width}")
            assert visitor.problems == [], visitor.problems
        finally:
            await visitor.context.close()
    failing = {page: violations for page, violations in found.items() if violations}
    assert failing == {}, describe(failing)


async def scan(visitor: Visitor, name: str) -> list[dict[str, Any]]:
    await visitor.screenshot(name)
    return await serious_violations(visitor.page)


async def jobs_to_show(
    browser: Browser, server: ApiServer, account: Account, clip: Path, tmp_path: Path
) -> None:
    """A completed, a failed and a job in review in the account's workspace, made through
    the page."""
    visitor = await open_visitor(browser, server)
    try:
        await visitor.sign_in(account)
        broken = tmp_path / "notes.mp4"
        broken.write_bytes(b"not a recording " * 64)
        for path in (clip, broken):
            await visitor.page.get_by_label("Video file").set_input_files(str(path))
        await visitor.page.get_by_label("Review cuts before rendering").check()
        await visitor.page.get_by_label("Video file").set_input_files(str(clip))
        for status in ("Completed", "Failed", "Ready for review"):
            await expect(
                visitor.page.locator("li.job .badge").filter(has_text=status)
            ).to_be_visible(timeout=JOB_TIMEOUT_MS)
    finally:
        await visitor.context.close()
