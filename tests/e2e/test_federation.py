"""Signing in through an upstream in a real Chromium: "Continue with Google" on the path form, and
email-first on the host form, against a real `idp serve` and a real upstream OpenID Provider
(node-oidc-provider, shaped like Google)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from playwright.sync_api import Page, expect

from tests.e2e.conftest import _free_port, _idp, _server_env, delete_tenants, serving
from tests.e2e.support import E2E_ACCOUNTS, EMAIL, NAME, SWIM, TENANT_FILES, IdpServer
from tests.federation.conftest import CLIENT_ID, CLIENT_SECRET, node_path, start_upstream

pytestmark = pytest.mark.e2e

DOMAIN = EMAIL.rpartition("@")[2]


@pytest.fixture(scope="module")
def upstream_and_server(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str,
                                                                                                      IdpServer]]:
    """An upstream whose one account is the e2e staff member (verified email), and a seeded
    `idp serve` whose tenant has a Google connection to it claiming the member's domain."""
    workdir: Path = tmp_path_factory.mktemp("idp-e2e-federation")
    port, upstream_port = _free_port(), _free_port()
    upstream = f"http://127.0.0.1:{upstream_port}"
    callback = f"http://127.0.0.1:{port}/a/{SWIM}/federation/google/callback"
    accounts = {"robin": {"email": EMAIL, "email_verified": True, "name": "Robin at Google"}}
    env = _server_env(database_url, port, workdir)
    server = IdpServer(port=port, log_path=workdir / "server.log", database_url=database_url)
    delete_tenants(database_url, E2E_ACCOUNTS)
    for _ in start_upstream(node_path(), upstream, upstream_port, accounts, redirect_uris=[callback]):
        for account, content in TENANT_FILES.items():
            path = workdir / f"{account}.toml"
            path.write_text(content)
            _idp(env, "tenant", "apply", str(path))
        _idp(env | {"GOOGLE_SECRET": CLIENT_SECRET}, "connection", "add", "--tenant", SWIM, "--kind", "google",
             "--name", "Google", "--client-id", CLIENT_ID, "--client-secret-env", "GOOGLE_SECRET",
             "--discovery-url", f"{upstream}/.well-known/openid-configuration", "--email-domain", DOMAIN)
        try:
            with serving(env, server):
                yield upstream, server
        finally:
            delete_tenants(database_url, E2E_ACCOUNTS)


def next_upstream_sign_in(upstream: str, account: str) -> None:
    assert requests.post(f"{upstream}/_test/next", params={"account": account}, timeout=5).status_code == 204


def test_continue_with_google_signs_in(page: Page, upstream_and_server: tuple[str, IdpServer]) -> None:
    upstream, server = upstream_and_server
    next_upstream_sign_in(upstream, "robin")
    page.goto(server.path_url(SWIM))
    page.get_by_role("button", name="Continue with Google").click()
    expect(page).to_have_url(server.path_url(SWIM, "/signed-in"))
    expect(page.get_by_role("heading", name="You are signed in")).to_be_visible()
    expect(page.locator("#signed-in-as")).to_have_text(NAME)


def test_email_first_on_the_host_form_comes_back_to_it(page: Page,
                                                       upstream_and_server: tuple[str, IdpServer]) -> None:
    upstream, server = upstream_and_server
    next_upstream_sign_in(upstream, "robin")
    page.goto(server.host_url(SWIM))
    page.get_by_label("Email or username").fill(EMAIL)
    page.get_by_role("button", name="Sign in").click()  # no password: this domain has its own sign-in
    expect(page).to_have_url(server.host_url(SWIM, "/signed-in"))
    expect(page.locator("#signed-in-as")).to_have_text(NAME)
