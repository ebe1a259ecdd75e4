"""Signing in, staying signed in and logging out, in a real Chromium against a real `idp serve`."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, BrowserContext, Cookie, Page, expect

from tests.e2e.support import EMAIL, NAME, OTHER, PASSWORD, PERSISTENT_DAYS, SWIM, IdpServer

pytestmark = pytest.mark.e2e

SESSION_COOKIE = "portcullis_session"
WRONG_CREDENTIALS = "That email or password is not right"


def session_cookies(context: BrowserContext) -> list[Cookie]:
    return [cookie for cookie in context.cookies() if cookie["name"] == SESSION_COOKIE]


def fill_sign_in(page: Page, *, email: str = EMAIL, password: str = PASSWORD, stay: bool = False) -> None:
    page.get_by_label("Email or username").fill(email)
    page.get_by_label("Password").fill(password)
    if stay:
        page.get_by_label("Stay logged in").check()
    page.get_by_role("button", name="Sign in").click()


def expect_signed_in(page: Page, name: str = NAME) -> None:
    expect(page.get_by_role("heading", name="You are signed in")).to_be_visible()
    expect(page.locator("#signed-in-as")).to_have_text(name)


def expect_sign_in_page(page: Page) -> None:
    expect(page.get_by_role("heading", name="Staff sign in")).to_be_visible()
    expect(page.get_by_label("Email or username")).to_be_visible()


def test_sign_in_on_the_path_form(page: Page, idp_server: IdpServer) -> None:
    page.goto(idp_server.path_url(SWIM))
    expect_sign_in_page(page)
    expect(page).to_have_title(re.compile("E2E Swim School"))
    expect(page.get_by_label("Stay logged in")).not_to_be_checked()

    fill_sign_in(page)

    expect(page).to_have_url(idp_server.path_url(SWIM, "/signed-in"))
    expect_signed_in(page)
    # Coming back to the sign-in page while signed in goes straight to the signed-in page.
    page.goto(idp_server.path_url(SWIM))
    expect(page).to_have_url(idp_server.path_url(SWIM, "/signed-in"))


@pytest.fixture
def browser_context_pair(browser: Browser) -> Iterator[tuple[BrowserContext, BrowserContext]]:
    first, second = browser.new_context(), browser.new_context()
    yield first, second
    first.close()
    second.close()


def test_stay_logged_in_makes_the_cookie_persistent(
    browser_context_pair: tuple[BrowserContext, BrowserContext], idp_server: IdpServer
) -> None:
    persistent, ephemeral = browser_context_pair

    page = persistent.new_page()
    page.goto(idp_server.path_url(SWIM))
    fill_sign_in(page, stay=True)
    expect_signed_in(page)
    expect(page.get_by_text("You will stay signed in on this device until you log out.")).to_be_visible()
    [cookie] = session_cookies(persistent)
    expected = time.time() + PERSISTENT_DAYS * 86400
    assert abs(cookie["expires"] - expected) < 3600, cookie
    assert cookie["httpOnly"] is True
    assert cookie["sameSite"] == "Lax"
    assert cookie["path"] == f"/a/{SWIM}"

    page = ephemeral.new_page()
    page.goto(idp_server.path_url(SWIM))
    fill_sign_in(page, stay=False)
    expect_signed_in(page)
    expect(page.get_by_text("You will stay signed in on this device")).to_have_count(0)
    [cookie] = session_cookies(ephemeral)
    assert cookie["expires"] == -1, cookie  # a browser-session cookie
    assert cookie["httpOnly"] is True


def test_log_out_through_the_log_out_page(page: Page, context: BrowserContext, idp_server: IdpServer) -> None:
    page.goto(idp_server.path_url(SWIM))
    fill_sign_in(page, stay=True)
    expect_signed_in(page)

    page.goto(idp_server.path_url(SWIM, "/logout"))
    expect(page.get_by_role("heading", name="Log out?")).to_be_visible()
    expect(page.get_by_text(f"You are signed in as {NAME}.")).to_be_visible()
    page.get_by_role("button", name="Log out").click()

    expect(page).to_have_url(idp_server.path_url(SWIM, "/signed-out"))
    expect(page.get_by_role("heading", name="You are signed out")).to_be_visible()
    assert session_cookies(context) == []

    page.goto(idp_server.path_url(SWIM, "/signed-in"))
    expect(page).to_have_url(idp_server.path_url(SWIM, "/login"))
    expect_sign_in_page(page)


def test_host_form_signs_in_with_a_host_scoped_cookie(
    page: Page, context: BrowserContext, idp_server: IdpServer
) -> None:
    page.goto(idp_server.host_url(SWIM, "/"))
    expect(page).to_have_url(idp_server.host_url(SWIM, "/login"))
    expect_sign_in_page(page)
    fill_sign_in(page)
    expect(page).to_have_url(idp_server.host_url(SWIM, "/signed-in"))
    expect_signed_in(page)

    [cookie] = session_cookies(context)
    assert cookie["domain"] == f"{SWIM}.localhost", cookie  # host-only: no leading dot, no parent domain
    assert cookie["path"] == "/"

    # The host-form cookie is worthless at the other tenant and on the path form of the same one.
    page.goto(idp_server.host_url(OTHER, "/signed-in"))
    expect(page).to_have_url(idp_server.host_url(OTHER, "/login"))
    expect_sign_in_page(page)
    page.goto(idp_server.path_url(SWIM, "/signed-in"))
    expect_sign_in_page(page)


def test_path_form_session_does_not_sign_in_at_another_tenant(
    page: Page, context: BrowserContext, idp_server: IdpServer
) -> None:
    page.goto(idp_server.path_url(SWIM))
    fill_sign_in(page, stay=True)
    expect_signed_in(page)
    [cookie] = session_cookies(context)
    assert cookie["domain"] == "127.0.0.1"
    assert cookie["path"] == f"/a/{SWIM}"

    # The same email exists at the other tenant; the session of the first still means nothing there.
    page.goto(idp_server.path_url(OTHER, "/signed-in"))
    expect(page).to_have_url(idp_server.path_url(OTHER, "/login"))
    expect_sign_in_page(page)
    expect(page).to_have_title(re.compile("E2E Other Studio"))

    # Even a cookie copied over by hand (same value, the other tenant's path) is refused.
    context.add_cookies([{**cookie, "path": f"/a/{OTHER}"}])
    page.goto(idp_server.path_url(OTHER, "/signed-in"))
    expect(page).to_have_url(idp_server.path_url(OTHER, "/login"))

    # And the first tenant is still signed in.
    page.goto(idp_server.path_url(SWIM, "/signed-in"))
    expect_signed_in(page)


def test_platform_root_finds_the_account(page: Page, idp_server: IdpServer) -> None:
    page.goto(idp_server.url + "/")
    expect(page.get_by_role("heading", name="Log in")).to_be_visible()
    expect(page.get_by_text("Type in your account name")).to_be_visible()
    page.get_by_label("Account name").fill(SWIM)
    page.get_by_role("button", name="Log in").click()

    expect(page).to_have_url(idp_server.path_url(SWIM, "/login"))
    expect_sign_in_page(page)


def test_platform_root_unknown_account(page: Page, idp_server: IdpServer) -> None:
    page.goto(idp_server.url + "/")
    page.get_by_label("Account name").fill("e2e-nobody-here")
    with page.expect_response(lambda r: "/lookup" in r.url) as answer:
        page.get_by_role("button", name="Log in").click()
    assert answer.value.status == 404

    expect(page.get_by_role("heading", name="We could not find that account")).to_be_visible()
    expect(page.get_by_text("There is no account named e2e-nobody-here.")).to_be_visible()
    # The page offers the lookup form again, and it works.
    page.get_by_label("Account name").fill(SWIM)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(idp_server.path_url(SWIM, "/login"))
    expect_sign_in_page(page)


def test_phone_width_and_keyboard_only(browser: Browser, idp_server: IdpServer) -> None:
    context = browser.new_context(viewport={"width": 375, "height": 700}, is_mobile=True, has_touch=True)
    try:
        page = context.new_page()
        page.goto(idp_server.path_url(SWIM))
        expect_sign_in_page(page)
        scroll_width = page.evaluate("document.scrollingElement.scrollWidth")
        assert scroll_width <= 375, f"horizontal scroll at phone width: scrollWidth {scroll_width}"

        email = page.get_by_label("Email or username")
        password = page.get_by_label("Password")
        expect(email).to_be_focused()  # autofocus: a keyboard user can type at once

        # From the top of the page, keyboard only: Tab, type, Tab, type, Enter.
        page.locator(".brand-name").click()
        expect(email).not_to_be_focused()
        page.keyboard.press("Tab")
        expect(email).to_be_focused()
        page.keyboard.type(EMAIL)
        page.keyboard.press("Tab")
        expect(password).to_be_focused()
        page.keyboard.type(PASSWORD)
        page.keyboard.press("Enter")

        expect(page).to_have_url(idp_server.path_url(SWIM, "/signed-in"))
        expect_signed_in(page)
        scroll_width = page.evaluate("document.scrollingElement.scrollWidth")
        assert scroll_width <= 375, f"horizontal scroll on the signed-in page: scrollWidth {scroll_width}"
    finally:
        context.close()


def test_wrong_password_shows_the_error_and_keeps_the_email(
    page: Page, context: BrowserContext, idp_server: IdpServer
) -> None:
    page.goto(idp_server.path_url(SWIM))
    with page.expect_response(lambda r: r.request.method == "POST") as answer:
        fill_sign_in(page, password="not the password")
    assert answer.value.status == 401

    expect(page.get_by_role("alert")).to_contain_text(WRONG_CREDENTIALS)
    expect(page.get_by_label("Email or username")).to_have_value(EMAIL)
    expect(page.get_by_label("Password")).to_have_value("")
    assert session_cookies(context) == []

    # Correcting the password on that same page signs in.
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect_signed_in(page)
