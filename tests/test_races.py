"""Races: N identical requests at once to every state-changing endpoint give exactly one effect
and no 5xx, on SQLite and PostgreSQL.

Each request runs on its own thread with its own test client, app context, database session and
connection, released together by a barrier, so the database sees them interleaved as it would
from several workers. (Python's GIL serializes the Python parts; the database round trips, where
these races live, overlap.)
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from idp.accounts.link_models import AccountLink
from idp.accounts.links import RESET_PASSWORD, VERIFY_EMAIL, issue_link
from idp.accounts.models import User
from idp.db import db
from idp.mfa.models import SecondFactor
from idp.oauth.models import Client, RevokedAccessToken
from idp.oauth.registration import create_initial_access_token
from idp.policies.models import PolicyAcceptance
from idp.policies.service import publish
from idp.sessions.web import COOKIE_NAME as SESSION_COOKIE
from idp.tenancy.models import Tenant
from idp.unit_of_work import unit_of_work
from idp.web.csrf import COOKIE_NAME as CSRF_COOKIE
from tests.helpers import PASSWORD, csrf_from, make_tenant, make_user, sign_in
from tests.login.pipeline_support import secret_from, totp_code
from tests.oauth.helpers import RP, client_credentials_token, exchange, get_code, make_rp

N = 8
Send = Callable[[FlaskClient], Any]


def at_once(app: Flask, send: Send, n: int = N, browser: FlaskClient | None = None) -> list[Any]:
    """Run `send` on n threads, each with its own client (holding `browser`'s cookies, if given),
    released together; their responses."""
    barrier = threading.Barrier(n)
    responses: list[Any] = [None] * n
    failures: list[BaseException] = []
    cookies = browser_cookies(browser) if browser is not None else []

    def run(i: int) -> None:
        client = app.test_client()
        for name, value in cookies:
            client.set_cookie(name, value, domain="localhost", path="/a/acme")
        try:
            barrier.wait(timeout=30)
            responses[i] = send(client)
        except BaseException as error:  # noqa: BLE001 - reported below, with the others
            failures.append(error)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not failures, failures
    statuses = [r.status_code for r in responses]
    assert all(status < 500 for status in statuses), [(r.status_code, r.get_data(as_text=True)[:300])
                                                      for r in responses if r.status_code >= 500]
    db.session.expire_all()
    return responses


def statuses(responses: list[Any]) -> Counter[int]:
    return Counter(r.status_code for r in responses)


def browser_cookies(client: FlaskClient, prefix: str = "/a/acme") -> list[tuple[str, str]]:
    """A browser's CSRF and session cookies, for every thread's own client to send."""
    found = [client.get_cookie(name, domain="localhost", path=prefix) for name in (CSRF_COOKIE, SESSION_COOKIE)]
    return [(cookie.key, cookie.value) for cookie in found if cookie is not None]


def count(model: type[Any], *where: Any) -> int:
    return int(db.session.execute(select(func.count()).select_from(model).where(*where)).scalar_one())


@pytest.fixture
def tenant(app: Flask) -> Tenant:
    tenant = make_tenant(second_factor_policy="optional")
    make_user(tenant, email_verified=True)
    return tenant


@pytest.fixture
def rp(tenant: Tenant) -> RP:
    return make_rp(tenant)


@pytest.fixture
def admin(tenant: Tenant) -> RP:
    return make_rp(tenant, grant_types=["client_credentials"], redirect_uris=[], scope="users:read users:write")


def test_one_code_redeemed_at_once_gives_one_token(app: Flask, client: FlaskClient, rp: RP) -> None:
    code, verifier = get_code(client, rp)
    responses = at_once(app, lambda c: exchange(c, rp, code, verifier))
    assert statuses(responses)[200] == 1, statuses(responses)
    assert {r.get_json()["error"] for r in responses if r.status_code != 200} == {"invalid_grant"}


def test_one_refresh_token_spent_at_once_gives_one_new_pair(app: Flask, client: FlaskClient, rp: RP) -> None:
    tokens = exchange(client, rp, *get_code(client, rp, scope="openid offline_access")).get_json()
    form = {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]}
    responses = at_once(app, lambda c: c.post("/a/acme/token", data=form, headers=rp.basic))
    assert statuses(responses)[200] == 1, statuses(responses)
    assert {r.get_json()["error"] for r in responses if r.status_code != 200} == {"invalid_grant"}


def test_one_access_token_revoked_at_once_is_revoked_once(app: Flask, client: FlaskClient, rp: RP) -> None:
    """Known case 4 of the hardening issue: one of eight was an IntegrityError, a 500."""
    access = exchange(client, rp, *get_code(client, rp)).get_json()["access_token"]
    responses = at_once(app, lambda c: c.post("/a/acme/revoke", data={"token": access}, headers=rp.basic))
    assert statuses(responses) == Counter({200: N})
    assert count(RevokedAccessToken) == 1
    assert client.get("/a/acme/userinfo", headers={"Authorization": f"Bearer {access}"}).status_code == 401


def test_one_reset_link_used_at_once_sets_the_password_once(app: Flask, client: FlaskClient, tenant: Tenant) -> None:
    user = db.session.execute(select(User)).scalar_one()
    with unit_of_work():
        path = "/a/acme/reset-password/" + issue_link(tenant, user, RESET_PASSWORD).rsplit("/", 1)[1]
    page = client.get(path)
    form = {"csrf_token": csrf_from(page.get_data(as_text=True)), "password": "a new long passphrase",
            "confirm_password": "a new long passphrase"}
    responses = at_once(app, lambda c: c.post(path, data=form), browser=client)
    assert statuses(responses)[200] == 1, statuses(responses)
    assert all(400 <= r.status_code < 500 for r in responses if r.status_code != 200)
    assert count(AccountLink, AccountLink.used_at.is_not(None)) == 1
    assert sign_in(app.test_client(), password="a new long passphrase").status_code == 303


def test_one_verification_link_used_at_once_verifies_once(app: Flask, client: FlaskClient, tenant: Tenant) -> None:
    user = make_user(tenant, email="new@example.com")
    with unit_of_work():
        stored = db.session.get(User, user.id)
        assert stored is not None
        path = "/a/acme/verify-email/" + issue_link(tenant, stored, VERIFY_EMAIL).rsplit("/", 1)[1]
    page = client.get(path)
    form = {"csrf_token": csrf_from(page.get_data(as_text=True))}
    responses = at_once(app, lambda c: c.post(path, data=form), browser=client)
    assert all(r.status_code < 500 for r in responses)
    bodies = [r.get_data(as_text=True) for r in responses if r.status_code == 200]
    assert bodies, statuses(responses)
    assert count(AccountLink, AccountLink.used_at.is_not(None)) == 1
    verified = db.session.get(User, user.id)
    assert verified is not None and verified.email_verified


def test_one_second_factor_confirmed_at_once_is_enrolled_once(app: Flask, client: FlaskClient, tenant: Tenant) -> None:
    sign_in(client)
    page = client.get("/a/acme/second-factor/setup").get_data(as_text=True)
    form = {"csrf_token": csrf_from(page), "code": totp_code(app, secret_from(page))}
    responses = at_once(app, lambda c: c.post("/a/acme/second-factor/enrol", data=form), browser=client)
    assert statuses(responses)[200] == 1, statuses(responses)
    assert count(SecondFactor) == 1


def test_the_same_person_created_at_once_is_created_once(app: Flask, client: FlaskClient, admin: RP) -> None:
    token = client_credentials_token(client, admin, "users:write")
    body = {"email": "twin@example.com", "name": "Twin"}
    responses = at_once(app, lambda c: c.post("/a/acme/api/v1/users", json=body,
                                              headers={"Authorization": f"Bearer {token}"}))
    assert statuses(responses)[201] == 1, statuses(responses)
    assert {r.status_code for r in responses} <= {201, 409}
    assert count(User, User.email == "twin@example.com") == 1


def test_registrations_at_once_each_get_their_own_client(app: Flask, tenant: Tenant) -> None:
    with unit_of_work():
        iat = create_initial_access_token(tenant)
    metadata = {"redirect_uris": ["https://dyn.example/cb"], "client_name": "Twin"}
    responses = at_once(app, lambda c: c.post("/a/acme/register", json=metadata,
                                              headers={"Authorization": f"Bearer {iat}"}))
    assert statuses(responses) == Counter({201: N})
    assert len({r.get_json()["client_id"] for r in responses}) == N
    assert count(Client, Client.tenant_id == tenant.id, Client.registration_token_hash.is_not(None)) == N


def test_one_registered_client_deleted_at_once_is_deleted_once(app: Flask, client: FlaskClient,
                                                               tenant: Tenant) -> None:
    with unit_of_work():
        iat = create_initial_access_token(tenant)
    body = client.post("/a/acme/register", json={"redirect_uris": ["https://dyn.example/cb"]},
                       headers={"Authorization": f"Bearer {iat}"}).get_json()
    headers = {"Authorization": f"Bearer {body['registration_access_token']}"}
    responses = at_once(app, lambda c: c.delete(f"/a/acme/register/{body['client_id']}", headers=headers))
    assert statuses(responses) == Counter({204: 1, 401: N - 1})
    assert count(Client, Client.client_id == body["client_id"]) == 0


def test_terms_accepted_at_once_are_accepted_once(app: Flask, client: FlaskClient, tenant: Tenant) -> None:
    with unit_of_work():
        publish("terms", "2026-12", "https://example.com/terms")
    signed_in = sign_in(client)
    assert signed_in.status_code == 303
    page = client.get("/a/acme/policies")
    html = page.get_data(as_text=True)
    assert page.status_code == 200, html[:300]
    import re

    documents = re.findall(r'name="document" value="([^"]+)"', html)
    assert documents
    form = {"csrf_token": csrf_from(html), "document": documents}
    responses = at_once(app, lambda c: c.post("/a/acme/policies/accept", data=form), browser=client)
    assert all(r.status_code < 400 for r in responses), statuses(responses)
    assert count(PolicyAcceptance) == 1


def test_a_password_sign_in_at_once_is_not_a_5xx(app: Flask, client: FlaskClient, tenant: Tenant) -> None:
    """Not one effect (each gets a session) but a race on the throttle's counters and sessions."""
    page = client.get("/a/acme/login")
    form = {"csrf_token": csrf_from(page.get_data(as_text=True)), "email": "coach@example.com", "password": PASSWORD}
    responses = at_once(app, lambda c: c.post("/a/acme/login", data=form), n=4, browser=client)
    assert statuses(responses) == Counter({303: 4})


@pytest.mark.usefixtures("smtp_mailbox")
def test_accepting_one_family_invitation_at_once_makes_one_account_and_one_member(app: Flask) -> None:
    from idp.families.models import FamilyMember
    from tests.families.support import invitation_link, invite, sign_in_to_portal, world

    w = world(app)
    primary = app.test_client()
    sign_in_to_portal(primary, w.portal, w.primary.email)
    invite(primary, "bea@example.com")
    link = invitation_link(app, "bea@example.com")
    fresh = app.test_client()
    token = csrf_from(fresh.get(link).get_data(as_text=True))
    form = {"csrf_token": token, "password": "plum orchard lantern", "confirm_password": "plum orchard lantern"}
    responses = at_once(app, lambda c: c.post(link, data=form), browser=fresh)
    assert statuses(responses)[200] == 1, statuses(responses)
    assert db.session.execute(select(func.count()).select_from(User).where(User.email == "bea@example.com")
                              ).scalar_one() == 1
    assert db.session.execute(select(func.count()).select_from(FamilyMember)).scalar_one() == 1
