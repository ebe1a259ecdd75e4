"""The ID token checks of idp/federation/upstream.py (OIDC Core §3.1.3.7), one by one, against
discovery and a JWKS served over HTTP on loopback, with tokens signed by keys the test holds:
what node-oidc-provider would never send."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from flask import Flask
from joserfc import jwt
from joserfc.jwk import ECKey, RSAKey

from idp.federation.upstream import Upstream, UpstreamRefused, documents, identity_of, verify_id_token

CLIENT = "portcullis"
NONCE = "n-0123456789"


class Issuer:
    """Discovery and a JWKS over HTTP; `keys` is what the JWKS publishes, `fetches` how often it was read."""

    def __init__(self) -> None:
        self.keys: list[Any] = [RSAKey.generate_key(2048, parameters={"kid": "k1"})]
        self.fetches = 0
        issuer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                if self.path == "/jwks":
                    issuer.fetches += 1
                    body = {"keys": [key.as_dict(private=False) for key in issuer.keys]}
                else:
                    body = issuer.metadata
                data = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.server.server_port}"
        self.metadata = {"issuer": self.base, "authorization_endpoint": f"{self.base}/auth",
                         "token_endpoint": f"{self.base}/token", "jwks_uri": f"{self.base}/jwks"}
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def token(self, key: Any = None, alg: str = "RS256", **overrides: Any) -> str:
        now = int(time.time())
        claims = {"iss": self.base, "sub": "person-1", "aud": CLIENT, "iat": now, "exp": now + 300, "nonce": NONCE,
                  "email": "Casey@Example.com", "email_verified": True}
        claims.update(overrides)
        claims = {k: v for k, v in claims.items() if v is not None}
        key = key or self.keys[0]
        return jwt.encode({"alg": alg, "kid": key.kid}, claims, key)


@pytest.fixture
def issuer(app: Flask) -> Iterator[Issuer]:
    """(The app for its clock: the checks read the time from it.)"""
    documents.clear()
    issuer = Issuer()
    yield issuer
    issuer.server.shutdown()
    documents.clear()


def check(issuer: Issuer, token: str, kind: str = "oidc", **upstream: Any) -> Any:
    config = Upstream(kind=kind, client_id=CLIENT, discovery_url=f"{issuer.base}/.well-known/openid-configuration",
                      **upstream)
    metadata = documents.metadata(config.discovery_url)
    return identity_of(config, metadata, verify_id_token(config, metadata, token, NONCE))


def test_a_good_token_gives_the_subject_and_a_trusted_email(issuer: Issuer) -> None:
    identity = check(issuer, issuer.token())
    assert identity.subject == "person-1" and identity.email == "casey@example.com" and identity.email_trusted


@pytest.mark.parametrize(("overrides", "reason"), [
    ({"aud": "someone-else"}, "another client"),
    ({"aud": [CLIENT, "other"]}, "another client"),  # several audiences need azp = us
    ({"exp": int(time.time()) - 600}, "expired"),
    ({"exp": None}, "expired"),
    ({"iat": int(time.time()) + 3600}, "in the future"),
    ({"nonce": "another"}, "not the answer"),
    ({"nonce": None}, "not the answer"),
    ({"iss": "https://evil.example"}, "another issuer"),
    ({"sub": ""}, "names nobody"),
])
def test_each_claim_is_checked(issuer: Issuer, overrides: dict[str, Any], reason: str) -> None:
    with pytest.raises(UpstreamRefused, match=reason):
        check(issuer, issuer.token(**overrides))


def test_several_audiences_with_our_azp_are_accepted(issuer: Issuer) -> None:
    assert check(issuer, issuer.token(aud=[CLIENT, "api"], azp=CLIENT)).subject == "person-1"


def test_a_token_signed_by_a_key_not_published_is_refused(issuer: Issuer) -> None:
    stranger = RSAKey.generate_key(2048, parameters={"kid": "k1"})
    with pytest.raises(UpstreamRefused, match="not signed by the provider"):
        check(issuer, issuer.token(key=stranger))


def test_unsigned_and_malformed_tokens_are_refused(issuer: Issuer) -> None:
    good = issuer.token()
    header, payload, _ = good.split(".")
    for token in (f"{header}.{payload}.", "a.b.c", "not-a-jwt", "x" * 20_000):
        with pytest.raises(UpstreamRefused):
            check(issuer, token)


def test_a_rotated_key_is_fetched_once_more(issuer: Issuer) -> None:
    check(issuer, issuer.token())
    assert issuer.fetches == 1
    rotated = ECKey.generate_key("P-256", parameters={"kid": "k2"})
    issuer.keys.append(rotated)
    assert check(issuer, issuer.token(key=rotated, alg="ES256")).subject == "person-1"
    assert issuer.fetches == 2, "an unknown kid fetched the JWKS again"
    check(issuer, issuer.token())
    assert issuer.fetches == 2, "known keys come from the cache"
    forged = RSAKey.generate_key(2048, parameters={"kid": "k3"})
    for _ in range(3):
        with pytest.raises(UpstreamRefused):
            check(issuer, issuer.token(key=forged))
    assert issuer.fetches == 2, "unknown kids fetch again at most once a minute"


def test_google_rules(issuer: Issuer) -> None:
    assert check(issuer, issuer.token(hd="acme.example"), kind="google", hosted_domains=("acme.example",))
    with pytest.raises(UpstreamRefused, match="not one of the organization"):
        check(issuer, issuer.token(), kind="google", hosted_domains=("acme.example",))
    assert not check(issuer, issuer.token(email_verified="true")).email_trusted, "only the JSON true"


def test_microsoft_rules(issuer: Issuer) -> None:
    tid = "4f1d3b0e-2a6c-4c1e-9d55-0a7b8c9d1e2f"
    issuer.metadata["issuer"] = f"{issuer.base}/{{tenantid}}/v2.0"
    token = issuer.token(iss=f"{issuer.base}/{tid}/v2.0", tid=tid, oid="o-1", email="dana@acme.example")
    identity = check(issuer, token, kind="microsoft", entra_tenant="organizations")
    assert identity.subject == f"{tid}:o-1" and not identity.email_trusted, "no xms_edov, no pinned tenant"
    pinned = check(issuer, token, kind="microsoft", entra_tenant=tid, email_domains=("acme.example",))
    assert pinned.email_trusted
    with pytest.raises(UpstreamRefused, match="another organization"):
        check(issuer, token, kind="microsoft", entra_tenant="9e8d7c6b-5a49-4382-9170-6f5e4d3c2b1a")
    with pytest.raises(UpstreamRefused, match="no tenant or object id"):
        check(issuer, issuer.token(iss=f"{issuer.base}/{tid}/v2.0", tid=tid), kind="microsoft")
