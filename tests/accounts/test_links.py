"""Emailed links: safe to open any number of times, usable once, by POST, from any browser."""

from __future__ import annotations

from datetime import timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from idp.accounts.link_models import VERIFY_EMAIL, AccountLink
from idp.accounts.links import issue_link
from idp.accounts.models import User
from idp.db import db
from idp.sessions.models import BrowserSession
from tests.accounts.link_flows import NEW_PASSWORD, forgot_password, press_button, reset_link, set_password
from tests.helpers import PASSWORD, csrf_from, make_tenant, make_user, sign_in
from tests.mail.support import deliver, last_link, text_of

# Every flow here mails through a real SMTP server on 127.0.0.1 (tests/conftest.py).
pytestmark = pytest.mark.usefixtures("smtp_mailbox")


def fresh(app: Flask) -> FlaskClient:
    """A browser that has never seen this site: another device, no cookies (the iPad case)."""
    client = app.test_client()
    assert client.get_cookie("portcullis_csrf", path="/a/acme") is None
    return client


def reload(user: User) -> User:
    db.session.expire_all()
    found = db.session.get(User, user.id)
    assert found is not None
    return found


def link_rows() -> list[AccountLink]:
    db.session.expire_all()
    return list(db.session.scalars(select(AccountLink)))


def test_reset_link_survives_scanners_then_works_in_a_fresh_browser(app: Flask, client: FlaskClient) -> None:
    tenant = make_tenant()
    user = make_user(tenant)
    link = reset_link(app, client)
    scanner = app.test_client()
    for _ in range(3):
        assert scanner.get(link).status_code == 200
        assert scanner.head(link).status_code == 200
        assert client.get(link).status_code == 200
    assert [row.used_at for row in link_rows()] == [None], "opening a link must not use it up"
    assert reload(user).password_changed_at == user.password_changed_at

    response = set_password(fresh(app), link)
    assert response.status_code == 200
    assert "Your password is set" in response.get_data(as_text=True)
    assert sign_in(fresh(app), password=NEW_PASSWORD).status_code == 303
    assert sign_in(fresh(app), password=PASSWORD).status_code == 401


def test_a_link_works_once(app: Flask, client: FlaskClient) -> None:
    make_user(make_tenant())
    link = reset_link(app, client)
    assert set_password(client, link).status_code == 200
    again = client.get(link)
    assert again.status_code == 410
    assert "already been used" in again.get_data(as_text=True)
    page = client.get("/a/acme/forgot-password")
    replay = client.post(link, data={"csrf_token": csrf_from(page.get_data(as_text=True)),
                                     "password": "another fine passphrase",
                                     "confirm_password": "another fine passphrase"})
    assert replay.status_code == 410
    assert sign_in(fresh(app), password=NEW_PASSWORD).status_code == 303


def test_a_link_of_tenant_a_is_refused_at_tenant_b(app: Flask, client: FlaskClient) -> None:
    make_user(make_tenant())
    other = make_tenant("other", "Other Gym")
    make_user(other)
    link = reset_link(app, client)
    at_b = link.replace("/a/acme/", "/a/other/")
    assert client.get(at_b).status_code == 404
    page = client.get("/a/other/forgot-password")
    post = client.post(at_b, data={"csrf_token": csrf_from(page.get_data(as_text=True)),
                                   "password": NEW_PASSWORD, "confirm_password": NEW_PASSWORD})
    assert post.status_code == 404
    assert set_password(client, link).status_code == 200, "still good where it belongs"


def test_a_verification_token_cannot_reset_a_password(app: Flask, client: FlaskClient) -> None:
    tenant = make_tenant()
    user = make_user(tenant)
    with app.test_request_context("/"):
        verify = issue_link(tenant, user, VERIFY_EMAIL)
    db.session.commit()
    token = verify.rsplit("/", 1)[1]
    for path in ("reset-password", "set-password"):
        assert client.get(f"/a/acme/{path}/{token}").status_code == 404
    page = client.get("/a/acme/forgot-password")
    post = client.post(f"/a/acme/reset-password/{token}", data={
        "csrf_token": csrf_from(page.get_data(as_text=True)), "password": NEW_PASSWORD,
        "confirm_password": NEW_PASSWORD})
    assert post.status_code == 404
    assert sign_in(fresh(app)).status_code == 303, "the password did not change"


def test_an_expired_link_offers_a_new_one(app: Flask, client: FlaskClient) -> None:
    make_user(make_tenant())
    link = reset_link(app, client)
    app.extensions["idp.clock"].advance(timedelta(hours=1, seconds=1))
    page = client.get(link)
    assert page.status_code == 410
    html = page.get_data(as_text=True)
    assert "This link has expired" in html and 'id="send-new-link"' in html
    assert "coach@example.com" not in html

    sent = client.post(f"{link}/new-link", data={"csrf_token": csrf_from(html)})
    assert sent.status_code == 200
    assert "c••••@example.com" in sent.get_data(as_text=True)
    new_link = last_link(app, to="coach@example.com")
    assert new_link != link
    assert set_password(fresh(app), new_link).status_code == 200


def test_an_unexpired_link_cannot_ask_for_another(app: Flask, client: FlaskClient) -> None:
    make_user(make_tenant())
    link = reset_link(app, client)
    page = client.get(link)
    response = client.post(f"{link}/new-link", data={"csrf_token": csrf_from(page.get_data(as_text=True))})
    assert response.status_code == 303
    assert response.headers["Location"] == link.removeprefix("http://localhost")
    assert len(deliver(app)) == 1, "no second mail"


def test_link_lifetime_is_a_tenant_setting(app: Flask, client: FlaskClient) -> None:
    make_user(make_tenant(reset_link_seconds=600))
    link = reset_link(app, client)
    app.extensions["idp.clock"].advance(timedelta(minutes=9))
    assert client.get(link).status_code == 200
    app.extensions["idp.clock"].advance(timedelta(minutes=1))
    assert client.get(link).status_code == 410


def test_reset_verifies_the_email_ends_sessions_and_sends_a_notice(app: Flask, client: FlaskClient) -> None:
    tenant = make_tenant()
    user = make_user(tenant)
    assert not user.email_verified
    signed_in_elsewhere = app.test_client()
    assert sign_in(signed_in_elsewhere, stay=True).status_code == 303
    link = reset_link(app, client)
    assert set_password(fresh(app), link).status_code == 200
    assert reload(user).email_verified
    assert signed_in_elsewhere.get("/a/acme/signed-in").status_code == 302, "the old session is over"
    db.session.expire_all()
    assert all(s.ended_at is not None for s in db.session.scalars(select(BrowserSession)))
    notice = deliver(app)[-1]
    assert notice["Subject"] == "Your Acme Swim School password was changed"
    assert "was changed" in text_of(notice)


def test_a_new_reset_retires_older_links(app: Flask, client: FlaskClient) -> None:
    make_user(make_tenant())
    first = reset_link(app, client)
    second = reset_link(app, client)
    assert set_password(client, second).status_code == 200
    assert client.get(first).status_code == 410


def test_invited_staff_set_their_password_through_the_same_path(app: Flask, client: FlaskClient) -> None:
    tenant = make_tenant()
    user = make_user(tenant, email="new@example.com", password=None)
    link = reset_link(app, client, "new@example.com")
    assert "/set-password/" in link
    [invitation] = deliver(app)
    assert invitation["Subject"] == "Set your Acme Swim School password"
    page = fresh(app).get(link)
    assert "Set your password" in page.get_data(as_text=True)
    assert set_password(fresh(app), link).status_code == 200
    assert reload(user).email_verified
    assert sign_in(fresh(app), email="new@example.com", password=NEW_PASSWORD).status_code == 303
    assert len(deliver(app)) == 1, "no 'password changed' notice for a first password"


@pytest.mark.parametrize(
    ("password", "confirm", "message"),
    [
        ("short one", None, "at least 12 characters"),
        ("password1234", None, "most common"),
        ("qwertyuiop12", None, "most common"),
        ("aaaaaaaaaaaaaaaa", None, "most common"),
        ("coach@example.com", None, "cannot be your email"),
        ("", None, "Enter a new password"),
        (NEW_PASSWORD, "something else entirely", "do not match"),
    ],
)
def test_weak_passwords_are_refused_and_the_link_stays_usable(
    app: Flask, client: FlaskClient, password: str, confirm: str | None, message: str,
) -> None:
    make_user(make_tenant())
    link = reset_link(app, client)
    response = set_password(client, link, password, confirm)
    assert response.status_code == 400
    assert message in response.get_data(as_text=True)
    assert set_password(client, link).status_code == 200


@pytest.mark.parametrize(
    "token",
    ["x" * 500, "%C3%A9t%C3%A9", "%FF%FE", "<script>alert(1)</script>", "..%2F..%2Flogin", "a b"],
)
def test_malformed_tokens_get_a_page_not_an_error(app: Flask, client: FlaskClient, token: str) -> None:
    make_tenant()
    for path in ("reset-password", "set-password", "verify-email"):
        response = client.get(f"/a/acme/{path}/{token}")
        assert response.status_code in (404, 410), (path, token, response.status_code)
        assert "<script>alert" not in response.get_data(as_text=True)


def test_huge_and_undecodable_passwords_are_400(app: Flask, client: FlaskClient) -> None:
    make_user(make_tenant())
    link = reset_link(app, client)
    page = client.get(link)
    token = csrf_from(page.get_data(as_text=True))
    huge = client.post(link, data={"csrf_token": token, "password": "x" * 2000, "confirm_password": "x" * 2000})
    assert huge.status_code == 400
    raw = f"csrf_token={token}&password=\xff\xfeabcdefghijklmnop&confirm_password=\xff\xfeabcdefghijklmnop"
    undecodable = client.post(link, data=raw.encode("latin-1"), content_type="application/x-www-form-urlencoded")
    assert undecodable.status_code == 400
    too_large = client.post(link, data={"csrf_token": token, "password": "x" * 100_000})
    assert too_large.status_code == 413
    assert set_password(client, link).status_code == 200


# Email verification -------------------------------------------------------------------------


def send_verification(client: FlaskClient) -> None:
    page = client.get("/a/acme/signed-in")
    html = page.get_data(as_text=True)
    assert 'id="send-verification"' in html
    response = client.post("/a/acme/verify-email", data={"csrf_token": csrf_from(html)})
    assert response.status_code == 200, response.get_data(as_text=True)


def test_verification_notice_disappears_in_every_session(app: Flask, client: FlaskClient) -> None:
    tenant = make_tenant()
    user = make_user(tenant)
    other = app.test_client()
    sign_in(client)
    sign_in(other)
    assert 'id="email-notice"' in other.get("/a/acme/signed-in").get_data(as_text=True)
    send_verification(client)
    link = last_link(app)
    assert "/verify-email/" in link
    scanner = app.test_client()
    for _ in range(3):
        assert scanner.get(link).status_code == 200
        assert scanner.head(link).status_code == 200
    assert not reload(user).email_verified, "opening the link verifies nothing"
    done = press_button(fresh(app), link)
    assert "Your email address is confirmed" in done.get_data(as_text=True)
    assert reload(user).email_verified
    for session in (client, other):
        assert 'id="email-notice"' not in session.get("/a/acme/signed-in").get_data(as_text=True)


def test_a_used_verification_link_says_already_verified(app: Flask, client: FlaskClient) -> None:
    make_user(make_tenant())
    sign_in(client)
    send_verification(client)
    link = last_link(app)
    press_button(fresh(app), link)
    for response in (fresh(app).get(link), client.get(link)):
        assert response.status_code == 200
        assert "This address is already verified" in response.get_data(as_text=True)


def test_an_already_verified_user_sees_no_notice_and_cannot_resend(app: Flask, client: FlaskClient) -> None:
    make_user(make_tenant(), email_verified=True)
    sign_in(client)
    page = client.get("/a/acme/signed-in").get_data(as_text=True)
    assert 'id="email-notice"' not in page
    response = client.post("/a/acme/verify-email", data={"csrf_token": csrf_from(page)})
    assert response.status_code == 303
    assert deliver(app) == []


def test_resending_verification_is_throttled(app: Flask, client: FlaskClient) -> None:
    make_user(make_tenant())
    sign_in(client)
    for _ in range(3):
        send_verification(client)
    page = client.get("/a/acme/signed-in").get_data(as_text=True)
    response = client.post("/a/acme/verify-email", data={"csrf_token": csrf_from(page)})
    assert response.status_code == 429
    assert "check your inbox" in response.get_data(as_text=True)
    assert int(response.headers["Retry-After"]) > 0
    assert len(deliver(app)) == 3


def test_verification_link_for_a_changed_address_does_not_verify_the_new_one(app: Flask, client: FlaskClient) -> None:
    tenant = make_tenant()
    user = make_user(tenant)
    sign_in(client)
    send_verification(client)
    link = last_link(app)
    user = reload(user)
    user.email, user.email_normalized = "new@example.com", "new@example.com"
    db.session.commit()
    assert fresh(app).get(link).status_code == 404
    assert not reload(user).email_verified


def test_an_expired_invitation_is_renewed_as_an_invitation(app: Flask, client: FlaskClient) -> None:
    make_user(make_tenant(), email="new@example.com", password=None)
    link = reset_link(app, client, "new@example.com")
    app.extensions["idp.clock"].advance(timedelta(days=7, seconds=1))
    page = client.get(link)
    assert page.status_code == 410
    sent = client.post(f"{link}/new-link", data={"csrf_token": csrf_from(page.get_data(as_text=True))})
    assert sent.status_code == 200
    renewed = last_link(app, to="new@example.com")
    assert "/set-password/" in renewed and renewed != link
    assert set_password(fresh(app), renewed).status_code == 200


def test_an_invitation_link_survives_scanners_then_works_by_post(app: Flask, client: FlaskClient) -> None:
    user = make_user(make_tenant(), email="new@example.com", password=None)
    link = reset_link(app, client, "new@example.com")
    assert "/set-password/" in link
    scanner = app.test_client()
    for _ in range(3):
        assert scanner.get(link).status_code == 200
        assert scanner.head(link).status_code == 200
        assert fresh(app).get(link).status_code == 200
    assert [row.used_at for row in link_rows()] == [None], "opening an invitation must not use it up"
    assert reload(user).password_hash is None and not reload(user).email_verified
    assert set_password(fresh(app), link).status_code == 200
    assert reload(user).email_verified
    assert sign_in(fresh(app), email="new@example.com", password=NEW_PASSWORD).status_code == 303


def test_only_a_hash_of_a_link_token_is_stored(app: Flask, client: FlaskClient) -> None:
    from idp.mail.models import OutboxMessage

    make_user(make_tenant())
    forgot = forgot_password(client, "coach@example.com")
    assert forgot.status_code == 200
    db.session.expire_all()
    [queued] = db.session.scalars(select(OutboxMessage))
    link = last_link(app, to="coach@example.com")
    token = link.rsplit("/", 1)[1]
    assert len(token) >= 43, "256 bits, base64url"
    [row] = link_rows()
    stored = [str(getattr(row, column.key)) for column in AccountLink.__table__.columns]
    assert all(token not in value for value in stored), "the raw token is nowhere in account_links"
    assert row.token_hash != token and len(row.token_hash) >= 43
    assert token not in (queued.payload_sealed or ""), "the queued mail is sealed at rest"


def test_asking_for_new_links_is_throttled(app: Flask, client: FlaskClient) -> None:
    make_user(make_tenant(reset_link_seconds=300))  # expired well inside the limit's quiet hour
    link = reset_link(app, client)  # the first of three mails the address may get at once
    app.extensions["idp.clock"].advance(timedelta(minutes=5))
    page = client.get(link)
    assert page.status_code == 410
    token = csrf_from(page.get_data(as_text=True))
    for _ in range(2):
        assert client.post(f"{link}/new-link", data={"csrf_token": token}).status_code == 200
    refused = client.post(f"{link}/new-link", data={"csrf_token": token})
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) > 0
    assert "check your inbox" in refused.get_data(as_text=True)
    assert 'id="send-new-link"' in refused.get_data(as_text=True), "the button stays for later"
    assert len(deliver(app)) == 3, "no mail-bombing through an old link"
