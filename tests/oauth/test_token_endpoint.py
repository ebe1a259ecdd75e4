"""The token endpoint's WSGI front (idp/oauth/token_endpoint.py): which requests it takes, that its
answers are the view's, and that bad input gets the same 400-class answers as everywhere else.

Every other token test (test_token.py, test_isolation.py, the e2e relying party) goes through the
front too: the test client posts plain forms."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from idp.db import db
from idp.sessions.models import BrowserSession
from idp.signing.models import SigningKey
from idp.tenancy.models import Tenant
from idp.web.headers import EVERY_RESPONSE
from tests.helpers import make_tenant, make_user, sign_in
from tests.oauth.helpers import RP, make_rp

CC = {"grant_type": "client_credentials", "scope": "users:read"}


@pytest.fixture
def tenant(app: Flask) -> Tenant:
    return make_tenant()


@pytest.fixture
def service(tenant: Tenant) -> RP:
    return make_rp(tenant, grant_types=["client_credentials"], scope="users:read", redirect_uris=[])


def _answer(response: Any) -> tuple[int, dict[str, Any], dict[str, str]]:
    body = response.get_json()
    headers = {name: response.headers.get(name, "") for name in ("Content-Type", "Cache-Control", "Pragma")}
    return response.status_code, {k: v for k, v in body.items() if k != "access_token"}, headers


@pytest.mark.parametrize("form, auth", [
    (CC, True),  # issued
    (CC, False),  # invalid_client
    ({"grant_type": "password", "username": "a", "password": "b"}, True),  # unsupported_grant_type
    ({"grant_type": "refresh_token", "refresh_token": "nope"}, True),  # unauthorized_client (no such grant)
    ({"grant_type": "client_credentials", "scope": "users:write"}, True),  # invalid_scope
])
def test_the_front_answers_as_the_view_does(client: FlaskClient, service: RP, form: dict[str, str],
                                            auth: bool) -> None:
    """A query string makes the front hand the request on to Flask's view: both must agree."""
    headers = service.basic if auth else {}
    front = client.post(f"{service.prefix}/token", data=form, headers=headers)
    view = client.post(f"{service.prefix}/token?via=view", data=form, headers=headers)
    assert _answer(front) == _answer(view)
    assert front.headers["Cache-Control"] == "no-store"


def test_front_responses_carry_the_security_headers(client: FlaskClient, service: RP) -> None:
    response = client.post(f"{service.prefix}/token", data=CC, headers=service.basic)
    assert response.status_code == 200
    for name, value in EVERY_RESPONSE:
        assert response.headers[name] == value
    assert "Set-Cookie" not in response.headers


@pytest.mark.parametrize("body", [
    "grant_type=client_credentials&scope=users%3Aread&scope=users%3Awrite",
    "grant_type=client_credentials&grant_type=client_credentials",
])
def test_a_repeated_parameter_is_refused_by_both_doors(client: FlaskClient, service: RP, body: str) -> None:
    """RFC 6749 §3.2: parameters must not be included more than once (Authlib would read the first)."""
    headers = {**service.basic, "Content-Type": "application/x-www-form-urlencoded"}
    for path in (f"{service.prefix}/token", f"{service.prefix}/token?via=view"):
        refused = client.post(path, data=body, headers=headers)
        assert refused.status_code == 400, path
        assert refused.get_json()["error"] == "invalid_request"
        assert "more than once" in refused.get_json()["error_description"]


@pytest.mark.parametrize("extra", [
    {"client_secret": "anything"},
    {"client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer", "client_assertion": "a.b.c"},
])
def test_a_client_authenticating_two_ways_is_refused(client: FlaskClient, service: RP, extra: dict[str, str]) -> None:
    """RFC 6749 §2.3: one authentication method per request, even when one of them is right."""
    form = {**CC, "client_id": service.client_id, **extra}
    for path in (f"{service.prefix}/token", f"{service.prefix}/token?via=view"):
        refused = client.post(path, data=form, headers=service.basic)
        assert refused.status_code == 400, path
        assert refused.get_json()["error"] == "invalid_request"
    assert client.post(f"{service.prefix}/token", data={**CC, "client_id": service.client_id},
                       headers=service.basic).status_code == 200, "naming itself in the form is not a second way"


@pytest.mark.parametrize("body, content_type, status", [
    (b"grant_type=client_credentials&scope=\xff\xfe", "application/x-www-form-urlencoded", 400),  # not UTF-8
    (b'{"grant_type": "client_credentials"}', "application/json", 400),
    (b"grant_type=client_credentials&" + b"x=" + b"a" * 70_000, "application/x-www-form-urlencoded", 413),
    (b"&".join(b"k%d=v" % i for i in range(200)), "application/x-www-form-urlencoded", 400),
])
def test_bad_token_requests_get_a_json_400_class_answer(client: FlaskClient, service: RP, body: bytes,
                                                        content_type: str, status: int) -> None:
    response = client.post(f"{service.prefix}/token", data=body,
                           headers={**service.basic, "Content-Type": content_type})
    assert response.status_code == status
    assert response.is_json and "error" in response.get_json()


def test_an_unknown_account_gets_the_not_found_page(client: FlaskClient, service: RP) -> None:
    response = client.post("/a/nobody-here/token", data=CC, headers=service.basic)
    assert response.status_code == 404


def test_a_token_request_does_not_renew_a_browser_session(app: Flask, client: FlaskClient, tenant: Tenant,
                                                         service: RP) -> None:
    """A token request is a relying party's back end at work, not the person: a session cookie
    that comes along is not read (the view's hooks would have renewed the session)."""
    make_user(tenant)
    sign_in(client)
    session = BrowserSession.query.one()
    seen = session.last_seen_at
    app.extensions["idp.clock"].advance(timedelta(minutes=30))
    assert client.post(f"{service.prefix}/token", data=CC, headers=service.basic).status_code == 200
    db.session.expire_all()
    assert BrowserSession.query.one().last_seen_at == seen


def test_an_unexpected_failure_is_a_json_500_without_internals(client: FlaskClient, service: RP,
                                                               caplog: pytest.LogCaptureFixture) -> None:
    for key in SigningKey.query.all():
        key.private_sealed = "not a sealed key"
    db.session.commit()
    with caplog.at_level(logging.ERROR):
        response = client.post(f"{service.prefix}/token", data=CC, headers=service.basic)
    assert response.status_code == 500 and response.get_json() == {"error": "server_error"}
    assert "unhandled error" in caplog.text and "binascii.Error" in caplog.text, "the log has it all"
