"""The Team page and the invitation link in a real browser: invite, revoke, accept (signed
in with Google as the invited address), change a role, remove a member."""

from __future__ import annotations

import re
import uuid

import pytest
from playwright.async_api import Browser, expect
from sqlalchemy import select

from hushcut.core.models import EmailOutbox
from hushcut.core.runtime import Runtime
from tests.api.conftest import Account, ApiServer, Fakes
from tests.web.conftest import Visitor, open_visitor

pytestmark = pytest.mark.asyncio(loop_scope="session")

LINK = re.compile(r"/invite/(hci_[\w-]+)")


async def emailed_link(runtime: Runtime, address: str) -> str:
    """The path of the newest invitation link sent to ``address``."""
    async with runtime.session() as session:
        mails = (
            await session.scalars(
                select(EmailOutbox)
                .where(EmailOutbox.to_address == address)
                .order_by(EmailOutbox.created_at.desc())
            )
        ).all()
    assert mails, f"no email to {address}"
    found = LINK.search(mails[0].text)
    assert found is not None, mails[0].text
    return f"/invite/{found.group(1)}"


async def test_invite_accept_change_role_and_remove(
    visitor: Visitor,
    account: Account,
    browser: Browser,
    server: ApiServer,
    runtime: Runtime,
    fakes: Fakes,
) -> None:
    page = visitor.page
    await visitor.sign_in(account)
    await page.get_by_role("link", name="Team").click()
    await expect(page.get_by_role("heading", name="Team", exact=True)).to_be_visible()
    # The only owner is told how to leave rather than offered a Leave the server refuses.
    await expect(page.get_by_text("You are the only owner of Test workspace")).to_be_visible()
    await expect(page.get_by_role("button", name="Leave Test workspace")).to_have_count(0)
    colleague = f"colleague-{uuid.uuid4().hex[:8]}@example.com"
    other = f"other-{uuid.uuid4().hex[:8]}@example.com"
    for address in (colleague, other):
        await page.get_by_label("Email address").fill(address)
        await page.get_by_role("button", name="Send invitation").click()
        await expect(page.get_by_text(f"Invitation sent to {address}.")).to_be_visible()
    pending = page.locator("table.invitations")
    await expect(pending.get_by_role("cell", name=colleague, exact=True)).to_be_visible()
    await page.get_by_role("button", name=f"Revoke invitation to {other}").click()
    await expect(pending.get_by_role("cell", name=other, exact=True)).to_have_count(0)
    await expect(pending.get_by_role("cell", name=colleague, exact=True)).to_be_visible()

    # The colleague opens the emailed link, signs in with Google as that address, joins.
    link = await emailed_link(runtime, colleague)
    guest = await open_visitor(browser, server)
    before = fakes.oidc.next_identity
    fakes.oidc.next_identity = {
        "sub": uuid.uuid4().hex,
        "email": colleague,
        "email_verified": True,
        "name": "Colleague",
    }
    try:
        await guest.page.goto(guest.url(link))
        await guest.page.get_by_role("link", name="Sign in with Google").click()
        await expect(guest.page.get_by_role("heading", name="Join a workspace")).to_be_visible()
        assert guest.page.url == guest.url(link)
        await guest.page.get_by_role("button", name="Accept invitation").click()
        await expect(guest.page.get_by_role("heading", name="Team", exact=True)).to_be_visible()
        await expect(
            guest.page.get_by_role("heading", name="Members of Test workspace")
        ).to_be_visible()
        await expect(guest.page.get_by_role("row", name=re.compile("Colleague"))).to_contain_text(
            "Member"
        )
        # The link worked once.
        await guest.page.goto(guest.url(link))
        await guest.page.get_by_role("button", name="Accept invitation").click()
        await expect(guest.page.get_by_role("alert")).to_contain_text("cannot be used")
        assert guest.problems == [], guest.problems
    finally:
        fakes.oidc.next_identity = before
        await guest.context.close()

    # The owner sees them, makes them an admin, then removes them.
    await page.reload()
    await expect(pending.get_by_role("cell", name=colleague, exact=True)).to_have_count(0)
    await page.get_by_label("Role of Colleague").select_option("OWNER")
    await expect(page.get_by_text("Colleague is now owner.")).to_be_visible()
    await expect(page.get_by_role("button", name="Leave Test workspace")).to_be_visible()
    await expect(page.get_by_text("You are the only owner")).to_have_count(0)
    await page.get_by_label("Role of Colleague").select_option("ADMIN")
    await expect(page.get_by_text("Colleague is now admin.")).to_be_visible()
    await page.reload()
    await expect(page.get_by_label("Role of Colleague")).to_have_value("ADMIN")
    await page.get_by_role("button", name="Remove Colleague").click()
    await expect(page.get_by_text("Colleague was removed")).to_be_visible()
    await expect(page.get_by_role("cell", name=colleague, exact=True)).to_have_count(0)
