"""Real upstream OpenID Providers for the federation tests: node-oidc-provider processes on
loopback (tests/federation/upstream/provider.mjs), one shaped like Google, one like Microsoft
Entra ID (a `{tenantid}` issuer template, `tid`, `oid`, `xms_edov`). `make test` installs them
(`npm ci`); a missing install fails the run."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import pytest
import requests

UPSTREAM_DIR = Path(__file__).parent / "upstream"
CLIENT_ID = "portcullis"
CLIENT_SECRET = "upstream-client-secret"
SLUGS = ("google", "microsoft", "corp", "pinned")
ENTRA_TID = "4f1d3b0e-2a6c-4c1e-9d55-0a7b8c9d1e2f"
OTHER_TID = "9e8d7c6b-5a49-4382-9170-6f5e4d3c2b1a"

GOOGLE_ACCOUNTS: dict[str, dict[str, Any]] = {
    "alice": {"email": "alice@acme-gyms.example", "email_verified": True, "hd": "acme-gyms.example",
              "name": "Alice Acme"},
    "coach": {"email": "coach@example.com", "email_verified": True, "name": "Casey Coach"},
    "unverified-coach": {"email": "coach@example.com", "email_verified": False, "name": "Not Casey"},
    "stranger": {"email": "stranger@acme-gyms.example", "email_verified": True, "hd": "acme-gyms.example"},
    "other-hd": {"email": "bob@other.example", "email_verified": True, "hd": "other.example"},
    "no-email": {"name": "Nameless"},
    "mfa-coach": {"email": "coach@example.com", "email_verified": True, "name": "Casey Coach"},
}
UPSTREAM_AMR = {"mfa-coach": ["pwd", "mfa"], "coach": ["pwd"]}
ENTRA_ACCOUNTS: dict[str, dict[str, Any]] = {
    "edov": {"tid": ENTRA_TID, "oid": "oid-edov", "email": "coach@example.com", "xms_edov": True},
    "no-edov": {"tid": ENTRA_TID, "oid": "oid-no-edov", "email": "coach@example.com"},
    "other-tid": {"tid": OTHER_TID, "oid": "oid-other", "email": "coach@example.com", "xms_edov": True},
    "corp-member": {"tid": ENTRA_TID, "oid": "oid-corp", "email": "dana@acme-gyms.example"},
}


@dataclass
class Upstream:
    """One running upstream; `sign_in_as` answers its next sign-in, `follow` plays the browser there."""

    base: str
    issuer: str
    discovery_url: str
    browser: requests.Session = field(default_factory=requests.Session)

    def sign_in_as(self, account: str) -> None:
        assert requests.post(f"{self.base}/_test/next", params={"account": account}, timeout=5).status_code == 204

    def refuse_next(self, error: str = "access_denied") -> None:
        assert requests.post(f"{self.base}/_test/next", params={"error": error}, timeout=5).status_code == 204

    def follow(self, url: str) -> str:
        """Follow the upstream's redirects until one leaves it: the callback URL at Portcullis."""
        for _ in range(15):
            assert url.startswith(self.base), url
            response = self.browser.get(url, allow_redirects=False, timeout=10)
            assert response.status_code in (302, 303), (response.status_code, response.text[:500])
            url = urljoin(url, response.headers["Location"])
            if not url.startswith(self.base):
                return url
        raise AssertionError("the upstream redirected too often")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _callbacks(accounts: tuple[str, ...] = ("acme", "beta")) -> list[str]:
    """Every callback URI the tests register upstream (path form, the test public URL)."""
    return [f"http://localhost/a/{account}/federation/{slug}/callback" for account in accounts for slug in SLUGS]


@pytest.fixture(scope="session")
def node() -> str:
    return node_path()


def node_path() -> str:
    path = shutil.which("node")
    assert path, "node is not installed: the federation tests need Node.js for their upstream provider"
    assert (UPSTREAM_DIR / "node_modules" / "oidc-provider").is_dir(), \
        "node-oidc-provider is not installed: run `make test` (it runs npm ci in tests/federation/upstream)"
    return path


def start_upstream(node: str, issuer: str, port: int, accounts: dict[str, Any], redirect_uris: list[str] | None = None,
                   **extra: Any) -> Iterator[subprocess.Popen[str]]:
    """Run provider.mjs with these accounts and one client, `portcullis`, until the generator closes."""
    config = {"port": port, "issuer": issuer, "accounts": accounts, **extra, "clients": [{
        "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "redirect_uris": redirect_uris or _callbacks(),
        "grant_types": ["authorization_code"], "response_types": ["code"],
        "token_endpoint_auth_method": "client_secret_basic"}]}
    log = tempfile.NamedTemporaryFile("w+", prefix="upstream-", suffix=".log")  # noqa: SIM115 - closed below
    process = subprocess.Popen([node, str(UPSTREAM_DIR / "provider.mjs")], cwd=UPSTREAM_DIR, text=True,
                               env={"UPSTREAM_CONFIG": json.dumps(config), "PATH": "/usr/bin:/bin"},
                               stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and process.poll() is None:  # it may warn first (the Node.js version)
        if "ready " in Path(log.name).read_text():
            break
        time.sleep(0.05)
    else:
        process.kill()
        raise AssertionError(f"the upstream provider did not start: {Path(log.name).read_text()[:2000]}")
    try:
        yield process
    finally:
        process.terminate()
        process.wait(timeout=10)
        log.close()


@pytest.fixture(scope="session")
def google(node: str) -> Iterator[Upstream]:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    for _ in start_upstream(node, base, port, GOOGLE_ACCOUNTS, amr=UPSTREAM_AMR):
        yield Upstream(base, base, f"{base}/.well-known/openid-configuration")


@pytest.fixture(scope="session")
def entra(node: str) -> Iterator[Upstream]:
    """Entra-shaped: the real issuer names the tenant; /organizations/v2.0 serves the template."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    for _ in start_upstream(node, f"{base}/{ENTRA_TID}/v2.0", port, ENTRA_ACCOUNTS,
                            issuerTemplate="/organizations/v2.0", templateIssuer=f"{base}/{{tenantid}}/v2.0"):
        yield Upstream(base, f"{base}/{ENTRA_TID}/v2.0", f"{base}/organizations/v2.0/.well-known/openid-configuration")


@pytest.fixture(autouse=True)
def _fresh_upstream_documents(request: pytest.FixtureRequest) -> Iterator[None]:
    """Each test fetches discovery and keys as a new process would, and meets the upstreams in a
    fresh browser (no upstream session left from the test before)."""
    from idp.federation.upstream import documents

    for name in ("google", "entra"):
        if name in request.fixturenames:
            request.getfixturevalue(name).browser = requests.Session()
    documents.clear()
    yield
    documents.clear()
