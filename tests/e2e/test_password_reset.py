"""Issue #4 in a real browser: a new staff member asks for a link on one device and completes it
on another (a second, fresh browser context: no cookie, no session, no earlier page visit)."""

from __future__ import annotations

import re
import time
from email import policy
from email.parser import BytesParser
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.e2e.support import NEWCOMER, SWIM, IdpServer

pytestmark = pytest.mark.e2e
NEW_PASSWORD = "lighthouse marmalade canoe"
LINK = re.compile(r"^(http://\S+/(?:reset|set)-password/\S+)$", re.MULTILINE)


def _wait_for_link(outbox: Path, to: str, timeout: float = 30.0) -> str:
    """The link in the newest message to `to` that the server's sender wrote to the outbox."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for path in sorted(outbox.glob("*.eml"), key=lambda p: p.stat().st_mtime, reverse=True):
            message = BytesParser(policy=policy.default).parsebytes(path.read_bytes())
            if message["To"] == to:
                body = message.get_body(preferencelist=("plain",))
                assert body is not None
                match = LINK.search(body.get_content())
                assert match, body.get_content()
                return match.group(1)
        time.sleep(0.2)
    raise AssertionError(f"no mail to {to} arrived in {outbox} within {timeout:.0f}s")


def test_a_reset_link_completes_in_a_fresh_browser(idp_server: IdpServer, page: Page, browser: Browser) -> None:
    page.goto(idp_server.path_url(SWIM))
    page.get_by_role("link", name="Forgot password?").click()
    page.get_by_label("Email address").fill(NEWCOMER)
    page.get_by_role("button", name="Email me a link").click()
    expect(page.locator("main")).to_contain_text(NEWCOMER.split("@")[0][:2])

    link = _wait_for_link(idp_server.outbox, NEWCOMER)
    other_device = browser.new_context()
    try:
        ipad = other_device.new_page()
        ipad.goto(link)
        ipad.goto(link)  # a mail scanner or preview opened it first: still usable
        ipad.get_by_label("New password").fill(NEW_PASSWORD)
        ipad.get_by_label("Type it again").fill(NEW_PASSWORD)
        ipad.get_by_role("button", name=re.compile("Set password|Change password")).click()
        expect(ipad.locator("main")).not_to_contain_text("expired")
        ipad.goto(idp_server.path_url(SWIM))
        ipad.get_by_label("Email or username").fill(NEWCOMER)
        ipad.get_by_label("Password").fill(NEW_PASSWORD)
        ipad.get_by_role("button", name="Sign in").click()
        expect(ipad.locator("main")).to_contain_text("Nova Newcomer")
    finally:
        other_device.close()
