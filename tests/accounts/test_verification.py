"""Email verification: link lifetime, renewing an expired link, the email_verified claim, and the
limits on resending. Every message goes through a real SMTP server on 127.0.0.1."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from idp.accounts.models import User
from idp.db import db
from tests.helpers import csrf_from, make_tenant, make_user, sign_in
from tests.mail.support import deliver, last_link

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
