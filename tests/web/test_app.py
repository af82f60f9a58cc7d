"""The web app in a real browser: sign in, upload, live progress, download, failures,
errors as sentences, a lost socket, billing, tokens, phone width."""

from __future__ import annotations

import asyncio
import json
import re
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
import stripe
from playwright.async_api import Page, Route, WebSocketRoute, expect

from hushcut.core.runtime import Runtime
from tests.api.conftest import (
    STRIPE_WEBHOOK_SECRET,
    Account,
    ApiServer,
    Fakes,
    graphql,
    new_account,
)
from tests.api.test_flow import upload as api_upload
from tests.web.conftest import (
    JOB_TIMEOUT_MS,
    PHONE,
    Visitor,
    open_visitor,
    unique_name,
)
from tests.worker.media import media_duration

pytestmark = pytest.mark.asyncio(loop_scope="session")

#: Installed before an upload: every state the jobs list shows, as the page renders it.
RECORD_JOB_STATES = """() => {
  window.__states = [];
  const record = () => {
    for (const job of document.querySelectorAll('li.job')) {
      const bar = job.querySelector('[role="progressbar"]');
      window.__states.push({
        name: job.querySelector('h3').textContent,
        status: job.querySelector('.badge').textContent,
        progress: bar ? Number(bar.getAttribute('aria-valuenow')) : null,
      });
    }
  };
  new MutationObserver(record).observe(document.body,
    {subtree: true, childList: true, characterData: true, attributes: true});
}"""


def job_row(page: Page, filename: str) -> Any:
    return page.locator("li.job").filter(has=page.get_by_role("heading", name=filename, exact=True))


async def upload(page: Page, path: Path, name: str | None = None) -> str:
    """Choose a file in the upload area (as a person would); the name it is uploaded as."""
    filename = name or path.name
    await page.get_by_label("Video file").set_input_files(
        {"name": filename, "mimeType": "video/mp4", "buffer": path.read_bytes()}
    )
    return filename


async def test_sign_in_with_a_token_and_out(visitor: Visitor, account: Account) -> None:
    page = visitor.page
    await page.goto(visitor.url())
    await expect(page.get_by_role("heading", level=1)).to_contain_text("silences")
    await page.get_by_role("link", name="Sign in", exact=True).click()
    await page.get_by_label("API token").fill("hc_wrong-token")
    await page.get_by_role("button", name="Sign in", exact=True).click()
    await expect(page.get_by_role("alert")).to_contain_text("not valid, or it was revoked")

    await page.get_by_label("API token").fill(account.token)
    await page.get_by_role("button", name="Sign in", exact=True).click()
    await expect(page.get_by_role("heading", name="Videos", exact=True)).to_be_visible()
    await expect(page.get_by_role("link", name="3 credits")).to_be_visible()
    # The page keeps the session cookie, never the token.
    stored = await page.evaluate(
        "() => JSON.stringify([document.cookie, {...localStorage}, {...sessionStorage}])"
    )
    assert account.token not in stored
    cookies = await visitor.context.cookies()
    assert all(account.token not in cookie["value"] for cookie in cookies)
    assert {"hushcut_session", "hushcut_csrf"} <= {cookie["name"] for cookie in cookies}

    await page.get_by_role("button", name="Sign out").click()
    await expect(page.get_by_role("link", name="Sign in to start")).to_be_visible()
    await page.goto(visitor.url("/tokens"))
    await expect(page.get_by_label("API token")).to_be_visible()  # signed out for real


async def test_sign_in_with_google_returns_to_the_page_asked_for(
    visitor: Visitor, fakes: Fakes
) -> None:
    page = visitor.page
    name = f"Creator {uuid.uuid4().hex[:6]}"
    before = fakes.oidc.next_identity
    fakes.oidc.next_identity = {
        "sub": uuid.uuid4().hex,
        "email": f"creator-{uuid.uuid4().hex[:8]}@example.com",
        "email_verified": True,
        "name": name,
    }
    try:
        await page.goto(visitor.url("/billing"))  # signed out: the sign-in page first
        await page.get_by_role("link", name="Sign in with Google").click()
        await expect(page.get_by_role("heading", name="Billing", exact=True)).to_be_visible()
        assert page.url == visitor.url("/billing")
        await expect(page.get_by_text(f"{name}'s workspace").first).to_be_visible()
    finally:
        fakes.oidc.next_identity = before


async def test_upload_progresses_live_completes_and_downloads_shorter(
    visitor: Visitor, account: Account, talk_clip: Path, tmp_path: Path
) -> None:
    await upload_watch_download(visitor, account, talk_clip, tmp_path, JOB_TIMEOUT_MS)


@pytest.mark.shared_media
async def test_talk1_from_the_shared_media_comes_back_shorter(
    visitor: Visitor, account: Account, shared_media: Path, tmp_path: Path
) -> None:
    """The issue's own recording (60 s of 720p talk), when ../shared/media is beside."""
    talk1 = shared_media / "talk1.mp4"
    await upload_watch_download(visitor, account, talk1, tmp_path, 4 * JOB_TIMEOUT_MS)


async def upload_watch_download(
    visitor: Visitor, account: Account, clip: Path, tmp_path: Path, timeout_ms: int
) -> None:
    """Upload ``clip`` from the page, watch it complete live, download it shorter."""
    page = visitor.page
    frames: list[str] = []
    page.on(
        "websocket", lambda socket: socket.on("framereceived", lambda frame: frames.append(frame))
    )
    await visitor.sign_in(account)
    await page.evaluate(RECORD_JOB_STATES)
    filename = await upload(page, clip, unique_name(clip.stem))

    row = job_row(page, filename)
    await expect(row.locator(".badge")).to_have_text("Completed", timeout=timeout_ms)
    # The page watched it happen: the states it showed, in order, with a progress bar.
    states = [s for s in await page.evaluate("() => window.__states") if s["name"] == filename]
    shown = [s["status"] for s in states]
    assert "Processing" in shown, shown
    assert shown.index("Processing") < shown.index("Completed")
    progress = [s["progress"] for s in states if s["progress"] is not None]
    assert progress, states
    assert progress == sorted(progress), progress
    # ... through the jobUpdates subscription, not by polling.
    updates = [json.loads(f) for f in frames if '"jobUpdates"' in f]
    assert any(u["payload"]["data"]["jobUpdates"]["status"] == "COMPLETED" for u in updates)

    await expect(row).to_contain_text("% removed")
    await expect(page.get_by_role("link", name="2 credits")).to_be_visible()  # one charged
    async with page.expect_download() as info:
        await row.get_by_role("link", name="Download", exact=True).click()
    download = await info.value
    assert download.suggested_filename.endswith("_hushcut.mp4")
    saved = tmp_path / download.suggested_filename
    await download.save_as(saved)
    assert media_duration(saved) < media_duration(clip) - 1.0  # at least a pause went


async def test_a_failed_job_shows_its_message_and_gives_the_credit_back(
    visitor: Visitor, account: Account, tmp_path: Path
) -> None:
    page = visitor.page
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"this is not a video at all " * 100)
    await visitor.sign_in(account)
    filename = await upload(page, broken, unique_name("broken"))
    row = job_row(page, filename)
    await expect(row.locator(".badge")).to_have_text("Failed", timeout=JOB_TIMEOUT_MS)
    message = row.locator(".job-error")
    await expect(message).to_be_visible()
    assert len((await message.text_content() or "").strip()) > 10
    await expect(page.get_by_role("link", name="3 credits")).to_be_visible()  # refunded
    await expect(row.get_by_role("button", name="Retry", exact=True)).to_be_visible()


async def test_api_errors_are_shown_as_sentences(
    visitor: Visitor, runtime: Runtime, talk_clip: Path
) -> None:
    page = visitor.page
    account = await new_account(runtime, credits=1)
    await visitor.sign_in(account)
    # BAD_USER_INPUT: an option out of range, refused by the API before anything is made.
    await page.get_by_text("Cut options").click()
    await page.get_by_label("Margin kept around speech (seconds)").fill("30")
    await page.get_by_label("Margin kept around speech (seconds)").blur()
    await upload(page, talk_clip)
    alert = page.locator(".uploads").get_by_role("alert")
    await expect(alert).to_contain_text("Something you entered was not accepted")
    await expect(alert).to_contain_text("margin")
    await page.get_by_role("button", name="Dismiss").click()
    await page.get_by_role("button", name="Reset to defaults").click()

    # INSUFFICIENT_CREDITS: the last credit goes to one upload, the next is refused.
    first = await upload(page, talk_clip, unique_name("first"))
    await expect(job_row(page, first)).to_be_visible()
    await expect(page.get_by_role("link", name="0 credits")).to_be_visible()
    await upload(page, talk_clip, unique_name("second"))
    await expect(page.locator(".uploads").get_by_role("alert")).to_contain_text(
        "no credits left. Buy credits on the Billing page"
    )
    assert "INSUFFICIENT_CREDITS" not in await page.content()


async def test_a_lost_websocket_reconnects_and_says_so(
    visitor: Visitor, account: Account, talk_clip: Path
) -> None:
    page = visitor.page
    sockets: list[WebSocketRoute] = []
    upstream: list[WebSocketRoute] = []
    first_update = asyncio.Event()

    def route(socket: WebSocketRoute) -> None:
        sockets.append(socket)
        if len(sockets) == 2:
            return  # the first retry finds no server (answered by the test below)
        server = socket.connect_to_server()
        upstream.append(server)

        def from_server(message: str | bytes) -> None:
            socket.send(message)
            if '"next"' in str(message):
                first_update.set()

        server.on_message(from_server)
        socket.on_message(lambda message: server.send(message))

    await page.route_web_socket(re.compile(r".*/graphql$"), route)
    await visitor.sign_in(account)
    filename = await upload(page, talk_clip, unique_name("talk"))
    await asyncio.wait_for(first_update.wait(), 30)
    banner = page.get_by_role("status").filter(has_text="Live updates")
    await sockets[0].close(code=1012, reason="server restart")
    await upstream[0].close()
    await expect(banner).to_have_text("Live updates were interrupted. Reconnecting…")
    deadline = time.monotonic() + 30
    while len(sockets) < 2:
        assert time.monotonic() < deadline, "the page did not try to reconnect"
        await asyncio.sleep(0.05)
    await expect(banner).to_have_text("Live updates were interrupted. Reconnecting…")
    await sockets[1].close(code=1012, reason="still restarting")
    await expect(page.get_by_role("status").filter(has_text="Reconnected")).to_have_text(
        "Reconnected: live updates are back.", timeout=30_000
    )
    # Resubscribed: the job's state arrives over the new socket.
    await expect(job_row(page, filename).locator(".badge")).to_have_text(
        "Completed", timeout=JOB_TIMEOUT_MS
    )


async def test_buying_credits_through_checkout_updates_the_balance(
    visitor: Visitor, account: Account, fakes: Fakes, server: ApiServer
) -> None:
    page = visitor.page

    async def stripe_checkout(route: Route) -> None:
        # Stripe's hosted page: the buyer pays, Stripe sends them back to success_url.
        session_id = route.request.url.rsplit("/", 1)[1]
        back = fakes.stripe.sessions[session_id]["success_url"]
        await route.fulfill(
            status=303, headers={"Location": back.replace("{CHECKOUT_SESSION_ID}", session_id)}
        )

    await page.route("https://checkout.stripe.test/**", stripe_checkout)
    await visitor.sign_in(account)
    await page.get_by_role("link", name="Billing").click()
    await expect(page.get_by_role("heading", name="Billing", exact=True)).to_be_visible()
    await page.get_by_role("button", name="Buy 10 credits").click()
    await expect(page).to_have_url(re.compile(r"/billing/success\?session_id=cs_test_"))
    await expect(page.get_by_text("Waiting for the payment to be confirmed")).to_be_visible()

    # Stripe's webhook arrives a moment later.
    session_id = page.url.rsplit("=", 1)[1]
    session = fakes.stripe.sessions[session_id]
    payload = json.dumps(
        {
            "id": f"evt_{session_id}",
            "object": "event",
            "api_version": "2024-06-20",
            "created": int(time.time()),
            "livemode": False,
            "type": "checkout.session.completed",
            "data": {"object": {**session, "status": "complete", "payment_status": "paid"}},
        }
    )
    signature = stripe.WebhookSignature.generate_signature_header(payload, STRIPE_WEBHOOK_SECRET)
    async with httpx.AsyncClient(base_url=server.url) as client:
        answer = await client.post(
            "/webhooks/stripe",
            content=payload,
            headers={"Stripe-Signature": signature, "Content-Type": "application/json"},
        )
        assert answer.status_code == 200, answer.text
    await expect(page.get_by_text("Payment received: the credits were added.")).to_be_visible()
    await expect(page.get_by_role("link", name="13 credits")).to_be_visible()
    # The credit history, newest first: the purchase on top, the starting credits below.
    newest = page.locator("table.ledger tbody tr").first
    await expect(newest.get_by_role("cell")).to_have_text(
        [re.compile(r"\S"), "Credits bought ($10.00)", "+10", "13"]
    )
    await expect(page.locator("table.ledger tbody tr").last).to_contain_text("Welcome credits")


async def test_api_tokens_are_shown_once_and_can_be_revoked(
    visitor: Visitor, account: Account, server: ApiServer
) -> None:
    page = visitor.page
    await visitor.context.grant_permissions(["clipboard-read", "clipboard-write"])
    await visitor.sign_in(account)
    await page.get_by_role("link", name="API tokens").click()
    await page.get_by_label("Token name").fill("CI pipeline")
    await page.get_by_role("button", name="Create token").click()
    token = await page.get_by_label("New API token").input_value()
    assert token.startswith("hc_")
    await page.get_by_role("button", name="Copy token").click()
    await expect(page.get_by_text("Copied.")).to_be_visible()
    assert await page.evaluate("() => navigator.clipboard.readText()") == token
    query = {"query": "{ me { email } }"}
    async with httpx.AsyncClient(base_url=server.url) as client:
        auth = {"Authorization": f"Bearer {token}"}
        assert (await client.post("/graphql", json=query, headers=auth)).json()["data"]
        await page.get_by_role("button", name="Done").click()
        await expect(page.get_by_label("New API token")).to_have_count(0)  # shown once
        row = page.get_by_role("row").filter(has_text="CI pipeline")
        await row.get_by_role("button", name="Revoke").click()
        await row.get_by_role("button", name="Revoke “CI pipeline” now").click()
        await expect(row).to_contain_text("Revoked")
        refused = (await client.post("/graphql", json=query, headers=auth)).json()
        assert refused["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_phone_width_layout(
    browser: Any, server: ApiServer, account: Account, talk_clip: Path
) -> None:
    phone = await open_visitor(browser, server, PHONE)
    try:
        page = phone.page
        await page.goto(phone.url())
        await assert_fits(page)
        await phone.sign_in(account)
        filename = await upload(page, talk_clip, unique_name("a-rather-long-recording-name"))
        await expect(job_row(page, filename).locator(".badge")).to_have_text(
            "Completed", timeout=JOB_TIMEOUT_MS
        )
        await page.get_by_text("Cut options").click()
        for path in ("/", "/billing", "/tokens", "/team"):
            await page.goto(phone.url(path))
            await expect(page.get_by_role("heading", level=1)).to_be_visible()
            await assert_fits(page)
            for name in ("Videos", "Billing", "API tokens", "Team", "Sign out"):
                target = page.get_by_role("navigation").get_by_role("link", name=name)
                if name == "Sign out":
                    target = page.get_by_role("button", name="Sign out")
                box = await target.bounding_box()
                assert box is not None, name
                assert box["x"] >= 0, name
                assert box["x"] + box["width"] <= PHONE["width"], name
                assert box["height"] >= 24, name  # big enough to tap
        assert phone.problems == []
    finally:
        await phone.context.close()


async def assert_fits(page: Page) -> None:
    """Nothing wider than the screen: no sideways scrolling at phone width."""
    width = await page.evaluate("() => document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"{page.url} is {width}px wide"


async def test_graphiql_works_offline(visitor: Visitor, account: Account) -> None:
    page = visitor.page
    origin = visitor.url("")
    outside: list[str] = []

    async def offline(route: Route) -> None:
        if route.request.url.startswith(origin):
            await route.continue_()
        else:
            outside.append(route.request.url)
            await route.abort()

    await visitor.context.route("**/*", offline)
    await visitor.sign_in(account)
    await page.goto(visitor.url("/graphql"))
    await expect(page.locator(".graphiql-query-editor")).to_contain_text("query Me")
    await expect(page.get_by_role("button", name="Show Documentation Explorer")).to_be_visible()
    await page.get_by_role("button", name=re.compile("Execute query")).click()
    await expect(page.locator(".result-window")).to_contain_text(account.email)
    assert outside == []


async def test_keyboard_only(visitor: Visitor, account: Account) -> None:
    page = visitor.page
    await page.goto(visitor.url("/signin"))
    await expect(page.get_by_label("API token")).to_be_visible()
    await page.keyboard.press("Tab")
    assert await focused(page) == "Skip to content"
    # Through the sign-in form without a mouse: Enter submits it.
    for _ in range(10):
        await page.keyboard.press("Tab")
        if await page.evaluate("() => document.activeElement.id") == "api-token":
            break
    await page.keyboard.type(account.token)
    await page.keyboard.press("Enter")
    await expect(page.get_by_role("heading", name="Videos", exact=True)).to_be_visible()
    # Every control is reachable; following a link moves focus to the new page's heading.
    reached = []
    for _ in range(12):
        await page.keyboard.press("Tab")
        reached.append(await focused(page))
        if reached[-1] == "Billing":
            break
    assert "Billing" in reached, reached
    await page.keyboard.press("Enter")
    await expect(page.get_by_role("heading", name="Billing", exact=True)).to_be_focused()
    await expect(page.get_by_role("button", name="Buy 10 credits")).to_be_visible()
    for _ in range(20):
        await page.keyboard.press("Tab")
        if await focused(page) == "Buy 10 credits":
            break
    assert await focused(page) == "Buy 10 credits"


async def focused(page: Page) -> str:
    """The focused element's accessible text (its label, or its own text)."""
    return await page.evaluate(
        """() => {
          const el = document.activeElement;
          return (el.getAttribute('aria-label') || el.textContent || el.id || '').trim();
        }"""
    )


async def test_the_next_person_in_the_same_browser_sees_only_their_own(
    visitor: Visitor, runtime: Runtime, talk_clip: Path, server: ApiServer
) -> None:
    page = visitor.page
    first, second = await new_account(runtime), await new_account(runtime)
    await visitor.sign_in(first)
    mine = await upload(page, talk_clip, unique_name("first-person"))
    await expect(job_row(page, mine).locator(".badge")).to_have_text("Processing")
    # The second person has a job running when they sign in, straight after the first
    # signs out: it must be followed on a socket of theirs, not the first person's.
    async with httpx.AsyncClient(base_url=server.url) as client:
        ticket = await api_upload(client, second.headers, second.workspace_id, talk_clip)
        confirm = "mutation($id: ID!) { confirmUpload(jobId: $id) { id } }"
        confirmed = await graphql(client, confirm, {"id": ticket["job"]["id"]}, second.headers)
        assert "errors" not in confirmed, confirmed
    # All within the page, as a person does it: no reload clears the page's state.
    await page.get_by_role("button", name="Sign out").click()
    await page.get_by_role("link", name="Sign in", exact=True).click()
    await page.get_by_label("API token").fill(second.token)
    await page.get_by_role("button", name="Sign in", exact=True).click()
    theirs = job_row(page, talk_clip.name)
    await expect(theirs.locator(".badge")).to_have_text("Completed", timeout=JOB_TIMEOUT_MS)
    await expect(theirs.get_by_role("alert")).to_have_count(0)
    assert await job_row(page, mine).count() == 0
