"""Resolving a request to a tenant and its issuer: pure functions, no database."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from idp.config import Config
from idp.tenancy.issuers import host_issuer, path_issuer, sign_in_urls
from idp.tenancy.routing import Route, UnknownHost, resolve


def make_config(public_url: str = "http://localhost", base_domain: str = "localhost") -> Config:
    return Config(
        database_url="sqlite://", public_url=public_url, base_domain=base_domain, smtp_url=None,
        mail_outbox=Path("unused"), master_key=b"k" * 32,
    )


def settings(config: Config) -> dict[str, Any]:
    return {
        "public_url": config.public_url, "public_host": config.public_host, "public_path": config.public_path,
        "public_scheme": config.public_scheme, "base_domain": config.base_domain,
    }


LOCAL = settings(make_config())
DEV = settings(make_config("http://127.0.0.1:8000"))
PROD = settings(make_config("https://id.example.com", base_domain="id.example.com"))
PREFIXED = settings(make_config("https://example.com/auth", base_domain="example.com"))


@pytest.mark.parametrize(
    ("conf", "host", "path", "expected"),
    [
        # path form
        (LOCAL, "localhost", "/a/acme/login", Route("acme", "path", "/a/acme", "/login", "http://localhost/a/acme")),
        (LOCAL, "localhost", "/a/acme", Route("acme", "path", "/a/acme", "/", "http://localhost/a/acme")),
        (LOCAL, "localhost", "/a/acme/", Route("acme", "path", "/a/acme", "/", "http://localhost/a/acme")),
        (LOCAL, "LocalHost", "/a/acme/x/y", Route("acme", "path", "/a/acme", "/x/y", "http://localhost/a/acme")),
        (DEV, "127.0.0.1:8000", "/a/blue-lagoon/login",
         Route("blue-lagoon", "path", "/a/blue-lagoon", "/login", "http://127.0.0.1:8000/a/blue-lagoon")),
        (PROD, "id.example.com", "/a/acme/login",
         Route("acme", "path", "/a/acme", "/login", "https://id.example.com/a/acme")),
        (PREFIXED, "example.com", "/auth/a/acme/login",
         Route("acme", "path", "/auth/a/acme", "/login", "https://example.com/auth/a/acme")),
        # host form
        (LOCAL, "acme.localhost", "/login", Route("acme", "host", "", "/login", "http://acme.localhost")),
        (LOCAL, "ACME.localhost", "/", Route("acme", "host", "", "/", "http://acme.localhost")),
        (LOCAL, "acme.localhost", "", Route("acme", "host", "", "/", "http://acme.localhost")),
        (DEV, "acme.localhost:8000", "/login", Route("acme", "host", "", "/login", "http://acme.localhost:8000")),
        (PROD, "acme.id.example.com", "/login",
         Route("acme", "host", "", "/login", "https://acme.id.example.com")),
        # the platform root
        (LOCAL, "localhost", "/", Route(None, None, "", "/", None)),
        (LOCAL, "localhost", "/lookup", Route(None, None, "", "/lookup", None)),
        (LOCAL, "localhost", "/a", Route(None, None, "", "/a", None)),
        (PREFIXED, "example.com", "/auth", Route(None, None, "/auth", "/", None)),
        (PREFIXED, "example.com", "/auth/lookup", Route(None, None, "/auth", "/lookup", None)),
    ],
)
def test_resolve(conf: dict[str, Any], host: str, path: str, expected: Route) -> None:
    assert resolve(host, path, **conf) == expected


@pytest.mark.parametrize(
    ("conf", "path"),
    [
        (LOCAL, "/a/Acme/login"),
        (LOCAL, "/a/ac_me/login"),
        (LOCAL, "/a/-acme/login"),
        (LOCAL, "/a//login"),
        (LOCAL, "/a/ab/login"),
        (LOCAL, "/a/" + "a" * 64 + "/login"),
        (LOCAL, "/a/acme\n/login"),
        (LOCAL, "/a/acme\x00/login"),
        (LOCAL, "/a/../admin"),
        (PREFIXED, "/other/a/acme/login"),
        (PREFIXED, "/authx/a/acme/login"),
        (PREFIXED, "/"),
    ],
)
def test_malformed_paths_resolve_to_not_found(conf: dict[str, Any], path: str) -> None:
    host = conf["public_host"]
    assert resolve(host, path, **conf) is None


@pytest.mark.parametrize(
    ("conf", "host"),
    [
        (LOCAL, "evil.example"),
        (LOCAL, "acme.evil.localhost"),  # not a direct child of the base domain
        (LOCAL, "acme.localhost."),
        (LOCAL, "-acme.localhost"),
        (LOCAL, "ac_me.localhost"),
        (LOCAL, "localhost:8080"),  # not the public host
        (LOCAL, "localhost.evil.example"),
        (LOCAL, ""),
        (LOCAL, "[::1]:8000"),
        (DEV, "127.0.0.1"),
        (DEV, "localhost:8000"),
        (PROD, "acme.example.com"),
        # The issuer is built from the Host header's port: only digits may get through.
        (LOCAL, "acme.localhost:8000@evil.example"),
        (LOCAL, "acme.localhost:evil"),
        (LOCAL, "acme.localhost:80/evil"),
        (LOCAL, "acme.localhost:123456"),
    ],
)
def test_unknown_hosts(conf: dict[str, Any], host: str) -> None:
    assert resolve(host, "/login", **conf) == UnknownHost(host.strip().lower())


def test_host_form_issuer_never_carries_more_than_a_port() -> None:
    for host in ("acme.localhost:8000@evil.example", "acme.localhost:1/x", "acme.localhost:8000#x"):
        result = resolve(host, "/", **LOCAL)
        assert not isinstance(result, Route), f"{host!r} produced issuer {getattr(result, 'issuer', None)!r}"


@pytest.mark.parametrize(
    ("public_url", "path_form", "host_form"),
    [
        ("http://localhost", "http://localhost/a/acme", "http://acme.localhost"),
        ("http://127.0.0.1:8000", "http://127.0.0.1:8000/a/acme", "http://acme.localhost:8000"),
        ("https://id.example.com", "https://id.example.com/a/acme", "https://acme.localhost"),
        ("https://example.com/auth", "https://example.com/auth/a/acme", "https://acme.localhost"),
    ],
)
def test_issuers_from_configuration(public_url: str, path_form: str, host_form: str) -> None:
    config = make_config(public_url)
    assert path_issuer(config, "acme") == path_form
    assert host_issuer(config, "acme") == host_form
    assert sign_in_urls(config, "acme") == [f"{path_form}/login", f"{host_form}/login"]


def test_resolved_issuers_match_the_configured_ones() -> None:
    config = make_config("http://127.0.0.1:8000")
    conf = settings(config)
    by_path = resolve("127.0.0.1:8000", "/a/acme/.well-known/openid-configuration", **conf)
    by_host = resolve("acme.localhost:8000", "/.well-known/openid-configuration", **conf)
    assert isinstance(by_path, Route) and isinstance(by_host, Route)
    assert by_path.issuer == path_issuer(config, "acme")
    assert by_host.issuer == host_issuer(config, "acme")
    assert by_path.issuer != by_host.issuer


@pytest.mark.parametrize(
    ("conf", "host", "path", "cookie_path"),
    [
        (LOCAL, "localhost", "/a/acme/login", "/a/acme"),
        (LOCAL, "localhost", "/a/blue-lagoon", "/a/blue-lagoon"),
        (LOCAL, "acme.localhost", "/login", "/"),
        (LOCAL, "localhost", "/", "/"),
        (PREFIXED, "example.com", "/auth/a/acme/login", "/auth/a/acme"),
        (PREFIXED, "example.com", "/auth/", "/auth"),
    ],
)
def test_cookie_path(conf: dict[str, Any], host: str, path: str, cookie_path: str) -> None:
    route = resolve(host, path, **conf)
    assert isinstance(route, Route)
    assert route.cookie_path == cookie_path

