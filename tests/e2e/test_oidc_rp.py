"""A certified relying-party library (Authlib's OAuth 2.0 / OIDC client) against a live `idp serve`.

The client is created with the real CLI; the browser part (sign-in form, consent) is driven with
`requests` as a browser would submit the forms; everything else goes through Authlib's
OAuth2Session: discovery, code + PKCE, token exchange, userinfo, refresh with rotation, revocation,
introspection, client credentials and RP-initiated logout.
"""

from __future__ import annotations

import base64
import hashlib
import html
import http.client
import json
import os
import re
import secrets
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urljoin, urlsplit

import pytest
import requests
from authlib.common.security import generate_token
from authlib.integrations.base_client.errors import OAuthError
from authlib.integrations.requests_client import OAuth2Session
from joserfc import jws, jwt
from joserfc.jwk import KeySet

from idp.server import MAX_HEADER_BUFFER, SHUTDOWN_GRACE_SECONDS
from tests.e2e.conftest import IDP, _free_port, _idp, _server_env, _wait_until_healthy, delete_tenants, serving
from tests.e2e.support import IdpServer

pytestmark = pytest.mark.e2e

ACCOUNT = "e2e-rp"
EMAIL = "robin@e2e-rp.example"
NAME = "Robin Relying"
PASSWORD = "e2e rp correct horse battery"
SCOPE = "openid profile email offline_access"
TENANT_FILE = f"""
account = "{ACCOUNT}"
name = "E2E Relying Party School"

[[users]]
email = "{EMAIL}"
name = "{NAME}"
password = "{PASSWORD}"
verified = true
pool = "staff"
"""
_FORM = re.compile(r'<form method="post" action="([^"]+)"[^>]*>(.*?)</form>', re.S)
_HIDDEN = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)"')


@dataclass(frozen=True)
class Live:
    server: IdpServer
    client_id: str
    client_secret: str
    public_client_id: str
    callback: str
    logged_out: str

    @property
    def issuer(self) -> str:
        return f"{self.server.url}/a/{ACCOUNT}"

    def discovery(self) -> dict[str, Any]:
        response = requests.get(f"{self.issuer}/.well-known/openid-configuration", timeout=10)
        response.raise_for_status()
        body: dict[str, Any] = response.json()
        return body


@pytest.fixture(scope="module")
def live(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    """Our own `idp serve` with a tenant and clients made by the CLI (it needs the server's master key)."""
    workdir = tmp_path_factory.mktemp("idp-rp")
    port = _free_port()
    env = _server_env(database_url, port, workdir)
    server = IdpServer(port=port, log_path=workdir / "server.log", database_url=database_url)
    delete_tenants(database_url, (ACCOUNT,))
    (workdir / "tenant.toml").write_text(TENANT_FILE)
    _idp(env, "tenant", "apply", str(workdir / "tenant.toml"))
    rp_port = _free_port()  # nothing listens there: the RP's redirects are read, not followed
    callback, logged_out = f"http://127.0.0.1:{rp_port}/callback", f"http://127.0.0.1:{rp_port}/logged-out"
    confidential = json.loads(_idp(
        env, "client", "create", "--tenant", ACCOUNT, "--name", "Office Portal", "--redirect-uri", callback,
        "--post-logout-redirect-uri", logged_out, "--grant-type", "authorization_code",
        "--grant-type", "refresh_token", "--grant-type", "client_credentials", "--scope", SCOPE, "--json",
    ))
    public = json.loads(_idp(
        env, "client", "create", "--tenant", ACCOUNT, "--name", "Mobile app", "--public",
        "--redirect-uri", "http://127.0.0.1/callback", "--grant-type", "authorization_code",
        "--grant-type", "refresh_token", "--scope", SCOPE, "--json",
    ))
    assert confidential["client_secret"] and public["client_secret"] is None
    try:
        with serving(env, server):
            yield Live(server, confidential["client_id"], confidential["client_secret"], public["client_id"],
                       callback, logged_out)
    finally:
        delete_tenants(database_url, (ACCOUNT,))


@pytest.fixture(autouse=True)
def idp_server(live: Live) -> IdpServer:
    """For the conftest's report hook: a failed test shows the server's log."""
    return live.server


def _rp(live: Live, **kwargs: Any) -> OAuth2Session:
    return OAuth2Session(
        live.client_id, live.client_secret, scope=SCOPE, redirect_uri=live.callback,
        token_endpoint_auth_method="client_secret_basic", code_challenge_method="S256", **kwargs,
    )


def _forms(page: str) -> list[tuple[str, dict[str, str]]]:
    return [(html.unescape(action), {k: html.unescape(v) for k, v in _HIDDEN.findall(body)})
            for action, body in _FORM.findall(page)]


def _browse(browser: requests.Session, url: str, until: str) -> str:
    """Follow the provider's redirects and fill its pages like a person until a redirect leaves for `until`."""
    response = browser.get(url, allow_redirects=False, timeout=10)
    for _ in range(15):
        location = response.headers.get("Location")
        if response.status_code in (301, 302, 303, 307) and location:
            target = urljoin(response.url, location)
            if target.startswith(until):
                return target
            response = browser.get(target, allow_redirects=False, timeout=10)
            continue
        assert response.status_code == 200, (response.status_code, response.text[:2000])
        page = response.text
        [(action, fields)] = _forms(page)[:1] or [("", {})]
        if 'name="password"' in page:
            fields |= {"email": EMAIL, "password": PASSWORD}
        elif 'name="decision"' in page:
            fields["decision"] = "allow"
        elif "Log out" in page:
            pass
        else:
            raise AssertionError(f"unexpected page:\n{page[:2000]}")
        response = browser.post(urljoin(response.url, action), data=fields, allow_redirects=False, timeout=10)
    raise AssertionError("too many steps")


@dataclass
class SignedIn:
    rp: OAuth2Session
    browser: requests.Session
    token: dict[str, Any]
    nonce: str
    callback_query: dict[str, list[str]]


def _sign_in(live: Live, rp: OAuth2Session | None = None, browser: requests.Session | None = None) -> SignedIn:
    doc = live.discovery()
    rp = rp or _rp(live)
    browser = browser or requests.Session()
    verifier = generate_token(48)
    nonce = secrets.token_urlsafe(16)
    url, state = rp.create_authorization_url(doc["authorization_endpoint"], code_verifier=verifier, nonce=nonce)
    query = parse_qs(urlsplit(url).query)
    assert query["code_challenge_method"] == ["S256"] and query["code_challenge"]
    callback = _browse(browser, url, live.callback)
    callback_query = parse_qs(urlsplit(callback).query)
    assert callback_query["state"] == [state]
    assert callback_query["iss"] == [live.issuer], "RFC 9207"
    token = rp.fetch_token(doc["token_endpoint"], authorization_response=callback, code_verifier=verifier)
    return SignedIn(rp, browser, dict(token), nonce, callback_query)


def _jwks(live: Live) -> KeySet:
    response = requests.get(live.discovery()["jwks_uri"], timeout=10)
    response.raise_for_status()
    return KeySet.import_key_set(response.json())


def _verify_id_token(live: Live, id_token: str, *, nonce: str | None, access_token: str) -> dict[str, Any]:
    header = dict(jws.extract_compact(id_token.encode()).protected)
    assert header["alg"] in live.discovery()["id_token_signing_alg_values_supported"]
    decoded = jwt.decode(id_token, _jwks(live), algorithms=["RS256", "ES256"])
    jwt.JWTClaimsRegistry(
        iss={"essential": True, "value": live.issuer},
        aud={"essential": True, "value": live.client_id},
        sub={"essential": True}, exp={"essential": True}, iat={"essential": True},
    ).validate(decoded.claims)
    claims = dict(decoded.claims)
    if nonce is None:
        assert "nonce" not in claims
    else:
        assert claims["nonce"] == nonce
    digest = hashlib.sha256(access_token.encode()).digest()
    assert claims["at_hash"] == base64.urlsafe_b64encode(digest[:16]).rstrip(b"=").decode()
    return claims


def test_discovery_at_both_issuer_forms(live: Live) -> None:
    doc = live.discovery()
    assert doc["issuer"] == live.issuer
    assert doc["code_challenge_methods_supported"] == ["S256"]
    assert doc["response_types_supported"] == ["code"]
    assert doc["authorization_response_iss_parameter_supported"] is True
    for key in ("authorization_endpoint", "token_endpoint", "userinfo_endpoint", "jwks_uri",
                "revocation_endpoint", "introspection_endpoint", "end_session_endpoint"):
        assert doc[key].startswith(live.issuer + "/"), key
    port = live.server.port
    host = requests.get(f"http://127.0.0.1:{port}/.well-known/openid-configuration",
                        headers={"Host": f"{ACCOUNT}.localhost:{port}"}, timeout=10)
    assert host.status_code == 200
    assert host.json()["issuer"] == f"http://{ACCOUNT}.localhost:{port}"
    assert host.json()["token_endpoint"] == f"http://{ACCOUNT}.localhost:{port}/token"


def test_code_flow_with_pkce_verified_id_token_and_userinfo(live: Live) -> None:
    signed = _sign_in(live)
    token = signed.token
    assert token["token_type"].lower() == "bearer"
    assert token["refresh_token"] and token["access_token"] and token["expires_in"] <= 600
    claims = _verify_id_token(live, token["id_token"], nonce=signed.nonce, access_token=token["access_token"])
    assert claims["email"] == EMAIL and claims["name"] == NAME and claims["tenant"] == ACCOUNT
    assert claims["sid"] and claims["auth_time"] and claims["amr"]

    doc = live.discovery()
    info = signed.rp.get(doc["userinfo_endpoint"], timeout=10)
    assert info.status_code == 200
    assert info.json()["sub"] == claims["sub"] and info.json()["email"] == EMAIL

    access = jwt.decode(token["access_token"], _jwks(live), algorithms=["RS256", "ES256"])
    assert access.header["typ"] == "at+jwt"
    assert access.claims["client_id"] == live.client_id and access.claims["iss"] == live.issuer


def test_a_code_is_bound_to_its_verifier(live: Live) -> None:
    doc = live.discovery()
    rp = _rp(live)
    url, _ = rp.create_authorization_url(doc["authorization_endpoint"], code_verifier=generate_token(48),
                                         nonce="n")
    callback = _browse(requests.Session(), url, live.callback)
    with pytest.raises(OAuthError) as refused:
        rp.fetch_token(doc["token_endpoint"], authorization_response=callback, code_verifier=generate_token(48))
    assert refused.value.error == "invalid_grant"


def test_public_client_with_pkce(live: Live) -> None:
    doc = live.discovery()
    rp = OAuth2Session(live.public_client_id, None, scope=SCOPE, redirect_uri="http://127.0.0.1:61234/callback",
                       token_endpoint_auth_method="none", code_challenge_method="S256")
    verifier = generate_token(48)
    url, _ = rp.create_authorization_url(doc["authorization_endpoint"], code_verifier=verifier, nonce="n-pub")
    callback = _browse(requests.Session(), url, "http://127.0.0.1:61234/callback")  # any loopback port
    token = rp.fetch_token(doc["token_endpoint"], authorization_response=callback, code_verifier=verifier)
    claims = jwt.decode(token["id_token"], _jwks(live), algorithms=["RS256", "ES256"]).claims
    assert claims["aud"] == live.public_client_id and claims["nonce"] == "n-pub"


def test_refresh_rotates_and_the_spent_token_is_refused(live: Live) -> None:
    signed = _sign_in(live)
    doc = live.discovery()
    first = signed.token
    claims = _verify_id_token(live, first["id_token"], nonce=signed.nonce, access_token=first["access_token"])
    second = dict(signed.rp.refresh_token(doc["token_endpoint"], refresh_token=first["refresh_token"]))
    assert second["refresh_token"] != first["refresh_token"], "rotated on use"
    assert second["access_token"] != first["access_token"]
    refreshed = _verify_id_token(live, second["id_token"], nonce=None, access_token=second["access_token"])
    assert refreshed["sub"] == claims["sub"] and refreshed["sid"] == claims["sid"]
    assert signed.rp.get(doc["userinfo_endpoint"], timeout=10).status_code == 200  # the session uses the new token

    with pytest.raises(OAuthError) as spent:
        _rp(live).refresh_token(doc["token_endpoint"], refresh_token=first["refresh_token"])
    assert spent.value.error == "invalid_grant"
    # Reuse of a spent token revokes the whole grant (RFC 9700 §4.14.2): the rotated one is dead too.
    with pytest.raises(OAuthError) as revoked:
        _rp(live).refresh_token(doc["token_endpoint"], refresh_token=second["refresh_token"])
    assert revoked.value.error == "invalid_grant"


def test_revocation_and_introspection(live: Live) -> None:
    signed = _sign_in(live)
    doc = live.discovery()
    rp = _rp(live)
    token = signed.token
    active = rp.introspect_token(doc["introspection_endpoint"], token=token["access_token"]).json()
    assert active["active"] is True and active["client_id"] == live.client_id
    assert active["sub"] == _verify_id_token(live, token["id_token"], nonce=signed.nonce,
                                             access_token=token["access_token"])["sub"]
    assert rp.introspect_token(doc["introspection_endpoint"], token=token["refresh_token"],
                               token_type_hint="refresh_token").json()["active"] is True

    response = rp.revoke_token(doc["revocation_endpoint"], token=token["access_token"],
                               token_type_hint="access_token")
    assert response.status_code == 200
    assert rp.introspect_token(doc["introspection_endpoint"], token=token["access_token"]).json() == {"active": False}
    assert signed.rp.get(doc["userinfo_endpoint"], timeout=10).status_code == 401

    response = rp.revoke_token(doc["revocation_endpoint"], token=token["refresh_token"],
                               token_type_hint="refresh_token")
    assert response.status_code == 200
    assert rp.introspect_token(doc["introspection_endpoint"], token=token["refresh_token"]).json() == {
        "active": False}
    with pytest.raises(OAuthError) as refused:
        rp.refresh_token(doc["token_endpoint"], refresh_token=token["refresh_token"])
    assert refused.value.error == "invalid_grant"
    # Revoking an unknown token is not an error (RFC 7009 §2.2).
    assert rp.revoke_token(doc["revocation_endpoint"], token="unknown-token").status_code == 200


def test_client_credentials(live: Live) -> None:
    doc = live.discovery()
    rp = OAuth2Session(live.client_id, live.client_secret, scope="profile",
                       token_endpoint_auth_method="client_secret_basic")
    token = rp.fetch_token(doc["token_endpoint"], grant_type="client_credentials")
    assert token["access_token"] and "refresh_token" not in token and "id_token" not in token
    claims = jwt.decode(token["access_token"], _jwks(live), algorithms=["RS256", "ES256"]).claims
    assert claims["sub"] == live.client_id and claims["client_id"] == live.client_id
    introspected = _rp(live).introspect_token(doc["introspection_endpoint"], token=token["access_token"]).json()
    assert introspected["active"] is True and introspected["scope"] == "profile"
    wrong = OAuth2Session(live.client_id, "not-the-secret", token_endpoint_auth_method="client_secret_basic")
    with pytest.raises(OAuthError) as refused:
        wrong.fetch_token(doc["token_endpoint"], grant_type="client_credentials")
    assert refused.value.error == "invalid_client"
    password = OAuth2Session(live.client_id, live.client_secret)
    with pytest.raises(OAuthError) as unsupported:
        password.fetch_token(doc["token_endpoint"], grant_type="password", username=EMAIL, password=PASSWORD)
    assert unsupported.value.error in ("unsupported_grant_type", "unauthorized_client")


def test_a_back_end_reuses_one_connection_for_its_token_requests(live: Live) -> None:
    """`idp serve` keeps HTTP/1.1 connections alive: an RP's HTTP pool does not reconnect per grant."""
    credentials = base64.b64encode(f"{live.client_id}:{live.client_secret}".encode()).decode()
    headers = {"Authorization": f"Basic {credentials}", "Content-Type": "application/x-www-form-urlencoded"}
    connection = http.client.HTTPConnection("127.0.0.1", live.server.port, timeout=10)
    try:
        sockets = []
        for _ in range(3):
            connection.request("POST", f"/a/{ACCOUNT}/token", body="grant_type=client_credentials&scope=profile",
                               headers=headers)
            response = connection.getresponse()
            body = json.loads(response.read())
            assert response.status == 200 and body["token_type"] == "Bearer", body
            assert (response.getheader("Connection") or "").lower() != "close"
            sockets.append(connection.sock)
        assert sockets[0] is not None and all(sock is sockets[0] for sock in sockets), "one TCP connection"
    finally:
        connection.close()


def test_an_oversized_request_head_is_refused_before_the_app(live: Live) -> None:
    """Request line and headers are capped at MAX_HEADER_BUFFER: the server answers 431 itself."""
    big = {"X-Padding": "a" * (MAX_HEADER_BUFFER + 1024)}
    assert requests.get(f"{live.issuer}/.well-known/openid-configuration", headers=big, timeout=10).status_code == 431
    fine = {"X-Padding": "a" * (MAX_HEADER_BUFFER // 2)}
    assert requests.get(f"{live.issuer}/.well-known/openid-configuration", headers=fine, timeout=10).status_code == 200


def test_the_access_log_has_each_request_but_never_its_query_string(live: Live) -> None:
    hint = f"someone.{secrets.token_hex(4)}@example.com"
    response = requests.get(f"{live.issuer}/authorize", params={"login_hint": hint, "client_id": "nobody"}, timeout=10)
    assert response.status_code == 400  # an unknown client: an error page, never a redirect
    line = f'"GET /a/{ACCOUNT}/authorize HTTP/1.1" 400 '
    deadline = time.monotonic() + 5
    while line not in live.server.log() and time.monotonic() < deadline:
        time.sleep(0.05)
    log = live.server.log()
    assert line in log, log[-2000:]
    assert hint not in log and "login_hint" not in log, "query strings carry personal data and credentials"


def test_serve_stops_at_sigterm_with_its_workers(database_url: str, tmp_path: Path) -> None:
    """SIGTERM to `idp serve` (what systemd or a container runtime sends) ends the server and
    every worker process within the grace period, and the port is free again."""
    port = _free_port()
    server = IdpServer(port=port, log_path=tmp_path / "server.log", database_url=database_url)
    env = _server_env(database_url, port, tmp_path)
    with server.log_path.open("wb") as log:
        process = subprocess.Popen(  # noqa: S603
            [str(IDP), "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", "2"],
            env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
    try:
        _wait_until_healthy(process, server)
        workers = [int(pid) for pid in Path(f"/proc/{process.pid}/task/{process.pid}/children").read_text().split()]
        assert len(workers) == 2, server.log()
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=SHUTDOWN_GRACE_SECONDS + 5) == 0, server.log()
        assert not any(Path(f"/proc/{pid}").exists() for pid in workers), "a worker outlived the server"
        with socket.socket() as sock:  # no listener is left (TIME_WAIT connections may be)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(("127.0.0.1", port))
            sock.listen()
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def test_end_session(live: Live) -> None:
    signed = _sign_in(live)
    doc = live.discovery()
    query = {"id_token_hint": signed.token["id_token"], "post_logout_redirect_uri": live.logged_out,
             "state": "bye-e2e", "client_id": live.client_id}
    page = signed.browser.get(doc["end_session_endpoint"], params=query, allow_redirects=False, timeout=10)
    assert page.status_code == 200 and "Log out" in page.text
    # GET changed nothing: the session still reaches the provider without signing in again.
    assert signed.browser.get(f"{live.issuer}/signed-in", allow_redirects=False, timeout=10).status_code == 200
    [(action, fields)] = _forms(page.text)
    response = signed.browser.post(urljoin(page.url, action), data=fields, allow_redirects=False, timeout=10)
    assert response.status_code in (302, 303)
    location = urlsplit(response.headers["Location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == live.logged_out
    assert parse_qs(location.query) == {"state": ["bye-e2e"]}
    assert signed.browser.get(f"{live.issuer}/signed-in", allow_redirects=False, timeout=10).status_code == 302
    with pytest.raises(OAuthError) as refused:
        _rp(live).refresh_token(doc["token_endpoint"], refresh_token=signed.token["refresh_token"])
    assert refused.value.error == "invalid_grant"
    assert signed.rp.get(doc["userinfo_endpoint"], timeout=10).status_code == 401


def test_end_session_never_redirects_to_an_unregistered_uri(live: Live) -> None:
    signed = _sign_in(live)
    doc = live.discovery()
    page = signed.browser.get(doc["end_session_endpoint"], params={
        "id_token_hint": signed.token["id_token"], "post_logout_redirect_uri": "http://127.0.0.1:1/evil",
    }, timeout=10)
    assert page.status_code == 200 and "/evil" not in page.text
    [(action, fields)] = _forms(page.text)
    response = signed.browser.post(urljoin(page.url, action), data=fields, allow_redirects=False, timeout=10)
    assert urlsplit(response.headers["Location"]).path == f"/a/{ACCOUNT}/signed-out"
