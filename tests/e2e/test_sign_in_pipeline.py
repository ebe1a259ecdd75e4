"""The whole sign-in pipeline in a real Chromium against a real `idp serve`.

An app sends a staff member to sign in; the tenant requires two-step sign-in, new Terms and a new
Privacy Policy are published, the person's email is unverified and a location has no email. The
person enrols TOTP (the secret read from the page, codes computed with pyotp), accepts the
policies with the newsletter ticked, reads the notices, and lands back at the app, whose code
gives an ID token with the right `amr`, `acr` and `landing_page`.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pyotp
import pytest
import requests
from joserfc import jwt
from joserfc.jwk import KeySet
from playwright.sync_api import Browser, Page, expect
from sqlalchemy import create_engine, delete

from idp.policies.models import PolicyDocument
from tests.e2e.conftest import _free_port, _idp, _server_env, delete_tenants, serving
from tests.e2e.support import IdpServer, app_page

pytestmark = pytest.mark.e2e

ACCOUNT = "e2e-pipeline"
EMAIL = "sam@e2e-pipeline.example"
NAME = "Sam Pipeline"
PASSWORD = "e2e pipeline correct horse battery"
PHONE_WIDTH = 375
TERMS_VERSION, PRIVACY_VERSION = "e2e-terms-2026-12", "e2e-privacy-2026-12"
TENANT_FILE = f"""
account = "{ACCOUNT}"
name = "E2E Pipeline Gym"

[settings]
second_factor_policy = "required"

[business]
legal_name = "E2E Pipeline Gym Ltd"
email = "office@e2e-pipeline.example"

[[locations]]
name = "Riverside Pool"

[[users]]
email = "{EMAIL}"
name = "{NAME}"
password = "{PASSWORD}"
pool = "staff"
landing_page = "dashboard"
permissions = ["dashboard", "classes", "settings"]
"""


@dataclass(frozen=True)
class Live:
    server: IdpServer
    client_id: str
    client_secret: str
    callback: str

    @property
    def issuer(self) -> str:
        return f"{self.server.url}/a/{ACCOUNT}"


def _delete_policies(database_url: str) -> None:
    """Policy documents are platform-wide: remove the ones this module published."""
    engine = create_engine(database_url)
    try:
        with engine.begin() as conn:
            conn.execute(delete(PolicyDocument).where(PolicyDocument.version.in_([TERMS_VERSION, PRIVACY_VERSION])))
    finally:
        engine.dispose()


@pytest.fixture(scope="module")
def live(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    workdir = tmp_path_factory.mktemp("idp-pipeline")
    port = _free_port()
    env = _server_env(database_url, port, workdir)
    server = IdpServer(port=port, log_path=workdir / "server.log", database_url=database_url)
    delete_tenants(database_url, (ACCOUNT,))
    _delete_policies(database_url)
    (workdir / "tenant.toml").write_text(TENANT_FILE)
    _idp(env, "tenant", "apply", str(workdir / "tenant.toml"))
    _idp(env, "policy", "publish", "--kind", "terms", "--version", TERMS_VERSION,
         "--url", "https://example.com/terms/2026-12")
    _idp(env, "policy", "publish", "--kind", "privacy", "--version", PRIVACY_VERSION,
         "--url", "https://example.com/privacy/2026-12")

    with app_page("Office Portal") as callback:
        client = json.loads(_idp(
            env, "client", "create", "--tenant", ACCOUNT, "--name", "Office Portal", "--redirect-uri", callback,
            "--grant-type", "authorization_code", "--grant-type", "client_credentials", "--first-party",
            "--scope", "openid profile email users:read", "--json",
        ))
        try:
            with serving(env, server):
                yield Live(server, client["client_id"], client["client_secret"], callback)
        finally:
            delete_tenants(database_url, (ACCOUNT,))
            _delete_policies(database_url)


@pytest.fixture(autouse=True)
def idp_server(live: Live) -> IdpServer:
    """For the conftest's report hook: a failed test shows the server's log."""
    return live.server


def _authorization_url(live: Live, verifier: str, state: str, nonce: str) -> str:
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return f"{live.issuer}/authorize?" + urlencode({
        "response_type": "code", "client_id": live.client_id, "redirect_uri": live.callback,
        "scope": "openid profile email", "state": state, "nonce": nonce,
        "code_challenge": challenge, "code_challenge_method": "S256",
    })


def _exchange(live: Live, code: str, verifier: str) -> dict[str, Any]:
    response = requests.post(f"{live.issuer}/token", auth=(live.client_id, live.client_secret), timeout=10, data={
        "grant_type": "authorization_code", "code": code, "redirect_uri": live.callback, "code_verifier": verifier,
    })
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def _verified_claims(live: Live, id_token: str) -> dict[str, Any]:
    keys = KeySet.import_key_set(requests.get(f"{live.issuer}/jwks", timeout=10).json())
    decoded = jwt.decode(id_token, keys, algorithms=["RS256", "ES256"])
    jwt.JWTClaimsRegistry(iss={"essential": True, "value": live.issuer},
                          aud={"essential": True, "value": live.client_id}).validate(decoded.claims)
    return dict(decoded.claims)


def _person(live: Live, sub: str) -> dict[str, Any]:
    """What the Office Portal reads through the admin API."""
    token = requests.post(f"{live.issuer}/token", auth=(live.client_id, live.client_secret), timeout=10,
                          data={"grant_type": "client_credentials", "scope": "users:read"}).json()["access_token"]
    response = requests.get(f"{live.issuer}/api/v1/users/{sub}", headers={"Authorization": f"Bearer {token}"},
                            timeout=10)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def fits_a_phone(page: Page) -> None:
    scroll_width = page.evaluate("document.scrollingElement.scrollWidth")
    assert scroll_width <= PHONE_WIDTH, f"horizontal scroll at phone width on {page.url}: {scroll_width}"


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A phone, driven with the keyboard alone: every page of the pipeline must work there."""
    context = browser.new_context(viewport={"width": PHONE_WIDTH, "height": 740}, is_mobile=True, has_touch=True)
    context.set_default_timeout(10_000)
    yield context.new_page()
    context.close()


def test_enrol_accept_notices_and_back_to_the_app(page: Page, live: Live) -> None:
    verifier, state, nonce = secrets.token_urlsafe(48), secrets.token_urlsafe(16), secrets.token_urlsafe(16)
    page.goto(_authorization_url(live, verifier, state, nonce))

    # Password.
    expect(page.get_by_label("Email or username")).to_be_focused()
    page.keyboard.type(EMAIL)
    page.keyboard.press("Tab")
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")

    # Two-step sign-in is required: enrol with the key shown as text and the app's code.
    expect(page.get_by_role("heading", name="Set up two-step sign-in")).to_be_visible()
    fits_a_phone(page)
    expect(page.locator("figure.qr svg")).to_be_visible()
    secret = page.locator("#totp-secret").get_attribute("data-secret")
    assert secret and page.locator("#totp-secret").inner_text().replace(" ", "") == secret
    code_field = page.get_by_label("6-digit code")
    expect(code_field).to_be_focused()
    page.keyboard.type("000000" if pyotp.TOTP(secret).now() != "000000" else "111111")
    page.keyboard.press("Enter")
    expect(page.locator("#code-error")).to_be_visible()  # a wrong code is refused, tied to its field
    expect(code_field).to_have_attribute("aria-invalid", "true")
    expect(code_field).to_be_focused()
    page.keyboard.press("Control+A")
    page.keyboard.type(pyotp.TOTP(secret).now())
    page.keyboard.press("Enter")

    expect(page.get_by_role("heading", name="Save your recovery codes")).to_be_visible()
    fits_a_phone(page)
    codes = page.locator("#recovery-codes li").all_inner_texts()
    assert len(codes) == 10 and len(set(codes)) == 10
    expect(page.locator("#continue")).to_be_focused()
    page.keyboard.press("Enter")

    # Updated Terms & Privacy: both listed, the newsletter offered unticked; tick it and accept.
    expect(page.get_by_role("heading", name="We have updated our terms")).to_be_visible()
    fits_a_phone(page)
    documents = page.locator("#policy-documents")
    expect(documents).to_contain_text(f"Terms & Conditions, version {TERMS_VERSION}")
    expect(documents).to_contain_text(f"Privacy Policy, version {PRIVACY_VERSION}")
    newsletter = page.get_by_label("Subscribe to the newsletter")
    expect(newsletter).not_to_be_checked()
    for _ in range(3):  # the two documents' links, then the newsletter choice
        page.keyboard.press("Tab")
    expect(newsletter).to_be_focused()
    page.keyboard.press("Space")
    expect(newsletter).to_be_checked()
    page.keyboard.press("Tab")
    expect(page.get_by_role("button", name="Accept and continue")).to_be_focused()
    page.keyboard.press("Enter")

    # Notices that do not block: the unverified email and the location without an email, by name.
    expect(page.get_by_role("heading", name="Before you continue")).to_be_visible()
    fits_a_phone(page)
    expect(page.locator("#email-notice")).to_contain_text(EMAIL)
    expect(page.locator("#missing-details")).to_contain_text("Riverside Pool")
    expect(page.get_by_role("button", name="Continue")).to_be_focused()
    page.keyboard.press("Enter")

    # Back at the app, with a code for this flow.
    expect(page.get_by_role("heading", name="Back at the Office Portal")).to_be_visible()
    query = parse_qs(urlsplit(page.url).query)
    assert page.url.startswith(live.callback)
    assert query["state"] == [state] and query["iss"] == [live.issuer]
    tokens = _exchange(live, query["code"][0], verifier)
    claims = _verified_claims(live, tokens["id_token"])
    assert claims["nonce"] == nonce
    assert claims["amr"] == ["pwd", "otp"]
    assert claims["acr"] == "urn:portcullis:acr:mfa"
    assert claims["landing_page"] == "dashboard"
    assert claims["email"] == EMAIL and claims["email_verified"] is False

    person = _person(live, claims["sub"])
    assert person["newsletter"] is True and person["second_factor"] is True
    assert person["accepted_policies"]["terms"]["version"] == TERMS_VERSION
    assert person["accepted_policies"]["privacy"]["version"] == PRIVACY_VERSION

    # The same browser signs in again later: only the second factor is asked (terms are accepted,
    # and the notices were seen in a session that has ended).
    context = page.context
    context.clear_cookies()
    verifier, state = secrets.token_urlsafe(48), secrets.token_urlsafe(16)
    page.goto(_authorization_url(live, verifier, state, "n2"))
    page.get_by_label("Email or username").fill(EMAIL)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Enter your code")).to_be_visible()
    page.get_by_label("Code").fill(codes[0])  # a recovery code instead of the app
    page.get_by_role("button", name="Verify").click()
    expect(page.get_by_role("heading", name="Before you continue")).to_be_visible()  # notices again: still apply
    page.get_by_role("button", name="Continue").click()
    expect(page.get_by_role("heading", name="Back at the Office Portal")).to_be_visible()
    second = _verified_claims(live, _exchange(live, parse_qs(urlsplit(page.url).query)["code"][0],
                                              verifier)["id_token"])
    assert second["amr"] == ["pwd", "otp"] and second["sub"] == claims["sub"]
