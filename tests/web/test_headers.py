"""Security headers on every response; HSTS only over https."""

from __future__ import annotations

from dataclasses import replace

import pytest
from flask.testing import FlaskClient

from idp.config import Config
from tests.helpers import make_tenant, make_user, sign_in


@pytest.fixture
def config(config: Config, request: pytest.FixtureRequest) -> Config:
    """The shared config; `parametrize("config", [URL], indirect=True)` serves from another public URL."""
    public_url = getattr(request, "param", None)
    return replace(config, public_url=public_url) if public_url else config


STRICT_REFERRER_POLICIES = ("no-referrer", "same-origin", "strict-origin", "strict-origin-when-cross-origin")
HTTPS = pytest.mark.parametrize("config", ["https://localhost"], indirect=True)

# (method, url, base_url, expected status): pages, redirects and errors alike.
REQUESTS = [
    ("GET", "/", "localhost", 200),
    ("GET", "/lookup?account=acme", "localhost", 302),
    ("GET", "/lookup?account=nope", "localhost", 404),
    ("GET", "/lookup?account=", "localhost", 400),
    ("GET", "/a/acme/login", "localhost", 200),
    ("GET", "/a/acme/", "localhost", 302),
    ("GET", "/a/acme/logout", "localhost", 200),
    ("GET", "/a/acme/signed-in", "localhost", 302),
    ("GET", "/a/acme/no-such-page", "localhost", 404),
    ("GET", "/a/nope/login", "localhost", 404),
    ("POST", "/a/acme/login", "localhost", 400),  # no CSRF token
    ("PUT", "/a/acme/login", "localhost", 405),
    ("GET", "/login", "acme.localhost", 200),
    ("GET", "/login", "nope.localhost", 404),
]


def fetch(client: FlaskClient, method: str, url: str, host: str, scheme: str = "http"):  # type: ignore[no-untyped-def]
    return client.open(url, method=method, base_url=f"{scheme}://{host}")


@pytest.mark.parametrize(("method", "url", "host", "status"), REQUESTS)
def test_security_headers_everywhere(app, client: FlaskClient, method: str, url: str, host: str, status: int) -> None:
    make_tenant()
    response = fetch(client, method, url, host)
    assert response.status_code == status
    headers = response.headers
    csp = headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in csp
    assert "default-src 'self'" in csp
    assert "object-src 'none'" in csp
    assert "base-uri 'none'" in csp
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] in STRICT_REFERRER_POLICIES
    assert headers["X-Frame-Options"] == "DENY"
    if response.mimetype == "text/html":
        assert "no-store" in headers["Cache-Control"]
    assert "Strict-Transport-Security" not in headers, "HSTS over plain http"


@pytest.mark.parametrize(("method", "url", "host", "status"), [r for r in REQUESTS if r[0] == "GET" and r[3] != 302])
def test_html_pages_are_never_cached(app, client: FlaskClient, method: str, url: str, host: str, status: int) -> None:
    make_tenant()
    response = fetch(client, method, url, host)
    assert response.mimetype == "text/html"
    assert "no-store" in response.headers["Cache-Control"]


def test_signed_in_page_is_not_cached(app, client: FlaskClient) -> None:
    make_user(make_tenant())
    sign_in(client)
    response = client.get("/a/acme/signed-in")
    assert response.status_code == 200
    assert "no-store" in response.headers["Cache-Control"]


@HTTPS
@pytest.mark.parametrize(("method", "url", "host", "status"), REQUESTS)
def test_hsts_over_https(app, client: FlaskClient, method: str, url: str, host: str, status: int) -> None:
    make_tenant()
    response = fetch(client, method, url, host, scheme="https")
    assert response.status_code == status
    hsts = response.headers["Strict-Transport-Security"]
    max_age = int(hsts.split("max-age=")[1].split(";")[0])
    assert max_age >= 365 * 86400
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]


def test_plain_text_responses_are_not_sniffed(app, client: FlaskClient) -> None:
    response = client.get("/healthz")
    assert response.mimetype == "text/plain"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
