""""Forgot password?": the same answer, in about the same time, whether or not the address exists."""

from __future__ import annotations

import re
import statistics
import time
from datetime import timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.accounts.link_flows import forgot_password
from tests.helpers import csrf_from, make_tenant, make_user
from tests.mail.support import deliver

# Every flow here mails through a real SMTP server on 127.0.0.1 (tests/conftest.py).
pytestmark = pytest.mark.usefixtures("smtp_mailbox")


def page_text(html: str) -> str:
    """The page without its CSRF token, which differs per browser."""
    return html.replace(csrf_from(html), "") if 'name="csrf_token"' in html else html


def test_sign_in_page_links_to_forgot_password(app: Flask, client: FlaskClient) -> None:
    make_tenant()
    html = client.get("/a/acme/login").get_data(as_text=True)
    href = re.search(r'href="([^"]+)" id="forgot-password"', html)
    assert href and href.group(1) == "/a/acme/forgot-password"
    page = client.get(href.group(1))
    assert page.status_code == 200
    assert 'name="email"' in page.get_data(as_text=True)


def test_known_and_unknown_addresses_get_the_same_answer(app: Flask, client: FlaskClient) -> None:
    make_user(make_tenant())
    known = forgot_password(client, "coach@example.com")
    unknown = forgot_password(client, "nobody@example.com")
    assert known.status_code == unknown.status_code == 200
    assert page_text(known.get_data(as_text=True)) == page_text(
        unknown.get_data(as_text=True)).replace("nobody@example.com", "coach@example.com")
    assert [m["To"] for m in deliver(app)] == ["coach@example.com"]


def test_known_and_unknown_addresses_take_about_the_same_time(app: Flask, client: FlaskClient) -> None:
    tenant = make_tenant()
    for number in range(8):
        make_user(tenant, email=f"staff{number}@example.com", password=None)

    def timed(email: str) -> float:
        started = time.perf_counter()
        assert forgot_password(client, email).status_code == 200
        return time.perf_counter() - started

    forgot_password(client, "warm-up@example.com")
    known = [timed(f"staff{n}@example.com") for n in range(8)]
    unknown = [timed(f"nobody{n}@example.com") for n in range(8)]
    # Generous bounds: the point is that mail is queued, not sent, while the person waits.
    assert abs(statistics.median(known) - statistics.median(unknown)) < 0.05


@pytest.mark.parametrize(
    ("email", "message"),
    [
        ("", "Enter the email address"),
        ("   ", "Enter the email address"),
        ("not-an-address", "Enter an email address such as"),
        ("<script>alert(1)</script>", "Enter an email address such as"),
        ("a" * 300 + "@example.com", "Enter an email address such as"),
    ],
)
def test_bad_input_is_a_400_with_a_message(app: Flask, client: FlaskClient, email: str, message: str) -> None:
    make_tenant()
    response = forgot_password(client, email)
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "<script>alert" not in html
    assert message in html


def test_html_in_an_address_is_shown_escaped(app: Flask, client: FlaskClient) -> None:
    make_tenant()
    response = forgot_password(client, "<script>alert(1)</script>@x.example")
    html = response.get_data(as_text=True)
    assert response.status_code == 200, "a valid address by syntax, and no account has it"
    assert "<script>alert" not in html and "&lt;script&gt;" in html


def test_undecodable_and_oversized_bodies_are_400_class(app: Flask, client: FlaskClient) -> None:
    make_tenant()
    token = csrf_from(client.get("/a/acme/forgot-password").get_data(as_text=True))
    raw = f"csrf_token={token}&email=\xff\xfe@example.com".encode("latin-1")
    undecodable = client.post("/a/acme/forgot-password", data=raw, content_type="application/x-www-form-urlencoded")
    assert undecodable.status_code == 400
    huge = client.post("/a/acme/forgot-password", data={"csrf_token": token, "email": "a" * 100_000})
    assert huge.status_code == 413
    no_csrf = client.post("/a/acme/forgot-password", data={"email": "coach@example.com"})
    assert no_csrf.status_code == 400


def test_forgot_password_is_throttled_per_address_without_telling_if_it_exists(
    app: Flask, client: FlaskClient,
) -> None:
    make_user(make_tenant())
    answers = {}
    for email in ("coach@example.com", "nobody@example.com"):
        for _ in range(3):
            assert forgot_password(client, email).status_code == 200
        answers[email] = forgot_password(client, email.upper())
    known, unknown = answers["coach@example.com"], answers["nobody@example.com"]
    assert known.status_code == unknown.status_code == 429
    assert "check your inbox" in known.get_data(as_text=True)
    assert known.headers["Retry-After"] == unknown.headers["Retry-After"]
    assert len(deliver(app)) == 3, "three mails, not four: no mail-bombing"

    app.extensions["idp.clock"].advance(timedelta(seconds=int(known.headers["Retry-After"])))
    assert forgot_password(client, "coach@example.com").status_code == 200
    assert len(deliver(app)) == 4


def test_forgot_password_is_throttled_per_ip(app: Flask, client: FlaskClient) -> None:
    make_tenant()
    for number in range(20):
        assert forgot_password(client, f"person{number}@example.com").status_code == 200
    assert forgot_password(client, "one-more@example.com").status_code == 429
    other_ip = forgot_password(client, "one-more@example.com", environ_base={"REMOTE_ADDR": "192.0.2.7"})
    assert other_ip.status_code == 200


def test_reset_mail_is_branded_and_names_the_lifetime(app: Flask, client: FlaskClient) -> None:
    make_user(make_tenant(), name="Casey Coach")
    forgot_password(client, "Coach@Example.com ")
    [message] = deliver(app)
    assert message["Subject"] == "Reset your Acme Swim School password"
    text = message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "Hello Casey Coach" in text and "1 hour" in text
