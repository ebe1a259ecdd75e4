"""POST /api/v1/users: a portal creates a person (and may invite them); one email per pool."""

from __future__ import annotations

import json

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from idp.accounts.models import User
from idp.db import db
from idp.tenancy.service import get_tenant
from tests.helpers import make_tenant, make_user
from tests.mail.support import deliver, link_in
from tests.oauth.helpers import RP, make_rp
from tests.oauth.helpers import client_credentials_token as token_for

# Every flow here mails through a real SMTP server on 127.0.0.1 (tests/conftest.py).
pytestmark = pytest.mark.usefixtures("smtp_mailbox")

URL = "/a/acme/api/v1/users"




@pytest.fixture
def portal(app: Flask) -> RP:
    return make_rp(make_tenant(), grant_types=["client_credentials"], scope="users:write users:read",
                   redirect_uris=[])


@pytest.fixture
def token(client: FlaskClient, portal: RP) -> str:
    return token_for(client, portal, "users:write")


def create(client: FlaskClient, token: str | None, body: object, url: str = URL):  # type: ignore[no-untyped-def]
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return client.post(url, json=body, headers=headers)


def users() -> list[User]:
    db.session.expire_all()
    return list(db.session.scalars(select(User).order_by(User.created_at)))


def test_a_portal_creates_a_person_without_a_password(app: Flask, client: FlaskClient, token: str) -> None:
    response = create(client, token, {"email": " New.Coach@Example.com ", "name": "New Coach"})
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert body["email"] == "New.Coach@Example.com" and body["name"] == "New Coach" and body["pool"] == "staff"
    assert body["email_verified"] is False and body["invitation_sent"] is False
    [user] = users()
    assert body["sub"] == user.sub and user.password_hash is None
    assert response.headers["Location"] == f"/a/acme/api/v1/users/{user.sub}"
    assert client.get(response.headers["Location"], headers={"Authorization": f"Bearer {token}"}
                      ).get_json()["sub"] == user.sub
    assert deliver(app) == [], "no invitation unless asked"


def test_send_invitation_mails_a_set_password_link(app: Flask, client: FlaskClient, token: str) -> None:
    response = create(client, token, {"email": "parent@example.com", "pool": "customer", "send_invitation": True})
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["invitation_sent"] is True and response.get_json()["pool"] == "customer"
    [message] = deliver(app)
    assert message["To"] == "parent@example.com"
    assert "/a/acme/set-password/" in link_in(message)


def test_an_email_in_use_in_the_pool_is_409_naming_the_account(app: Flask, client: FlaskClient, token: str) -> None:
    existing = make_user(get_tenant("acme"), email="Coach@Example.com", name="Casey Coach")
    response = create(client, token, {"email": "coach@EXAMPLE.com "})
    assert response.status_code == 409
    body = response.get_json()
    assert body["error"] == "conflict"
    assert "already belongs to 'Casey Coach'" in body["error_description"]
    assert existing.sub in body["error_description"]
    assert len(users()) == 1
    other_pool = create(client, token, {"email": "coach@example.com", "pool": "customer"})
    assert other_pool.status_code == 201, "the same email may exist once in each pool"


def test_users_write_is_required(client: FlaskClient, portal: RP) -> None:
    response = create(client, token_for(client, portal, "users:read"), {"email": "new@example.com"})
    assert response.status_code == 403 and response.get_json()["error"] == "insufficient_scope"
    assert create(client, None, {"email": "new@example.com"}).status_code == 401
    assert users() == []


def test_a_token_of_another_tenant_cannot_create_here(app: Flask, client: FlaskClient, portal: RP) -> None:
    other = make_rp(make_tenant("other", "Other Gym"), grant_types=["client_credentials"], scope="users:write",
                    redirect_uris=[])
    foreign = token_for(client, other, "users:write")
    response = create(client, foreign, {"email": "new@example.com"})
    assert response.status_code == 401 and response.get_json()["error"] == "invalid_token"
    assert users() == []
    assert create(client, foreign, {"email": "new@example.com"}, url="/a/other/api/v1/users").status_code == 201


@pytest.mark.parametrize(
    "body",
    [
        None, [], "new@example.com", {}, {"email": 5}, {"email": None}, {"email": ""}, {"email": "not an address"},
        {"email": "x" * 5000 + "@example.com"}, {"email": ["new@example.com"]},
        {"email": "new@example.com", "name": 7}, {"email": "new@example.com", "name": "x" * 250},
        {"email": "new@example.com", "name": "x" * 5000},
        {"email": "new@example.com", "pool": "admins"}, {"email": "new@example.com", "pool": 1},
        {"email": "new@example.com", "send_invitation": "yes"}, {"email": "new@example.com", "send_invitation": 1},
        {"email": "new@example.com", "password": "a long password"},  # not a field of this call
        {"email": "\ud800@example.com"}, {"email": "new@example.com", "name": "Casey \udcff"},
    ],
)
def test_bad_bodies_are_400_json(client: FlaskClient, token: str, body: object) -> None:
    response = create(client, token, body)
    assert response.status_code == 400, response.get_data(as_text=True)
    assert response.get_json()["error"] == "invalid_request"
    assert users() == []


def test_undecodable_and_huge_bodies_are_json_errors(client: FlaskClient, token: str) -> None:
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    not_utf8 = client.post(URL, data=b'{"email": "\xff\xfe@example.com"}', headers=headers)
    assert not_utf8.status_code == 400 and not_utf8.get_json()["error"] == "invalid_request"
    not_json = client.post(URL, data=b"email=new@example.com", headers=headers)
    assert not_json.status_code == 400
    nested = client.post(URL, data="[" * 5000, headers=headers)  # known case 3: was a RecursionError, 500
    assert nested.status_code == 400 and nested.get_json()["error"] == "invalid_request"
    huge = client.post(URL, data=json.dumps({"email": "a@example.com", "name": "x" * 1024 * 1024}), headers=headers)
    assert huge.status_code == 413 and huge.mimetype == "application/json"
    assert users() == []
