"""Two `idp serve` nodes on one PostgreSQL behind Debian's HAProxy, which sends the public Host:
a full sign-in and token flow whose requests alternate between the nodes, on both issuer forms,
and a change made on one node seen by the other within a second (LISTEN/NOTIFY), not after the
caches' expiry."""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
import shutil
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from tests.e2e.conftest import _free_port, _idp, _server_env, delete_tenants, serving
from tests.e2e.support import IdpServer

pytestmark = pytest.mark.e2e

ACCOUNT = "e2e-lb"
PASSWORD = "load balanced passphrase 42"
SECRET = "lb-client-secret-0123456789abcdefgh"
REDIRECT = "https://rp.example/callback"
TENANT = """
account = "{account}"
name = "{name}"
[[clients]]
client_id = "rp"
client_secret = "{secret}"
client_name = "RP"
redirect_uris = ["{redirect}"]
grant_types = ["authorization_code", "refresh_token"]
scope = "openid profile email offline_access"
first_party = true
[[users]]
email = "lb@e2e-lb.example"
password = "{password}"
verified = true
"""
HAPROXY_CONFIG = """
global
  maxconn 256
defaults
  mode http
  timeout connect 5s
  timeout client 30s
  timeout server 30s
  option forwardfor
  option http-server-close
frontend public
  bind 127.0.0.1:{port}
  default_backend nodes
backend nodes
  balance roundrobin
  http-response set-header X-Served-By %[srv_name]
  server a 127.0.0.1:{a}
  server b 127.0.0.1:{b}
"""


def tenant_file(name: str) -> str:
    return TENANT.format(account=ACCOUNT, name=name, secret=SECRET, redirect=REDIRECT, password=PASSWORD)


@pytest.fixture(scope="module")
def balanced(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict[str, str], Path]]:
    if not database_url.startswith("postgresql"):
        pytest.skip("several nodes share one PostgreSQL; SQLite is one node")
    haproxy = shutil.which("haproxy") or "/usr/sbin/haproxy"
    assert Path(haproxy).exists(), "Debian's haproxy is not installed: make test installs it (make loadbalancer)"
    workdir = tmp_path_factory.mktemp("idp-e2e-lb")
    lb, a, b = _free_port(), _free_port(), _free_port()
    env = _server_env(database_url, lb, workdir) | {"IDP_TRUST_PROXY": "1"}  # one master key for both nodes
    delete_tenants(database_url, (ACCOUNT,))
    (workdir / "t.toml").write_text(tenant_file("Balanced Gym"))
    _idp(env, "tenant", "apply", str(workdir / "t.toml"))
    (workdir / "haproxy.cfg").write_text(HAPROXY_CONFIG.format(port=lb, a=a, b=b))
    with ExitStack() as stack:
        for port, name in ((a, "a"), (b, "b")):
            node = IdpServer(port=port, log_path=workdir / f"node-{name}.log", database_url=database_url)
            stack.enter_context(serving(env, node))
        proxy = subprocess.Popen([haproxy, "-f", str(workdir / "haproxy.cfg"), "-db"],  # noqa: S603
                                 stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        stack.callback(proxy.wait, 10)
        stack.callback(proxy.terminate)
        for _ in range(100):
            try:
                if requests.get(f"http://127.0.0.1:{lb}/healthz", timeout=1).status_code == 200:
                    break
            except requests.ConnectionError:
                time.sleep(0.05)
        try:
            yield f"http://127.0.0.1:{lb}", env, workdir
        finally:
            delete_tenants(database_url, (ACCOUNT,))


def flow(base: str, host: str | None) -> Counter[str]:
    """Authorize, sign in, code, token, userinfo, refresh through the balancer; which node answered each."""
    browser = requests.Session()
    headers = {"Host": host} if host else {}
    prefix = "" if host else f"/a/{ACCOUNT}"
    served: Counter[str] = Counter()

    def call(method: str, path: str, **kwargs: object) -> requests.Response:
        answer = browser.request(method, f"{base}{prefix}{path}", headers=headers | kwargs.pop("headers", {}),  # type: ignore[operator]
                                 allow_redirects=False, timeout=10, **kwargs)
        served[answer.headers.get("X-Served-By", "?")] += 1
        assert answer.status_code < 500, answer.text[:500]
        return answer

    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    started = call("GET", "/authorize", params={
        "response_type": "code", "client_id": "rp", "redirect_uri": REDIRECT, "scope": "openid email offline_access",
        "state": "s", "nonce": "n", "code_challenge": challenge, "code_challenge_method": "S256"})
    login = started.headers["Location"]
    page = call("GET", urlsplit(login).path.removeprefix(prefix) + "?" + urlsplit(login).query)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
    request_id = parse_qs(urlsplit(login).query)["request"][0]
    answer = call("POST", "/login", data={"csrf_token": csrf, "email": "lb@e2e-lb.example", "password": PASSWORD,
                                          "request": request_id})
    for _ in range(6):  # the sign-in pipeline's redirects, until one leaves for the app
        location = answer.headers["Location"]
        if location.startswith(REDIRECT):
            break
        parts = urlsplit(location)
        answer = call("GET", parts.path.removeprefix(prefix) + (f"?{parts.query}" if parts.query else ""))
    code = parse_qs(urlsplit(answer.headers["Location"]).query)["code"][0]
    tokens = call("POST", "/token", auth=("rp", SECRET), data={
        "grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT, "code_verifier": verifier}).json()
    info = call("GET", "/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"})
    assert info.json()["email"] == "lb@e2e-lb.example"
    refreshed = call("POST", "/token", auth=("rp", SECRET),
                     data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]})
    assert refreshed.status_code == 200 and refreshed.json()["refresh_token"] != tokens["refresh_token"]
    return served


@pytest.mark.parametrize("form", ["path", "host"])
def test_a_full_flow_alternates_between_nodes(balanced: tuple[str, dict[str, str], Path], form: str) -> None:
    base, _, _ = balanced
    port = urlsplit(base).port
    served = flow(base, f"{ACCOUNT}.localhost:{port}" if form == "host" else None)
    assert set(served) == {"a", "b"} and abs(served["a"] - served["b"]) <= 1, served


def test_a_change_on_one_node_is_seen_on_both_within_a_second(balanced: tuple[str, dict[str, str], Path]) -> None:
    base, env, workdir = balanced
    login = f"{base}/a/{ACCOUNT}/login"
    for _ in range(4):  # both nodes have the tenant cached, fresh (they would keep it for 5 s)
        assert "Balanced Gym" in requests.get(login, timeout=5).text
    (workdir / "t.toml").write_text(tenant_file("Renamed Gym"))
    _idp(env, "tenant", "apply", str(workdir / "t.toml"))
    deadline, seen = time.monotonic() + 1.5, set()
    while time.monotonic() < deadline and seen != {"a", "b"}:
        answer = requests.get(login, timeout=5)
        if "Renamed Gym" in answer.text:
            seen.add(answer.headers["X-Served-By"])
    assert seen == {"a", "b"}, "both nodes forgot their cached tenant at the change, not at expiry"
