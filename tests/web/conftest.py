"""Browser tests: a real `hushcut up` (API + worker) driven through Debian's Chromium by
Playwright, as a person would use the web app.

Playwright never downloads a browser here: it launches ``/usr/bin/chromium``
(``HUSHCUT_CHROMIUM`` to use another). The axe-core scan injects
``packages/web/node_modules/axe-core`` (installed by ``nox -s web``, which runs first).
Screenshots go to ``artifacts/web/`` (``HUSHCUT_ARTIFACTS`` to move it).

The tests share one server, one browser and one event loop (the session's); each test
makes its own account, so they stay independent.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from playwright.async_api import Browser, BrowserContext, Page, async_playwright, expect

from hushcut.core.runtime import Runtime
from hushcut.pipeline.testing import SampleMedia
from tests.api import conftest as api_conftest
from tests.api.conftest import Account, ApiServer, new_account
from tests.browser import CHROMIUM, CHROMIUM_ARGS, LAUNCHER
from tests.conftest import ROOT
from tests.worker.media import TALK_CLIP

# The API tests' server (`hushcut up` with local Google and Stripe fakes), started once for
# this directory too, and their report hook (the server's log beside a failure).
fakes = api_conftest.fakes
server = api_conftest.server
pytest_runtest_makereport = api_conftest.pytest_runtest_makereport

AXE = ROOT / "packages" / "web" / "node_modules" / "axe-core" / "axe.min.js"
ARTIFACTS = Path(os.environ.get("HUSHCUT_ARTIFACTS", ROOT / "artifacts")) / "web"
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
#: Long enough for a short clip to be uploaded, processed and rendered on a busy machine.
JOB_TIMEOUT_MS = 90_000

expect.set_options(timeout=15_000)


@pytest.fixture(scope="session")
def talk_clip(sample_media: SampleMedia) -> Path:
    """The worker tests' talk from the test kit: 6 s, 320x180 H.264/AAC, with pauses of
    2 to 2.5 s that a cut visibly removes (generated once and cached)."""
    return sample_media("talk", **TALK_CLIP)


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def runtime(server: ApiServer) -> AsyncIterator[Runtime]:
    """The tests' own connection to the server's database (to make accounts)."""
    started = await Runtime.start(server.settings, upgrade=False)
    try:
        yield started
    finally:
        await started.close()


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def browser() -> AsyncIterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"Chromium not found at {CHROMIUM} (Debian: apt-get install chromium)")
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=LAUNCHER, args=CHROMIUM_ARGS)
        yield launched
        await launched.close()


@dataclass
class Visitor:
    """One person's browser context and page, with what the page logged."""

    context: BrowserContext
    page: Page
    server: ApiServer
    problems: list[str]

    def url(self, path: str = "/") -> str:
        return self.server.url + path

    async def sign_in(self, account: Account) -> None:
        """Sign in through the page with the account's API token."""
        await self.page.goto(self.url("/signin"))
        await self.page.get_by_label("API token").fill(account.token)
        await self.page.get_by_role("button", name="Sign in", exact=True).click()
        await expect(self.page.get_by_role("heading", name="Videos", exact=True)).to_be_visible()

    async def screenshot(self, name: str) -> Path:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / f"{name}.png"
        await self.page.screenshot(path=str(path), full_page=True)
        return path


async def open_visitor(
    browser: Browser, server: ApiServer, viewport: dict[str, int] = DESKTOP
) -> Visitor:
    context = await browser.new_context(
        viewport=viewport,  # type: ignore[arg-type]
        accept_downloads=True,
        locale="en-US",
        timezone_id="UTC",
    )
    page = await context.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(f"page error: {error}"))

    def console(message: Any) -> None:
        # A refused CSP load or an uncaught error shows up here; 4xx answers the page
        # handles (e.g. a wrong token) are logged by Chromium too and are expected. So is
        # what scripts the test evaluates itself say: they have no URL (axe-core's probe
        # of elements under a shadow root adds a <style>, which the page's CSP refuses).
        if message.type != "error" or "status of 4" in message.text:
            return
        if message.location.get("url") == "" and "inline style" in message.text:
            return
        problems.append(f"console: {message.text} (at {message.location}, on {page.url})")

    page.on("console", console)
    return Visitor(context=context, page=page, server=server, problems=problems)


@pytest_asyncio.fixture(loop_scope="session")
async def visitor(browser: Browser, server: ApiServer) -> AsyncIterator[Visitor]:
    """A fresh desktop browser context (no cookies) on the web server."""
    opened = await open_visitor(browser, server)
    try:
        yield opened
        assert opened.problems == [], opened.problems
    finally:
        await opened.context.close()


@pytest_asyncio.fixture(loop_scope="session")
async def account(runtime: Runtime) -> Account:
    """A new user owning a workspace with 3 credits, and an API token for it."""
    return await new_account(runtime, credits=3)


def axe_source() -> str:
    if not AXE.exists():
        pytest.fail(f"axe-core not found at {AXE}: run `uv run nox -s web` (npm ci) first")
    return AXE.read_text()


async def serious_violations(page: Page) -> list[dict[str, Any]]:
    """axe-core's serious and critical violations on the page as it is now."""
    if not await page.evaluate("() => typeof window.axe !== 'undefined'"):
        # Evaluated by the browser's debugger protocol, which the page's CSP does not govern.
        await page.evaluate(axe_source() + "\n;undefined")
    results = await page.evaluate(
        "async () => (await axe.run(document, {resultTypes: ['violations']})).violations"
    )
    return [
        {
            "id": violation["id"],
            "impact": violation["impact"],
            "help": violation["help"],
            "nodes": [node["target"] for node in violation["nodes"]][:5],
        }
        for violation in results
        if violation["impact"] in ("serious", "critical")
    ]


def unique_name(stem: str, suffix: str = ".mp4") -> str:
    return f"{stem}-{uuid.uuid4().hex[:6]}{suffix}"


def describe(value: Any) -> str:
    return json.dumps(value, indent=1)
