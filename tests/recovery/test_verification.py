"""Email verification: link lifetime, renewing an expired link, the email_verified claim, and the
limits on resending. Every message goes through a real SMTP server on 127.0.0.1."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from joserfc import jwt
from joserfc.jwk import KeySet

from idp.accounts.models import User
from idp.db import db
from tests.accounts.link_flows import press_button
from tests.helpers import csrf_from, make_tenant, make_user, sign_in
from tests.mail.support import deliver, last_link
from tests.oauth.helpers import RP, exchange, get_code, make_rp

pytestmark = pytest.mark.usefixtures("smtp_mailbox")


def send_verification(client: FlaskClient, **kwargs: Any):  # type: ignore[no-untyped-def]
    page = client.get("/a/acme/signed-in", **kwargs).get_data(as_text=True)
    return client.post("/a/acme/verify-email", data={"csrf_token": csrf_from(page)}, **kwargs)


def verification_link(app: Flask, client: FlaskClient) -> str:
    sign_in(client)
    assert send_verification(client).status_code == 200
    link = last_link(app)
    assert "/verify-email/" in link
    return link


def travel(app: Flask, delta: timedelta) -> None:
    app.extensions["idp.clock"].advance(delta)


def is_verified(user: User) -> bool:
    db.session.expire_all()
    found = db.session.get(User, user.id)
    assert found is not None
    return found.email_verified


def test_a_verification_link_lives_24_hours_by_default(app: Flask, client: FlaskClient) -> None:
    tenant = make_tenant()
    assert tenant.verify_link_seconds == 24 * 3600
    make_user(tenant)
    link = verification_link(app, client)
    assert "for 1 day" in deliver(app)[-1].get_body(("plain",)).get_content()  # type: ignore[union-attr]
    travel(app, timedelta(hours=24) - timedelta(seconds=1))
    assert app.test_client().get(link).status_code == 200
    travel(app, timedelta(seconds=1))
    expired = app.test_client().get(link)
    assert expired.status_code == 410
    assert "This link has expired" in expired.get_data(as_text=True)


def test_an_expired_verification_link_offers_a_new_one(app: Flask, client: FlaskClient) -> None:
    user = make_user(make_tenant())
    link = verification_link(app, client)
    travel(app, timedelta(hours=24))
    device = app.test_client()  # the person's phone: no session there
    page = device.get(link)
    html = page.get_data(as_text=True)
    assert page.status_code == 410 and 'id="send-new-link"' in html
    sent = device.post(f"{link}/new-link", data={"csrf_token": csrf_from(html)})
    assert sent.status_code == 200 and "c••••@example.com" in sent.get_data(as_text=True)
    renewed = last_link(app)
    assert "/verify-email/" in renewed and renewed != link
    press_button(app.test_client(), renewed)
    assert is_verified(user)


def test_a_new_link_for_an_address_verified_since_says_so_and_sends_nothing(app: Flask, client: FlaskClient) -> None:
    user = make_user(make_tenant())
    link = verification_link(app, client)
    travel(app, timedelta(hours=24))
    device = app.test_client()
    page = device.get(link)
    assert page.status_code == 410
    user = db.session.get(User, user.id)  # verified meanwhile, e.g. by a password reset
    assert user is not None
    user.email_verified = True
    db.session.commit()
    mails = len(deliver(app))
    response = device.post(f"{link}/new-link", data={"csrf_token": csrf_from(page.get_data(as_text=True))})
    assert response.status_code == 200
    assert "This address is already verified" in response.get_data(as_text=True)
    assert len(deliver(app)) == mails, "no verification mail for a verified address"


def _verify_token(client: FlaskClient, rp: RP, token: str) -> dict[str, Any]:
    keys = KeySet.import_key_set(client.get(f"{rp.prefix}/jwks").get_json())
    return dict(jwt.decode(token, keys, algorithms=["RS256", "ES256"]).claims)


def _claims(client: FlaskClient, rp: RP, *, signed_in: bool) -> tuple[bool, bool]:
    """email_verified in a fresh ID token and in userinfo."""
    tokens = exchange(client, rp, *get_code(client, rp, signed_in=signed_in)).get_json()
    info = client.get(f"{rp.prefix}/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"})
    return _verify_token(client, rp, tokens["id_token"])["email_verified"], info.get_json()["email_verified"]


def test_email_verified_turns_true_in_the_id_token_and_userinfo(app: Flask, client: FlaskClient) -> None:
    tenant = make_tenant()
    make_user(tenant)
    rp = make_rp(tenant)
    assert _claims(client, rp, signed_in=False) == (False, False)
    assert send_verification(client).status_code == 200
    press_button(app.test_client(), last_link(app))  # opened on another device
    assert _claims(client, rp, signed_in=True) == (True, True)


def test_resending_verification_is_limited_per_ip(app: Flask, client: FlaskClient) -> None:
    tenant = make_tenant()
    office = {"REMOTE_ADDR": "203.0.113.20"}
    browsers = []
    for number in range(7):
        make_user(tenant, email=f"staff{number}@example.com")
        browser = app.test_client()
        assert sign_in(browser, email=f"staff{number}@example.com", environ_base=office).status_code == 303
        browsers.append(browser)
    # Three each to six addresses, two to the seventh: twenty from one IP, none over its address limit.
    for number, browser in enumerate(browsers):
        for _ in range(3 if number < 6 else 2):
            assert send_verification(browser, environ_base=office).status_code == 200
    refused = send_verification(browsers[6], environ_base=office)
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) > 0
    assert "check your inbox" in refused.get_data(as_text=True)
    assert send_verification(browsers[6], environ_base={"REMOTE_ADDR": "198.51.100.9"}).status_code == 200
    assert len(deliver(app)) == 21
