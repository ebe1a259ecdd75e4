"""RP-initiated logout (OIDC RP-Initiated Logout 1.0) and back-channel logout (OIDC Back-Channel Logout 1.0)."""

from __future__ import annotations

import html
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from flask import Flask
from flask.testing import FlaskClient
from joserfc import jws, jwt
from joserfc.jwk import KeySet
from sqlalchemy import select

from idp.db import db
from idp.oauth.backchannel import EVENT, FIRST_RETRY, deliver_due
from idp.oauth.models import LogoutDelivery
from idp.tenancy.models import Tenant
from tests.helpers import csrf_from, make_tenant, make_user
from tests.oauth.helpers import RP, exchange, get_code, make_rp

LOGGED_OUT = "https://rp.example/logged-out"
_HIDDEN = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)"')


@dataclass
class Signed:
    rp: RP
    tokens: dict[str, Any]

    @property
    def id_token(self) -> str:
        return str(self.tokens["id_token"])


def _sign_in_rp(client: FlaskClient, rp: RP, *, signed_in: bool = False) -> Signed:
    response = exchange(client, rp, *get_code(client, rp, signed_in=signed_in))
    assert response.status_code == 200, response.get_json()
    return Signed(rp, response.get_json())


def _form(page: str) -> dict[str, str]:
    """The hidden fields of the confirmation form (CSRF token included)."""
    return {name: html.unescape(value) for name, value in _HIDDEN.findall(page)}


def _is_signed_in(client: FlaskClient, prefix: str = "/a/acme") -> bool:
    return client.get(f"{prefix}/signed-in").status_code == 200


def _refresh(client: FlaskClient, rp: RP, refresh_token: str) -> Any:
    return client.post(f"{rp.prefix}/token", data={"grant_type": "refresh_token", "refresh_token": refresh_token},
                       headers=rp.basic)


def _userinfo(client: FlaskClient, rp: RP, access_token: str) -> int:
    return client.get(f"{rp.prefix}/userinfo", headers={"Authorization": f"Bearer {access_token}"}).status_code


def _claims(client: FlaskClient, token: str, prefix: str = "/a/acme") -> dict[str, Any]:
    keys = KeySet.import_key_set(client.get(f"{prefix}/jwks").get_json())
    return dict(jwt.decode(token, keys, algorithms=["RS256", "ES256"]).claims)


@pytest.fixture
def tenant(app: Flask) -> Tenant:
    tenant = make_tenant()
    make_user(tenant, name="Casey Coach")
    return tenant


@pytest.fixture
def signed(client: FlaskClient, tenant: Tenant) -> Signed:
    return _sign_in_rp(client, make_rp(tenant, post_logout_redirect_uris=[LOGGED_OUT]))


# RP-initiated logout


def test_get_shows_a_confirmation_and_changes_nothing(client: FlaskClient, signed: Signed) -> None:
    response = client.get("/a/acme/end-session", query_string={
        "id_token_hint": signed.id_token, "post_logout_redirect_uri": LOGGED_OUT, "state": "bye-1",
    })
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "Log out" in page
    fields = _form(page)
    assert fields["post_logout_redirect_uri"] == LOGGED_OUT
    assert fields["state"] == "bye-1"
    assert fields["client_id"] == signed.rp.client_id
    assert "Location" not in response.headers
    assert _is_signed_in(client), "GET must never end the session"
    assert _userinfo(client, signed.rp, signed.tokens["access_token"]) == 200


def test_confirming_ends_the_session_and_returns_to_the_registered_uri(client: FlaskClient, signed: Signed) -> None:
    page = client.get("/a/acme/end-session", query_string={
        "id_token_hint": signed.id_token, "post_logout_redirect_uri": LOGGED_OUT, "state": "bye 2&x",
    }).get_data(as_text=True)
    response = client.post("/a/acme/end-session/confirm", data=_form(page))
    assert response.status_code in (302, 303)
    location = urlsplit(response.headers["Location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == LOGGED_OUT
    assert parse_qs(location.query) == {"state": ["bye 2&x"]}
    assert not _is_signed_in(client)
    refreshed = _refresh(client, signed.rp, signed.tokens["refresh_token"])
    assert refreshed.status_code == 400 and refreshed.get_json()["error"] == "invalid_grant"
    assert _userinfo(client, signed.rp, signed.tokens["access_token"]) == 401


def test_without_state_the_redirect_has_no_state(client: FlaskClient, signed: Signed) -> None:
    page = client.get("/a/acme/end-session", query_string={
        "id_token_hint": signed.id_token, "post_logout_redirect_uri": LOGGED_OUT,
    }).get_data(as_text=True)
    response = client.post("/a/acme/end-session/confirm", data=_form(page))
    assert response.headers["Location"] == LOGGED_OUT


def test_post_to_end_session_also_only_asks(client: FlaskClient, signed: Signed) -> None:
    response = client.post("/a/acme/end-session", data={
        "id_token_hint": signed.id_token, "post_logout_redirect_uri": LOGGED_OUT, "state": "s",
    })
    assert response.status_code == 200
    assert _form(response.get_data(as_text=True))["post_logout_redirect_uri"] == LOGGED_OUT
    assert _is_signed_in(client)


def test_an_expired_hint_still_identifies_the_client(app: Flask, client: FlaskClient, signed: Signed) -> None:
    app.extensions["idp.clock"].advance(timedelta(minutes=59))  # session still alive; ID token near expiry
    client.get("/a/acme/signed-in")
    app.extensions["idp.clock"].advance(timedelta(minutes=30))  # ID token expired
    page = client.get("/a/acme/end-session", query_string={
        "id_token_hint": signed.id_token, "post_logout_redirect_uri": LOGGED_OUT,
    })
    assert page.status_code == 200
    assert _form(page.get_data(as_text=True))["post_logout_redirect_uri"] == LOGGED_OUT


def test_unregistered_post_logout_uri_is_never_a_redirect(client: FlaskClient, signed: Signed) -> None:
    evil = "https://evil.example/phish"
    response = client.get("/a/acme/end-session", query_string={
        "id_token_hint": signed.id_token, "post_logout_redirect_uri": evil, "state": "s",
    })
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert evil not in page
    assert "post_logout_redirect_uri" not in _form(page)
    response = client.post("/a/acme/end-session/confirm", data=_form(page))
    assert urlsplit(response.headers["Location"]).path == "/a/acme/signed-out"
    assert not _is_signed_in(client)
    assert "You are signed out" in client.get("/a/acme/signed-out").get_data(as_text=True)


def test_a_forged_confirm_form_cannot_redirect_to_an_unregistered_uri(client: FlaskClient, signed: Signed) -> None:
    page = client.get("/a/acme/end-session", query_string={"id_token_hint": signed.id_token}).get_data(as_text=True)
    form = _form(page) | {"post_logout_redirect_uri": "https://evil.example/", "state": "s"}
    response = client.post("/a/acme/end-session/confirm", data=form)
    assert urlsplit(response.headers["Location"]).path == "/a/acme/signed-out"
    assert "evil.example" not in response.headers["Location"]


def test_without_a_hint_a_confirmation_then_signed_out_never_a_redirect(client: FlaskClient, signed: Signed) -> None:
    response = client.get("/a/acme/end-session", query_string={
        "client_id": signed.rp.client_id, "post_logout_redirect_uri": LOGGED_OUT, "state": "s",
    })
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "post_logout_redirect_uri" not in _form(page) and LOGGED_OUT not in page
    assert _is_signed_in(client)
    response = client.post("/a/acme/end-session/confirm", data=_form(page))
    assert response.status_code in (302, 303)
    assert urlsplit(response.headers["Location"]).path == "/a/acme/signed-out"
    assert not _is_signed_in(client)


def test_bare_end_session_signs_out(client: FlaskClient, signed: Signed) -> None:
    page = client.get("/a/acme/end-session")
    assert page.status_code == 200
    response = client.post("/a/acme/end-session/confirm", data=_form(page.get_data(as_text=True)))
    assert urlsplit(response.headers["Location"]).path == "/a/acme/signed-out"
    assert not _is_signed_in(client)


def test_confirm_needs_the_csrf_token(client: FlaskClient, signed: Signed) -> None:
    page = client.get("/a/acme/end-session", query_string={
        "id_token_hint": signed.id_token, "post_logout_redirect_uri": LOGGED_OUT,
    }).get_data(as_text=True)
    form = {k: v for k, v in _form(page).items() if k != "csrf_token"}
    response = client.post("/a/acme/end-session/confirm", data=form)
    assert response.status_code == 400
    assert _is_signed_in(client), "a cross-site POST must not log anyone out"


def _tampered(token: str) -> str:
    header, payload, signature = token.split(".")
    flipped = ("A" if signature[5] != "A" else "B")
    return ".".join([header, payload, signature[:5] + flipped + signature[6:]])


def test_a_tampered_hint_is_refused(client: FlaskClient, signed: Signed) -> None:
    for hint in (_tampered(signed.id_token), "not-a-jwt", "a.b.c"):
        response = client.get("/a/acme/end-session", query_string={
            "id_token_hint": hint, "post_logout_redirect_uri": LOGGED_OUT, "state": "s",
        })
        assert response.status_code == 400, hint
        assert "Location" not in response.headers
        assert "<form" not in response.get_data(as_text=True)
    assert _is_signed_in(client)


def test_a_hint_from_another_tenant_is_refused(client: FlaskClient, tenant: Tenant, signed: Signed) -> None:
    other = make_tenant("other", "Other Studio")
    make_user(other)
    foreign = _sign_in_rp(client, make_rp(other, post_logout_redirect_uris=[LOGGED_OUT]))
    response = client.get("/a/acme/end-session", query_string={
        "id_token_hint": foreign.id_token, "post_logout_redirect_uri": LOGGED_OUT,
    })
    assert response.status_code == 400
    # The same hint at its own tenant is fine: the refusal is about the tenant, not the token.
    assert client.get("/a/other/end-session", query_string={"id_token_hint": foreign.id_token}).status_code == 200


def test_a_client_id_that_is_not_the_hints_audience_is_refused(
    client: FlaskClient, tenant: Tenant, signed: Signed
) -> None:
    someone_else = make_rp(tenant, post_logout_redirect_uris=[LOGGED_OUT])
    response = client.get("/a/acme/end-session", query_string={
        "id_token_hint": signed.id_token, "client_id": someone_else.client_id,
        "post_logout_redirect_uri": LOGGED_OUT,
    })
    assert response.status_code == 400
    matching = client.get("/a/acme/end-session", query_string={
        "id_token_hint": signed.id_token, "client_id": signed.rp.client_id, "post_logout_redirect_uri": LOGGED_OUT,
    })
    assert matching.status_code == 200
    assert _form(matching.get_data(as_text=True))["post_logout_redirect_uri"] == LOGGED_OUT


def test_logout_revokes_every_grant_of_the_session(client: FlaskClient, tenant: Tenant) -> None:
    first = _sign_in_rp(client, make_rp(tenant))
    second = _sign_in_rp(client, make_rp(tenant), signed_in=True)
    assert _claims(client, first.id_token)["sid"] == _claims(client, second.id_token)["sid"]
    page = client.get("/a/acme/logout").get_data(as_text=True)
    client.post("/a/acme/logout", data={"csrf_token": csrf_from(page)})
    for signed in (first, second):
        assert _refresh(client, signed.rp, signed.tokens["refresh_token"]).get_json()["error"] == "invalid_grant"
        assert _userinfo(client, signed.rp, signed.tokens["access_token"]) == 401


# Back-channel logout


@dataclass
class RelyingPartyServer:
    """A real HTTP server standing in for the relying party's back-channel logout endpoint."""

    server: HTTPServer
    status: int = 200
    received: list[dict[str, Any]] = field(default_factory=list)
    thread: threading.Thread | None = None

    @property
    def uri(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/backchannel-logout"

    def start(self) -> None:
        self.server.server_activate()
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()


@pytest.fixture
def rp_server() -> Iterator[RelyingPartyServer]:
    """Bound but not listening until `start()`: connections are refused until then (the RP is down)."""
    holder: dict[str, RelyingPartyServer] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            length = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(length).decode()
            rp = holder["rp"]
            rp.received.append({"path": self.path, "content_type": self.headers.get("Content-Type"),
                                "form": parse_qs(body)})
            self.send_response(rp.status)
            self.send_header("Cache-Control", "no-store")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - silence the test output
            return

    server = HTTPServer(("127.0.0.1", 0), Handler, bind_and_activate=False)
    server.server_bind()
    rp = holder["rp"] = RelyingPartyServer(server)
    yield rp
    if rp.thread is not None:
        server.shutdown()
        rp.thread.join(timeout=5)
    server.server_close()


def _logout(client: FlaskClient, prefix: str = "/a/acme") -> None:
    page = client.get(f"{prefix}/logout").get_data(as_text=True)
    response = client.post(f"{prefix}/logout", data={"csrf_token": csrf_from(page)})
    assert response.status_code == 303
    assert not _is_signed_in(client, prefix)


def _deliveries() -> list[LogoutDelivery]:
    db.session.expire_all()
    return list(db.session.execute(select(LogoutDelivery)).scalars())


def _check_logout_token(client: FlaskClient, token: str, signed: Signed, now: datetime | None = None) -> dict[str, Any]:
    """A valid logout token (§2.4), checked as the relying party would at `now` (the app's clock)."""
    header = dict(jws.extract_compact(token.encode()).protected)
    assert header["typ"] == "logout+jwt"
    claims = _claims(client, token)  # signature checked against the tenant's JWKS
    id_token = _claims(client, signed.id_token)
    assert claims["iss"] == signed.rp.issuer == id_token["iss"]
    aud = claims["aud"]
    assert aud == signed.rp.client_id or aud == [signed.rp.client_id]
    assert claims["sid"] == id_token["sid"]
    assert claims["sub"] == id_token["sub"]
    assert EVENT == "http://schemas.openid.net/event/backchannel-logout"
    assert claims["events"] == {EVENT: {}}
    assert "nonce" not in claims
    assert claims["jti"] and claims["iat"] and claims["exp"] > claims["iat"]
    at = (now or client.application.extensions["idp.clock"].now()).timestamp()
    assert claims["iat"] <= at + 30 and claims["exp"] > at, "not expired when it arrives"
    return claims


def test_logout_posts_a_logout_token_to_the_relying_party(
    client: FlaskClient, tenant: Tenant, rp_server: RelyingPartyServer
) -> None:
    rp_server.start()
    signed = _sign_in_rp(client, make_rp(tenant, backchannel_logout_uri=rp_server.uri))
    assert deliver_due() == 0 and rp_server.received == [], "nothing is sent before logging out"
    _logout(client)
    assert deliver_due() == 1
    [post] = rp_server.received
    assert post["path"] == "/backchannel-logout"
    assert post["content_type"] == "application/x-www-form-urlencoded"
    [token] = post["form"]["logout_token"]
    _check_logout_token(client, token, signed)
    [delivery] = _deliveries()
    assert delivery.delivered_at is not None and delivery.attempts == 1
    assert deliver_due() == 0 and len(rp_server.received) == 1, "delivered once"


def test_end_session_confirm_also_notifies_the_relying_party(
    client: FlaskClient, tenant: Tenant, rp_server: RelyingPartyServer
) -> None:
    rp_server.start()
    rp = make_rp(tenant, backchannel_logout_uri=rp_server.uri, post_logout_redirect_uris=[LOGGED_OUT])
    signed = _sign_in_rp(client, rp)
    quiet = _sign_in_rp(client, make_rp(tenant), signed_in=True)  # no back-channel URI: not notified
    page = client.get("/a/acme/end-session", query_string={
        "id_token_hint": signed.id_token, "post_logout_redirect_uri": LOGGED_OUT,
    }).get_data(as_text=True)
    client.post("/a/acme/end-session/confirm", data=_form(page))
    assert deliver_due() == 1
    [post] = rp_server.received
    _check_logout_token(client, post["form"]["logout_token"][0], signed)
    assert [d.client_pk for d in _deliveries()] != [] and len(_deliveries()) == 1
    assert _refresh(client, quiet.rp, quiet.tokens["refresh_token"]).get_json()["error"] == "invalid_grant"


def test_only_the_ended_session_is_notified(app: Flask, tenant: Tenant, rp_server: RelyingPartyServer) -> None:
    """The same person in two browsers: logging out of one leaves the other's session and grant alone."""
    rp_server.start()
    rp = make_rp(tenant, backchannel_logout_uri=rp_server.uri)
    laptop, phone = app.test_client(), app.test_client()
    on_laptop = _sign_in_rp(laptop, rp)
    on_phone = _sign_in_rp(phone, rp)
    assert _claims(laptop, on_laptop.id_token)["sid"] != _claims(phone, on_phone.id_token)["sid"]
    _logout(laptop)
    assert deliver_due() == 1
    [post] = rp_server.received
    _check_logout_token(laptop, post["form"]["logout_token"][0], on_laptop)
    assert _is_signed_in(phone)
    assert _refresh(phone, rp, on_phone.tokens["refresh_token"]).status_code == 200


def test_a_relying_party_that_is_down_gets_the_token_later(
    app: Flask, client: FlaskClient, tenant: Tenant, rp_server: RelyingPartyServer
) -> None:
    signed = _sign_in_rp(client, make_rp(tenant, backchannel_logout_uri=rp_server.uri))
    _logout(client)
    assert deliver_due() == 0  # connection refused: the RP is down
    [delivery] = _deliveries()
    assert delivery.delivered_at is None and delivery.attempts == 1 and delivery.last_error
    first_retry = delivery.next_attempt_at
    now = app.extensions["idp.clock"].now()
    assert _aware(first_retry) > now, "a retry is scheduled, not hammered"
    assert deliver_due() == 0 and _deliveries()[0].attempts == 1, "not retried before it is due"

    rp_server.start()
    assert deliver_due() == 0 and rp_server.received == [], "still waiting for next_attempt_at"
    app.extensions["idp.clock"].advance(FIRST_RETRY + timedelta(seconds=1))
    assert deliver_due() == 1
    [post] = rp_server.received
    _check_logout_token(client, post["form"]["logout_token"][0], signed)
    [delivery] = _deliveries()
    assert delivery.delivered_at is not None and delivery.attempts == 2


def test_an_rp_answering_500_is_retried_with_backoff(
    app: Flask, client: FlaskClient, tenant: Tenant, rp_server: RelyingPartyServer
) -> None:
    clock = app.extensions["idp.clock"]
    rp_server.status = 500
    rp_server.start()
    signed = _sign_in_rp(client, make_rp(tenant, backchannel_logout_uri=rp_server.uri))
    _logout(client)
    assert deliver_due() == 0
    [delivery] = _deliveries()
    assert delivery.attempts == 1 and "500" in (delivery.last_error or "")
    first_wait = _aware(delivery.next_attempt_at) - clock.now()

    clock.advance(first_wait + timedelta(seconds=1))
    assert deliver_due() == 0
    [delivery] = _deliveries()
    assert delivery.attempts == 2
    second_wait = _aware(delivery.next_attempt_at) - clock.now()
    assert second_wait > first_wait, "exponential backoff"

    rp_server.status = 200
    clock.advance(second_wait + timedelta(seconds=1))
    assert deliver_due() == 1
    assert len(rp_server.received) == 3
    tokens = [p["form"]["logout_token"][0] for p in rp_server.received]
    assert len({_claims(client, token)["jti"] for token in tokens}) == 3, "each attempt signs a fresh token"
    _check_logout_token(client, tokens[-1], signed)


def test_a_retry_after_a_long_outage_sends_a_token_that_has_not_expired(
    app: Flask, client: FlaskClient, tenant: Tenant, rp_server: RelyingPartyServer
) -> None:
    signed = _sign_in_rp(client, make_rp(tenant, backchannel_logout_uri=rp_server.uri))
    _logout(client)
    assert deliver_due() == 0  # the RP is down
    rp_server.start()
    app.extensions["idp.clock"].advance(timedelta(hours=6))  # far beyond the token's 2 minutes
    assert deliver_due() == 1
    claims = _check_logout_token(client, rp_server.received[0]["form"]["logout_token"][0], signed)
    assert claims["iat"] >= int(app.extensions["idp.clock"].now().timestamp()) - 5


def test_the_queue_survives_a_new_process(
    app: Flask, client: FlaskClient, tenant: Tenant, rp_server: RelyingPartyServer, config: Any
) -> None:
    """Queued notices live in the database: another app (another process) delivers them."""
    from idp.app import create_app

    signed = _sign_in_rp(client, make_rp(tenant, backchannel_logout_uri=rp_server.uri))
    _logout(client)
    assert deliver_due() == 0
    rp_server.start()
    other = create_app(config, TESTING=True)
    other.extensions["idp.clock"].advance(timedelta(hours=1))
    with other.app_context():
        assert deliver_due() == 1
        db.session.remove()
        db.engine.dispose()
    _check_logout_token(client, rp_server.received[0]["form"]["logout_token"][0], signed,
                        now=other.extensions["idp.clock"].now())


def _aware(value: Any) -> Any:
    from datetime import UTC

    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def test_a_new_sign_in_in_the_same_browser_logs_the_previous_session_out(
    client: FlaskClient, tenant: Tenant, rp_server: RelyingPartyServer
) -> None:
    """The shared front-desk PC: the next person signing in ends the previous person's grants
    and the relying parties hear of it, as if they had pressed "Log out"."""
    from tests.helpers import sign_in
    from tests.oauth.helpers import authorize, pkce, query_of

    rp_server.start()
    previous = _sign_in_rp(client, make_rp(tenant, backchannel_logout_uri=rp_server.uri))
    make_user(tenant, email="next@example.com")
    asked = authorize(client, previous.rp, prompt="login", code_challenge=pkce()[1], code_challenge_method="S256")
    request_id = query_of(asked.headers["Location"])["request"]
    signed_in = sign_in(client, email="next@example.com", query_string={"request": request_id},
                        extra_form={"request": request_id})
    assert signed_in.status_code == 303
    assert _is_signed_in(client)
    assert _refresh(client, previous.rp, previous.tokens["refresh_token"]).get_json()["error"] == "invalid_grant"
    assert _userinfo(client, previous.rp, previous.tokens["access_token"]) == 401
    assert deliver_due() == 1
    [post] = rp_server.received
    _check_logout_token(client, post["form"]["logout_token"][0], previous)


def test_the_same_person_signing_in_again_keeps_the_session_and_its_grants(
    app: Flask, client: FlaskClient, tenant: Tenant, rp_server: RelyingPartyServer
) -> None:
    """prompt=login or max_age at one portal re-authenticates the person; their other portals
    keep working, and nothing is logged out."""
    from datetime import timedelta

    from tests.helpers import sign_in
    from tests.oauth.helpers import authorize, pkce, query_of

    rp_server.start()
    office = _sign_in_rp(client, make_rp(tenant, backchannel_logout_uri=rp_server.uri))
    first = _claims(client, office.id_token)
    app.extensions["idp.clock"].advance(timedelta(minutes=5))
    staff = make_rp(tenant, backchannel_logout_uri=rp_server.uri)
    asked = authorize(client, staff, prompt="login", code_challenge=pkce()[1], code_challenge_method="S256")
    request_id = query_of(asked.headers["Location"])["request"]
    again = sign_in(client, query_string={"request": request_id}, extra_form={"request": request_id})
    assert again.status_code == 303
    renewed = _refresh(client, office.rp, office.tokens["refresh_token"])
    assert renewed.status_code == 200, renewed.get_json()
    second = _claims(client, renewed.get_json()["id_token"])
    assert second["sid"] == first["sid"], "the same session"
    assert db.session.execute(select(LogoutDelivery)).first() is None, "no relying party was told to log out"
    assert _is_signed_in(client)
