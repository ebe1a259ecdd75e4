"""POST /api/v1/users/password-reset: a portal's staff send a reset link (issue #4)."""

from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.helpers import make_tenant, make_user
from tests.mail.support import deliver, link_in
from tests.oauth.helpers import RP, make_rp
from tests.oauth.helpers import client_credentials_token as _token

# Every flow here mails through a real SMTP server on 127.0.0.1 (tests/conftest.py).
pytestmark = pytest.mark.usefixtures("smtp_mailbox")




@pytest.fixture
def portal(app: Flask) -> RP:
    tenant = make_tenant()
    make_user(tenant)
    return make_rp(tenant, grant_types=["client_credentials"], scope="users:write users:read", redirect_uris=[])


def _reset(client: FlaskClient, prefix: str, token: str | None, body: object):  # type: ignore[no-untyped-def]
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return client.post(f"{prefix}/api/v1/users/password-reset", json=body, headers=headers)


def test_a_portal_with_users_write_sends_a_reset_link(app: Flask, client: FlaskClient, portal: RP) -> None:
    response = _reset(client, portal.prefix, _token(client, portal, "users:write"), {"email": " Coach@Example.com "})
    assert response.status_code == 202
    messages = deliver(app)
    assert [m["To"] for m in messages] == ["coach@example.com"]
    assert link_in(messages[0]).startswith("http://localhost/a/acme/reset-password/")


def test_the_scope_is_checked(client: FlaskClient, portal: RP) -> None:
    response = _reset(client, portal.prefix, _token(client, portal, "users:read"), {"email": "coach@example.com"})
    assert response.status_code == 403 and response.get_json()["error"] == "insufficient_scope"


@pytest.mark.parametrize("token", [None, "", "not-a-token", "a.b.c"])
def test_a_token_is_required(client: FlaskClient, portal: RP, token: str | None) -> None:
    response = _reset(client, portal.prefix, token, {"email": "coach@example.com"})
    assert response.status_code == 401 and response.get_json()["error"] == "invalid_token"


def test_a_token_from_another_tenant_is_refused(app: Flask, client: FlaskClient, portal: RP) -> None:
    other = make_tenant("other", "Other Swim")
    make_user(other)
    other_portal = make_rp(other, grant_types=["client_credentials"], scope="users:write", redirect_uris=[])
    foreign = _token(client, other_portal, "users:write")
    assert _reset(client, portal.prefix, foreign, {"email": "coach@example.com"}).status_code == 401
    assert deliver(app) == []


def test_a_revoked_token_is_refused(client: FlaskClient, portal: RP) -> None:
    token = _token(client, portal, "users:write")
    client.post(f"{portal.prefix}/revoke", data={"token": token}, headers=portal.basic)
    assert _reset(client, portal.prefix, token, {"email": "coach@example.com"}).status_code == 401


@pytest.mark.parametrize("body", [None, [], {"email": 5}, {"email": ""}, {"email": "x" * 400},
                                  {"email": "not an address"}, {"email": "coach@example.com", "pool": "admins"},
                                  {"email": "\ud800@example.com"}, {"email": "coach@example.com\udcff"}])
def test_bad_bodies_are_400(client: FlaskClient, portal: RP, body: object) -> None:
    response = _reset(client, portal.prefix, _token(client, portal, "users:write"), body)
    assert response.status_code == 400 and response.get_json()["error"] == "invalid_request"


def test_unknown_address_is_404_and_sends_nothing(app: Flask, client: FlaskClient, portal: RP) -> None:
    response = _reset(client, portal.prefix, _token(client, portal, "users:write"), {"email": "nobody@example.com"})
    assert response.status_code == 404
    assert deliver(app) == []


def test_no_mail_bombing_through_the_api(app: Flask, client: FlaskClient, portal: RP) -> None:
    token = _token(client, portal, "users:write")
    statuses = [_reset(client, portal.prefix, token, {"email": "coach@example.com"}).status_code for _ in range(6)]
    assert statuses[:3] == [202, 202, 202] and statuses[-1] == 429
    assert len(deliver(app)) == 3
