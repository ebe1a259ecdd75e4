"""Families in a real Chromium against a real `idp serve`: the primary guardian signs in to the
Customer Portal and invites; the invitee opens the mailed link in a fresh browser, creates the
account, confirms being 18 or older and signs in to the portal with view access; a second family
invites the same person, and `prompt=select_account` switches family with no password asked."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass
from email import policy
from email.parser import BytesParser
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import requests
from joserfc import jwt
from joserfc.jwk import KeySet
from playwright.sync_api import Browser, Page, expect

from tests.e2e.conftest import _free_port, _idp, _server_env, delete_tenants, serving
from tests.e2e.support import IdpServer, app_page

pytestmark = pytest.mark.e2e

ACCOUNT = "e2e-families"
PASSWORD = "e2e family correct horse battery"
NEW_PASSWORD = "e2e lighthouse marmalade canoe"
ANA, LI, BEA = "ana@e2e-families.example", "li@e2e-families.example", "bea@e2e-families.example"
LINK = re.compile(r"^(http://\S+/family/invitation/\S+)$", re.MULTILINE)
TENANT_FILE = f"""
account = "{ACCOUNT}"
name = "E2E Families Swim"

[[users]]
email = "{ANA}"
name = "Ana Garcia"
password = "{PASSWORD}"
verified = true
pool = "customer"

[[users]]
email = "{LI}"
name = "Li Lee"
password = "{PASSWORD}"
verified = true
pool = "customer"
"""


@dataclass(frozen=True)
class Live:
    server: IdpServer
    client_id: str
    client_secret: str
    callback: str
    families: dict[str, str]  # name → id

    @property
    def issuer(self) -> str:
        return f"{self.server.url}/a/{ACCOUNT}"


@pytest.fixture(scope="module")
def live(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    workdir = tmp_path_factory.mktemp("idp-families")
    port = _free_port()
    env = _server_env(database_url, port, workdir)
    server = IdpServer(port=port, log_path=workdir / "server.log", database_url=database_url)
    delete_tenants(database_url, (ACCOUNT,))
    (workdir / "tenant.toml").write_text(TENANT_FILE)
    _idp(env, "tenant", "apply", str(workdir / "tenant.toml"))
    families = {}
    for name, primary in (("The Garcia family", ANA), ("The Lee family", LI)):
        created = json.loads(_idp(env, "family", "create", "--tenant", ACCOUNT, "--name", name, "--primary", primary,
                                  "--json"))
        families[name] = created["id"]
    with app_page("Customer Portal") as callback:
        client = json.loads(_idp(
            env, "client", "create", "--tenant", ACCOUNT, "--name", "Customer Portal", "--redirect-uri", callback,
            "--grant-type", "authorization_code", "--grant-type", "refresh_token", "--first-party", "--pool",
            "customer", "--scope", "openid profile email family", "--json",
        ))
        try:
            with serving(env, server):
                yield Live(server, client["client_id"], client["client_secret"], callback, families)
        finally:
            delete_tenants(database_url, (ACCOUNT,))


@pytest.fixture(autouse=True)
def idp_server(live: Live) -> IdpServer:
    """For the conftest's report hook: a failed test shows the server's log."""
    return live.server


class PortalSignIn:
    """One authorization request of the Customer Portal, its PKCE verifier kept for the exchange."""

    def __init__(self, live: Live, **extra: str) -> None:
        self.live = live
        self.verifier = secrets.token_urlsafe(48)
        challenge = base64.urlsafe_b64encode(hashlib.sha256(self.verifier.encode()).digest()).rstrip(b"=").decode()
        self.url = f"{live.issuer}/authorize?" + urlencode({
            "response_type": "code", "client_id": live.client_id, "redirect_uri": live.callback,
            "scope": "openid profile email family", "state": secrets.token_urlsafe(8),
            "nonce": secrets.token_urlsafe(8), "code_challenge": challenge, "code_challenge_method": "S256", **extra,
        })

    def claims(self, page: Page) -> dict[str, Any]:
        """Back at the portal: exchange the code and verify the ID token."""
        expect(page.get_by_role("heading", name="Back at the Customer Portal")).to_be_visible()
        code = parse_qs(urlsplit(page.url).query)["code"][0]
        live = self.live
        tokens = requests.post(f"{live.issuer}/token", auth=(live.client_id, live.client_secret), timeout=10, data={
            "grant_type": "authorization_code", "code": code, "redirect_uri": live.callback,
            "code_verifier": self.verifier}).json()
        keys = KeySet.import_key_set(requests.get(f"{live.issuer}/jwks", timeout=10).json())
        claims = dict(jwt.decode(tokens["id_token"], keys, algorithms=["RS256", "ES256"]).claims)
        claims["_access"] = dict(jwt.decode(tokens["access_token"], keys, algorithms=["RS256", "ES256"]).claims)
        return claims


def sign_in(page: Page, email: str, password: str) -> None:
    expect(page.get_by_role("heading", name="Sign in", exact=True)).to_be_visible()
    page.get_by_label("Email", exact=True).fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()


def invite(page: Page, live: Live, email: str) -> None:
    page.goto(f"{live.issuer}/account/family")
    page.get_by_label("Their email address").fill(email)
    page.get_by_role("button", name="Send invitation").click()
    expect(page.locator("#invitation-sent")).to_be_visible()


def wait_for_link(outbox: Path, to: str, seen: set[str], timeout: float = 30.0) -> str:
    """The first invitation link to `to` not in `seen`, from the server's outbox."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for path in sorted(outbox.glob("*.eml"), key=lambda p: p.stat().st_mtime):
            message = BytesParser(policy=policy.default).parsebytes(path.read_bytes())
            body = message.get_body(preferencelist=("plain",))
            match = LINK.search(body.get_content()) if message["To"] == to and body is not None else None
            if match and match.group(1) not in seen:
                seen.add(match.group(1))
                return match.group(1)
        time.sleep(0.2)
    raise AssertionError(f"no invitation to {to} arrived in {outbox} within {timeout:.0f}s")


def test_the_whole_families_journey(browser: Browser, live: Live) -> None:
    contexts = [browser.new_context() for _ in range(3)]
    ana, li, bea = (context.new_page() for context in contexts)
    seen: set[str] = set()
    try:
        # The primary guardian signs in to the portal (full access) and invites Bea.
        at_portal = PortalSignIn(live)
        ana.goto(at_portal.url)
        sign_in(ana, ANA, PASSWORD)
        claims = at_portal.claims(ana)
        assert claims["family"] == {"id": live.families["The Garcia family"], "name": "The Garcia family",
                                    "role": "primary", "access": "full"}
        invite(ana, live, BEA)

        # Bea opens the mail's link in a browser that has never been here and makes her account.
        link = wait_for_link(live.server.outbox, BEA, seen)
        bea.goto(link)
        bea.goto(link)  # a scanner or preview opened it first: still usable
        bea.get_by_label("Your name").fill("Bea")
        bea.get_by_label("Choose a password").fill(NEW_PASSWORD)
        bea.get_by_label("Type it again").fill(NEW_PASSWORD)
        bea.get_by_role("button", name="Create account and accept").click()
        expect(bea.get_by_role("heading", name="You can now see The Garcia family")).to_be_visible()

        # She signs in to the portal: 18+ first, then view access.
        first = PortalSignIn(live)
        bea.goto(first.url)
        sign_in(bea, BEA, NEW_PASSWORD)
        expect(bea.get_by_role("heading", name="Confirm you are 18 or older")).to_be_visible()
        bea.get_by_label("I am 18 years of age or older").check()
        bea.get_by_role("button", name="Continue").click()
        claims = first.claims(bea)
        assert claims["family"] == {"id": live.families["The Garcia family"], "name": "The Garcia family",
                                    "role": "secondary", "access": "view"}
        assert claims["_access"]["family"]["access"] == "view"

        # The Lee family invites her too; signed in as herself, she just accepts.
        li_portal = PortalSignIn(live)
        li.goto(li_portal.url)
        sign_in(li, LI, PASSWORD)
        li_portal.claims(li)
        invite(li, live, BEA)
        bea.goto(wait_for_link(live.server.outbox, BEA, seen))
        bea.get_by_role("button", name="Accept", exact=True).click()
        expect(bea.get_by_role("heading", name="You can now see The Lee family")).to_be_visible()

        # The portal asks her to pick a family: the picker, and no password.
        switch = PortalSignIn(live, prompt="select_account")
        bea.goto(switch.url)
        expect(bea.get_by_role("heading", name="Which family?")).to_be_visible()
        expect(bea.get_by_label("Password")).to_have_count(0)
        bea.get_by_label(re.compile("The Lee family")).check()
        bea.get_by_role("button", name="Continue").click()
        lee = switch.claims(bea)
        assert lee["family"]["id"] == live.families["The Lee family"] and lee["family"]["access"] == "view"
        assert lee["auth_time"] == claims["auth_time"], "the same sign-in"

        # And back to the Garcias, the last choice preselected.
        back = PortalSignIn(live, prompt="select_account")
        bea.goto(back.url)
        expect(bea.get_by_label(re.compile("The Lee family"))).to_be_checked()
        bea.get_by_label(re.compile("The Garcia family")).check()
        bea.get_by_role("button", name="Continue").click()
        assert back.claims(bea)["family"]["id"] == live.families["The Garcia family"]
    finally:
        for context in contexts:
            context.close()
