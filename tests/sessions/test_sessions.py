"""Browser sessions through the pages: idle timeout (by time travel), "Stay logged in", log out,
per-tenant cookies and their flags."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from idp.clock import Clock
from idp.config import Config
from idp.db import db
from idp.sessions.models import BrowserSession
from idp.sessions.web import COOKIE_NAME
from tests.helpers import PASSWORD, csrf_from, make_tenant, make_user, sign_in


@pytest.fixture
def config(config: Config, request: pytest.FixtureRequest) -> Config:
    """The shared config; `parametrize("config", [URL], indirect=True)` serves from another public URL."""
    public_url = getattr(request, "param", None)
    return replace(config, public_url=public_url) if public_url else config


HTTPS = pytest.mark.parametrize("config", ["https://localhost"], indirect=True)


def travel(app: Flask, delta: timedelta) -> None:
    clock: Clock = app.extensions["idp.clock"]
    clock.advance(delta)


def session_cookie(response) -> str:  # type: ignore[no-untyped-def]
    """The Set-Cookie header for the session cookie."""
    headers = [h for h in response.headers.getlist("Set-Cookie") if h.startswith(COOKIE_NAME + "=")]
    assert len(headers) == 1, response.headers.getlist("Set-Cookie")
    return headers[0]


def attributes(set_cookie: str) -> dict[str, str]:
    parts = [p.strip() for p in set_cookie.split(";")[1:]]
    return {k.lower(): v for k, _, v in (p.partition("=") for p in parts)}


def cookie_value(client: FlaskClient, path: str = "/a/acme", domain: str = "localhost") -> str:
    cookie = client.get_cookie(COOKIE_NAME, domain=domain, path=path)
    assert cookie is not None, f"no session cookie for {domain}{path}"
    return cookie.value


def signed_in(client: FlaskClient, prefix: str = "/a/acme", **kwargs) -> bool:  # type: ignore[no-untyped-def]
    response = client.get(f"{prefix}/signed-in", **kwargs)
    assert response.status_code in (200, 302)
    return response.status_code == 200


def log_out(client: FlaskClient, prefix: str = "/a/acme", **kwargs):  # type: ignore[no-untyped-def]
    page = client.get(f"{prefix}/logout", **kwargs)
    return client.post(f"{prefix}/logout", data={"csrf_token": csrf_from(page.get_data(as_text=True))}, **kwargs)


def only_session() -> BrowserSession:
    db.session.expire_all()
    return db.session.execute(select(BrowserSession)).scalar_one()


# -- idle timeout ---------------------------------------------------------------------------------


def test_activity_keeps_the_session_alive_and_renews_it(app, client: FlaskClient) -> None:
    make_user(make_tenant())
    assert sign_in(client).status_code == 303
    started = only_session().last_seen_at
    for _ in range(4):  # four hours of someone active every 59 minutes
        travel(app, timedelta(minutes=59))
        assert signed_in(client), "59 minutes after the last request the session is alive"
    renewed = only_session().last_seen_at
    assert renewed - started >= timedelta(minutes=4 * 59) - timedelta(seconds=5)


def test_idle_session_ends_after_an_hour(app, client: FlaskClient) -> None:
    make_user(make_tenant())
    sign_in(client)
    travel(app, timedelta(minutes=30))
    assert signed_in(client)
    travel(app, timedelta(minutes=61))
    assert not signed_in(client)
    redirect = client.get("/a/acme/signed-in")
    assert redirect.headers["Location"].endswith("/a/acme/login")


def test_requests_within_the_touch_interval_still_count(app, client: FlaskClient) -> None:
    """Renewal is batched per minute: a minute of slack, never more."""
    make_user(make_tenant())
    sign_in(client)
    travel(app, timedelta(seconds=30))
    assert signed_in(client)
    # 59:30 after sign-in: the travelled clock still runs in real time, so leave the slow machine
    # half a minute (it was one second, and a busy CI host took longer between two requests)
    travel(app, timedelta(minutes=59))
    assert signed_in(client)
    travel(app, timedelta(minutes=61))
    assert not signed_in(client)


def test_tenant_idle_timeout_is_honoured(app, client: FlaskClient) -> None:
    make_user(make_tenant(idle_timeout_seconds=600))
    sign_in(client)
    travel(app, timedelta(minutes=9))
    assert signed_in(client)
    travel(app, timedelta(minutes=11))
    assert not signed_in(client)


def test_longer_tenant_idle_timeout_is_honoured(app, client: FlaskClient) -> None:
    make_user(make_tenant(idle_timeout_seconds=4 * 3600))
    sign_in(client)
    travel(app, timedelta(hours=3))
    assert signed_in(client)
    travel(app, timedelta(hours=4, minutes=1))
    assert not signed_in(client)


# -- "Stay logged in" -----------------------------------------------------------------------------


def test_stay_logged_in_survives_idle_time_and_has_a_lasting_cookie(app, client: FlaskClient) -> None:
    make_user(make_tenant())
    response = sign_in(client, stay=True)
    attrs = attributes(session_cookie(response))
    assert int(attrs["max-age"]) == 90 * 86400
    assert "expires" in attrs
    travel(app, timedelta(hours=5))
    assert signed_in(client)
    travel(app, timedelta(days=30))
    assert signed_in(client)
    assert only_session().persistent


def test_stay_logged_in_ends_at_the_tenant_maximum(app, client: FlaskClient) -> None:
    make_user(make_tenant(persistent_session_days=7))
    response = sign_in(client, stay=True)
    assert int(attributes(session_cookie(response))["max-age"]) == 7 * 86400
    travel(app, timedelta(days=6, hours=23))
    assert signed_in(client)
    travel(app, timedelta(hours=2))
    assert not signed_in(client)


def test_normal_session_cookie_is_a_browser_session_cookie(app, client: FlaskClient) -> None:
    make_user(make_tenant())
    response = sign_in(client)
    attrs = attributes(session_cookie(response))
    assert "max-age" not in attrs and "expires" not in attrs
    assert not only_session().persistent


@pytest.mark.parametrize("value", [None, "", "off", "0"])
def test_stay_logged_in_needs_the_box_ticked(app, client: FlaskClient, value: str | None) -> None:
    make_user(make_tenant())
    page = client.get("/a/acme/login")
    form = {"csrf_token": csrf_from(page.get_data(as_text=True)), "email": "coach@example.com",
            "password": PASSWORD}
    if value is not None:
        form["stay_logged_in"] = value
    response = client.post("/a/acme/login", data=form)
    assert response.status_code == 303
    assert "max-age" not in attributes(session_cookie(response))
    travel(app, timedelta(hours=2))
    assert not signed_in(client)


# -- log out --------------------------------------------------------------------------------------


def test_log_out_ends_the_session_on_the_server(app, client: FlaskClient) -> None:
    make_user(make_tenant())
    sign_in(client, stay=True)
    old_value = cookie_value(client)
    response = log_out(client)
    assert response.status_code == 303
    cleared = attributes(session_cookie(response))
    assert cleared.get("max-age") == "0" or "1970" in cleared.get("expires", "")
    assert cleared["path"] == "/a/acme"
    assert not signed_in(client)
    assert only_session().ended_at is not None
    replay = app.test_client()
    replay.set_cookie(COOKIE_NAME, old_value, domain="localhost", path="/a/acme")
    assert not signed_in(replay), "a logged-out session's cookie must not work when replayed"


def test_signing_in_again_replaces_the_previous_session(app, client: FlaskClient) -> None:
    make_user(make_tenant())
    sign_in(client)
    first = cookie_value(client)
    token = csrf_from(client.get("/a/acme/signed-in").get_data(as_text=True))
    again = client.post("/a/acme/login", data={"csrf_token": token, "email": "coach@example.com", "password": PASSWORD})
    assert again.status_code == 303
    second = cookie_value(client)
    assert first != second, "a new sign-in gets a new session id"
    replay = app.test_client()
    replay.set_cookie(COOKIE_NAME, first, domain="localhost", path="/a/acme")
    assert not signed_in(replay)


def test_cookie_carries_only_a_random_id(app, client: FlaskClient) -> None:
    user = make_user(make_tenant())
    sign_in(client)
    value = cookie_value(client)
    row = only_session()
    assert len(value) >= 40
    assert value not in (row.id, row.token_hash, user.id, user.sub)
    assert user.email not in value


@pytest.mark.parametrize("value", ["", "garbage", "x" * 129, "x" * 4000, "../../etc", "' OR 1=1 --"])
def test_unknown_cookie_values_mean_signed_out(app, client: FlaskClient, value: str) -> None:
    make_user(make_tenant())
    client.set_cookie(COOKIE_NAME, value, domain="localhost", path="/a/acme")
    response = client.get("/a/acme/signed-in")
    assert response.status_code == 302


# -- cookies per tenant ---------------------------------------------------------------------------


def two_tenants_signed_in(client: FlaskClient) -> None:
    make_user(make_tenant("acme", "Acme Swim School"))
    make_user(make_tenant("beta", "Beta Dance"))
    assert sign_in(client, prefix="/a/acme").status_code == 303
    assert sign_in(client, prefix="/a/beta").status_code == 303


def test_cookie_is_scoped_to_the_tenant_path(app, client: FlaskClient) -> None:
    make_user(make_tenant())
    attrs = attributes(session_cookie(sign_in(client)))
    assert attrs["path"] == "/a/acme"


def test_two_tenants_keep_separate_sessions(app, client: FlaskClient) -> None:
    two_tenants_signed_in(client)
    assert cookie_value(client, "/a/acme") != cookie_value(client, "/a/beta")
    assert signed_in(client, "/a/acme") and signed_in(client, "/a/beta")
    assert log_out(client, "/a/acme").status_code == 303
    assert not signed_in(client, "/a/acme")
    assert signed_in(client, "/a/beta"), "signing out of one tenant leaves the other signed in"


def test_idle_timeout_is_per_tenant(app, client: FlaskClient) -> None:
    make_user(make_tenant("acme", "Acme Swim School", idle_timeout_seconds=600))
    make_user(make_tenant("beta", "Beta Dance"))
    sign_in(client, prefix="/a/acme")
    sign_in(client, prefix="/a/beta")
    travel(app, timedelta(minutes=15))
    assert not signed_in(client, "/a/acme")
    assert signed_in(client, "/a/beta")


def test_cookie_of_one_tenant_is_worthless_at_another(app, client: FlaskClient) -> None:
    make_user(make_tenant("acme", "Acme Swim School"))
    make_tenant("beta", "Beta Dance")
    sign_in(client, prefix="/a/acme")
    stolen = cookie_value(client, "/a/acme")
    client.set_cookie(COOKIE_NAME, stolen, domain="localhost", path="/a/beta")
    assert not signed_in(client, "/a/beta")
    other = app.test_client()
    other.set_cookie(COOKIE_NAME, stolen, domain="beta.localhost", path="/")
    assert not signed_in(other, "", base_url="http://beta.localhost")
    assert signed_in(client, "/a/acme"), "the rightful tenant still accepts it"


def test_host_form_cookie_is_scoped_to_the_tenant_host(app, client: FlaskClient) -> None:
    make_user(make_tenant())
    make_tenant("beta", "Beta Dance")
    response = sign_in(client, prefix="", base_url="http://acme.localhost")
    attrs = attributes(session_cookie(response))
    assert attrs["path"] == "/"
    assert "domain" not in attrs, "a host-only cookie: never shared with sibling tenant hosts"
    assert signed_in(client, "", base_url="http://acme.localhost")
    assert not signed_in(client, "", base_url="http://beta.localhost")


# -- cookie flags ---------------------------------------------------------------------------------


def test_session_cookie_flags_over_http(app, client: FlaskClient) -> None:
    make_user(make_tenant())
    header = session_cookie(sign_in(client))
    attrs = attributes(header)
    assert "httponly" in attrs
    assert attrs["samesite"] == "Lax"
    assert "secure" not in attrs, "a Secure cookie would never come back over plain http"


@HTTPS
@pytest.mark.parametrize("base_url", ["https://localhost", "https://acme.localhost"])
def test_session_cookie_flags_over_https(app, client: FlaskClient, base_url: str) -> None:
    make_user(make_tenant())
    prefix = "/a/acme" if base_url == "https://localhost" else ""
    response = sign_in(client, prefix=prefix, base_url=base_url)
    assert response.status_code == 303
    attrs = attributes(session_cookie(response))
    assert "secure" in attrs and "httponly" in attrs
    assert attrs["samesite"] == "Lax"
    assert attrs["path"] == (prefix or "/")
    cleared = attributes(session_cookie(log_out(client, prefix, base_url=base_url)))
    assert "secure" in cleared and "httponly" in cleared


@HTTPS
def test_every_cookie_is_secure_when_the_public_url_is_https(app, client: FlaskClient) -> None:
    """The CSRF cookie of a fresh page as well as the session's: IDP_PUBLIC_URL https means Secure."""
    make_user(make_tenant())
    page = client.get("/a/acme/sign-in", base_url="https://localhost")
    signed_in = sign_in(client, prefix="/a/acme", base_url="https://localhost")
    cookies = page.headers.getlist("Set-Cookie") + signed_in.headers.getlist("Set-Cookie")
    assert len(cookies) >= 2
    assert all("secure" in attributes(cookie) for cookie in cookies), cookies
