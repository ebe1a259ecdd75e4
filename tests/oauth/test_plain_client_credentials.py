"""The plain client_credentials path (idp/oauth/plain_client_credentials.py) against the full path.

A differential test: every request is sent twice, as a plain token request (the front takes it,
and the plain path grants it if it can) and with a query string (the front hands it to Flask's
view, which runs Authlib's full path). The two answers must agree: the same status, members and
headers, and for a grant the same access token but for its own `iat`, `exp` and `jti`. Each row
also says whether the plain path itself grants it (`answer` called directly), so that the
comparison is never between two runs of the full path."""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.datastructures import MultiDict
from werkzeug.test import EnvironBuilder

from idp.db import db
from idp.oauth import plain_client_credentials, tokens
from idp.oauth.clients import EXTENSION as CLIENT_CACHE
from idp.tenancy.cache import EXTENSION as TENANT_CACHE
from idp.tenancy.models import Tenant
from idp.tenancy.routing import Route
from tests.helpers import make_tenant
from tests.oauth.helpers import RP, make_rp

SCOPES = "users:read users:write"
Headers = Callable[[dict[str, RP]], dict[str, str]]


def basic(client_id: str, secret: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()}


def of(name: str) -> Headers:
    return lambda rps: rps[name].basic


@pytest.fixture
def rps(app: Flask) -> dict[str, RP]:
    acme = make_tenant()
    beta = make_tenant("beta", "Beta Gym")
    service = dict(grant_types=["client_credentials"], scope=SCOPES, redirect_uris=[])
    made = {
        "service": make_rp(acme, **service),
        "post": make_rp(acme, **service, token_endpoint_auth_method="client_secret_post"),
        "web": make_rp(acme),  # authorization_code and refresh_token only
        "narrow": make_rp(acme, grant_types=["client_credentials"], scope="users:read", redirect_uris=[]),
        "beta": make_rp(beta, **service),
    }
    db.session.commit()
    return made


CC = {"grant_type": "client_credentials"}
# (what, form, credentials, other headers, whether the plain path grants it)
ROWS: list[tuple[str, dict[str, str], Headers, dict[str, str], bool]] = [
    ("every machine scope", CC, of("service"), {}, True),
    ("one scope", {**CC, "scope": "users:read"}, of("service"), {}, True),
    ("a scope twice, out of order", {**CC, "scope": "users:write users:read users:write"}, of("service"), {}, True),
    ("the narrow client's one scope", {**CC, "scope": "users:read"}, of("narrow"), {}, True),
    ("an empty scope", {**CC, "scope": ""}, of("service"), {}, True),
    ("scopes with extra spaces", {**CC, "scope": " users:read  users:write "}, of("service"), {}, True),
    ("a wrong secret", CC, lambda rps: basic(rps["service"].client_id, "not-the-secret"), {}, False),
    ("an unknown client", CC, lambda rps: basic("no-such-client", "whatever"), {}, False),
    ("another tenant's client", CC, of("beta"), {}, False),
    ("a scope the client lacks", {**CC, "scope": "users:write"}, of("narrow"), {}, False),
    ("an OpenID scope", {**CC, "scope": "openid"}, of("service"), {}, False),
    ("a client registered for client_secret_post, over Basic", CC, of("post"), {}, False),
    ("a client without client_credentials", CC, of("web"), {}, False),
    ("no credentials", CC, lambda rps: {}, {}, False),
    ("Basic without a colon", CC, lambda rps: {"Authorization": "Basic " + base64.b64encode(b"abc").decode()}, {},
     False),
    ("a percent-encoded client id", CC,
     lambda rps: basic(f"%{ord(rps['service'].client_id[0]):02X}{rps['service'].client_id[1:]}",
                       rps["service"].client_secret or ""), {}, False),
    ("credentials in the form too", {**CC, "client_id": "x", "client_secret": "y"}, of("service"), {}, False),
    ("client_secret_post", CC, lambda rps: {}, {}, False),  # the form's credentials are added below
    ("grant_type twice", {**CC}, of("service"), {}, False),  # the second one is added below
    ("a resource indicator", {**CC, "resource": "https://api.example"}, of("service"), {}, False),
    ("an Origin", CC, of("service"), {"Origin": "https://portal.example"}, False),
    ("an unsupported grant type", {"grant_type": "password", "username": "a", "password": "b"}, of("service"), {},
     False),
]


# Not plain, yet granted: the full path answers them.
GRANTED_BY_THE_FULL_PATH_ONLY = ("a percent-encoded client id", "client_secret_post", "a resource indicator",
                                 "an Origin")


def _form(what: str, form: dict[str, str], rps: dict[str, RP]) -> list[tuple[str, str]]:
    pairs = list(form.items())
    if what == "client_secret_post":
        pairs += [("client_id", rps["post"].client_id), ("client_secret", rps["post"].client_secret or "")]
    if what == "grant_type twice":
        pairs.append(("grant_type", "client_credentials"))
    return pairs


def _answer(app: Flask, response: Any) -> tuple[int, dict[str, Any], list[tuple[str, str]], dict[str, Any] | None]:
    body = response.get_json()
    headers = sorted((name, value) for name, value in response.headers.items()
                     if name not in ("Content-Length", "X-Request-Id"))
    claims = None
    if "access_token" in body:
        with app.app_context():
            tenant = Tenant.query.filter_by(account="acme").one()
            decoded = tokens.decode(tenant, body["access_token"], [f"http://localhost/a/{tenant.account}"])
        assert decoded is not None, "the access token verifies"
        claims = {k: v for k, v in decoded.items() if k not in ("iat", "exp", "jti")}
        assert decoded["exp"] - decoded["iat"] == tokens.ACCESS_TOKEN_LIFETIME
    return response.status_code, {k: v for k, v in body.items() if k != "access_token"}, headers, claims


@pytest.mark.parametrize("what, form, credentials, extra, plain", ROWS, ids=[row[0] for row in ROWS])
def test_the_plain_path_answers_as_the_full_path(app: Flask, client: FlaskClient, rps: dict[str, RP], what: str,
                                                 form: dict[str, str], credentials: Headers, extra: dict[str, str],
                                                 plain: bool) -> None:
    pairs = _form(what, form, rps)
    headers = {**credentials(rps), **extra}
    client.post("/a/acme/token", data=CC, headers=rps["service"].basic)  # the caches hold tenant and client
    client.post("/a/acme/token", data=CC, headers=rps["narrow"].basic)

    assert (_granted_plainly(app, pairs, headers) is not None) is plain

    front = client.post("/a/acme/token", data=MultiDict(pairs), headers=headers)
    view = client.post("/a/acme/token?via=view", data=MultiDict(pairs), headers=headers)
    assert _answer(app, front) == _answer(app, view)
    assert (front.status_code == 200) is (plain or what in GRANTED_BY_THE_FULL_PATH_ONLY), front.get_json()


def test_a_scope_asked_twice_is_granted_once_on_both_paths(app: Flask, client: FlaskClient, rps: dict[str, RP]) -> None:
    form = {**CC, "scope": "users:write users:read users:write"}
    client.post("/a/acme/token", data=CC, headers=rps["service"].basic)
    for path in ("/a/acme/token", "/a/acme/token?via=view"):
        granted = client.post(path, data=form, headers=rps["service"].basic).get_json()
        assert granted["scope"] == "users:write users:read"


def test_a_cold_cache_is_handed_to_the_full_path_which_fills_it(app: Flask, client: FlaskClient,
                                                                rps: dict[str, RP]) -> None:
    pairs = list(CC.items())
    app.extensions[TENANT_CACHE].clear()
    app.extensions[CLIENT_CACHE].clear()
    assert _granted_plainly(app, pairs, rps["service"].basic) is None
    assert client.post("/a/acme/token", data=CC, headers=rps["service"].basic).status_code == 200
    assert _granted_plainly(app, pairs, rps["service"].basic) is not None


def test_a_secret_changed_elsewhere_is_refused_at_once(app: Flask, client: FlaskClient, rps: dict[str, RP]) -> None:
    """The client cache forgets a client when it changes, so the plain path never grants on the
    old secret."""
    from idp.crypto import keyring
    from idp.oauth.models import Client

    old = rps["service"].basic
    assert client.post("/a/acme/token", data=CC, headers=old).status_code == 200
    with app.app_context():
        stored = Client.query.filter_by(client_id=rps["service"].client_id).one()
        stored.client_secret_hash = keyring().hash_token("a-new-secret")
        db.session.commit()
    assert _granted_plainly(app, list(CC.items()), old) is None
    refused = client.post("/a/acme/token", data=CC, headers=old)
    assert refused.status_code == 401 and refused.get_json()["error"] == "invalid_client"
    renewed = basic(rps["service"].client_id, "a-new-secret")
    assert client.post("/a/acme/token", data=CC, headers=renewed).status_code == 200


def _granted_plainly(app: Flask, pairs: list[tuple[str, str]], headers: dict[str, str]) -> Any:
    environ = EnvironBuilder(path="/token", method="POST", headers=headers).get_environ()
    route = Route("acme", "path", "/a/acme", "/token", "http://localhost/a/acme")
    with app.app_context():
        try:
            return plain_client_credentials.answer(environ, route, pairs)
        finally:
            db.session.rollback()
