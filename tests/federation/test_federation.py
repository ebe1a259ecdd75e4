"""Signing in through Google-, Entra- and OIDC-shaped upstreams (real node-oidc-provider
processes), and the linking rules (docs/decisions/federation-linking.md), on SQLite and
PostgreSQL."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from idp.accounts.models import User
from idp.audit.models import AuditEvent
from idp.db import db
from idp.errors import Conflict, InvalidInput
from idp.federation.connections import NewConnection, add_connection
from idp.federation.models import Connection, FederatedIdentity
from idp.sessions.models import BrowserSession
from idp.tenancy.models import Tenant
from idp.unit_of_work import unit_of_work
from tests.federation.conftest import CLIENT_ID, CLIENT_SECRET, ENTRA_TID, Upstream
from tests.helpers import PASSWORD, csrf_from, make_tenant, make_user

DOMAIN = "acme-gyms.example"


@pytest.fixture
def tenant(app: Flask) -> Tenant:
    tenant = make_tenant()
    make_user(tenant, email_verified=False)  # coach@example.com
    return tenant


def connect(tenant: Tenant, upstream: Upstream, kind: str = "google", slug: str = "google", **options: Any) -> None:
    with unit_of_work():
        add_connection(tenant, NewConnection(kind=kind, name=options.pop("name", slug.title()), client_id=CLIENT_ID,
                                             client_secret=CLIENT_SECRET, discovery_url=upstream.discovery_url,
                                             slug=slug, **options))


def go_upstream(client: FlaskClient, slug: str, prefix: str = "/a/acme", request_id: str | None = None,
                **kwargs: Any) -> Any:
    page = client.get(f"{prefix}/login", query_string={"request": request_id} if request_id else None, **kwargs)
    assert f"continue-with-{slug}" in page.get_data(as_text=True)
    form = {"csrf_token": csrf_from(page.get_data(as_text=True))} | ({"request": request_id} if request_id else {})
    return client.post(f"{prefix}/federation/{slug}/start", data=form, **kwargs)


def come_back(client: FlaskClient, upstream: Upstream, departure: Any) -> Any:
    """Play the browser at the upstream, then bring its answer to Portcullis; the final response."""
    assert departure.status_code == 303, departure.get_data(as_text=True)[:500]
    callback = upstream.follow(departure.headers["Location"])
    returned = client.get(callback)
    if returned.status_code != 303:
        return returned
    return client.get(returned.headers["Location"])


def federated_sign_in(client: FlaskClient, upstream: Upstream, account: str, slug: str = "google",
                      **kwargs: Any) -> Any:
    upstream.sign_in_as(account)
    return come_back(client, upstream, go_upstream(client, slug, **kwargs))


def signed_in_session() -> BrowserSession:
    return db.session.execute(select(BrowserSession).where(BrowserSession.ended_at.is_(None))
                              .order_by(BrowserSession.created_at.desc())).scalars().first()


def events(name: str) -> list[dict[str, Any]]:
    import json

    rows = db.session.execute(select(AuditEvent).where(AuditEvent.event == name)).scalars()
    return [json.loads(row.detail_json) for row in rows]


# -- Google-shaped upstream --------------------------------------------------------------------


def test_a_verified_google_email_links_to_the_account_with_that_email(client: FlaskClient, tenant: Tenant,
                                                                      google: Upstream) -> None:
    connect(tenant, google)
    done = federated_sign_in(client, google, "coach")
    assert done.status_code == 303 and "/continue" in done.headers["Location"], done.get_data(as_text=True)[:500]
    db.session.expire_all()
    session = signed_in_session()
    assert session.amr == "fed" and session.idp == "google"
    identity = db.session.execute(select(FederatedIdentity)).scalar_one()
    user = db.session.execute(select(User)).scalar_one()
    assert identity.user_id == user.id and identity.subject == "coach"
    assert user.email_verified, "a trusted upstream email verifies the local one"
    assert [e["reason"] for e in events("federation.linked")] == ["trusted_email"]


def test_the_second_sign_in_uses_the_link_not_the_email(client: FlaskClient, tenant: Tenant, google: Upstream) -> None:
    connect(tenant, google)
    federated_sign_in(client, google, "coach")
    client.post("/a/acme/logout", data={"csrf_token": csrf_from(client.get("/a/acme/logout").get_data(as_text=True))})
    assert federated_sign_in(client, google, "coach").status_code == 303
    assert len(events("federation.linked")) == 1 and len(events("federation.signed_in")) == 2


def test_an_unverified_upstream_email_must_prove_the_local_password(client: FlaskClient, tenant: Tenant,
                                                                   google: Upstream) -> None:
    connect(tenant, google)
    page = federated_sign_in(client, google, "unverified-coach")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "coach@example.com" in html and 'name="password"' in html
    assert db.session.execute(select(FederatedIdentity)).first() is None
    form = {"csrf_token": csrf_from(html), "state": _hidden(html, "state")}
    wrong = client.post("/a/acme/federation/link", data=form | {"password": "not the password"})
    assert wrong.status_code == 401 and 'name="password"' in wrong.get_data(as_text=True)
    right = client.post("/a/acme/federation/link", data=form | {"password": PASSWORD})
    assert right.status_code == 303
    db.session.expire_all()
    assert db.session.execute(select(FederatedIdentity)).scalar_one().subject == "unverified-coach"
    assert not db.session.execute(select(User)).scalar_one().email_verified, "an unverified email proves nothing"
    assert [e["reason"] for e in events("federation.linked")] == ["password_proved"]


def test_a_hosted_domain_outside_the_connections_is_refused(client: FlaskClient, tenant: Tenant,
                                                           google: Upstream) -> None:
    connect(tenant, google, hosted_domains=(DOMAIN,))
    refused = federated_sign_in(client, google, "other-hd")
    assert refused.status_code == 400 and "not one of the organization" in refused.get_data(as_text=True)
    assert signed_in_session() is None


def test_no_account_and_no_jit_is_refused_and_audited(client: FlaskClient, tenant: Tenant, google: Upstream) -> None:
    connect(tenant, google)
    refused = federated_sign_in(client, google, "alice")
    assert refused.status_code == 403
    assert "no account here for alice@acme-gyms.example" in refused.get_data(as_text=True)
    assert db.session.execute(select(User).where(User.email == "alice@acme-gyms.example")).first() is None
    assert [e["reason"] for e in events("federation.refused")] == ["no_account"]


def test_jit_creates_a_verified_account_in_a_claimed_domain_only(client: FlaskClient, tenant: Tenant,
                                                                  google: Upstream) -> None:
    connect(tenant, google, email_domains=(DOMAIN,), jit=True)
    assert federated_sign_in(client, google, "alice").status_code == 303
    created = db.session.execute(select(User).where(User.email == "alice@acme-gyms.example")).scalar_one()
    assert created.email_verified and created.name == "Alice Acme" and created.password_hash is None
    assert len(events("federation.account_created")) == 1


def test_the_same_email_in_another_tenant_or_pool_is_never_linked(client: FlaskClient, tenant: Tenant,
                                                                   google: Upstream) -> None:
    """alice@ has an account at beta and a customer account at acme: a staff connection at acme
    links neither (lookups are by tenant and pool)."""
    beta = make_tenant("beta", "Beta Gym")
    make_user(beta, email="alice@acme-gyms.example", email_verified=True)
    make_user(tenant, email="alice@acme-gyms.example", pool="customer", email_verified=True)
    connect(tenant, google)
    refused = federated_sign_in(client, google, "alice")
    assert refused.status_code == 403
    assert db.session.execute(select(FederatedIdentity)).first() is None


def test_an_upstream_without_an_email_is_refused(client: FlaskClient, tenant: Tenant, google: Upstream) -> None:
    connect(tenant, google)
    assert federated_sign_in(client, google, "no-email").status_code == 403


def test_the_upstream_saying_no_ends_on_a_page(client: FlaskClient, tenant: Tenant, google: Upstream) -> None:
    connect(tenant, google)
    google.refuse_next("access_denied")
    answer = come_back(client, google, go_upstream(client, "google"))
    assert answer.status_code == 400 and "did not allow the sign-in at Google" in answer.get_data(as_text=True)


def test_the_id_token_says_fed_and_names_the_connection(client: FlaskClient, tenant: Tenant,
                                                        google: Upstream) -> None:
    """An app's code flow through Google: amr has `fed`, never `pwd`; `idp` is the connection's slug."""
    from joserfc import jwt

    from tests.oauth.helpers import authorize, exchange, follow_local, make_rp, pkce, query_of

    rp = make_rp(tenant)
    connect(tenant, google)
    verifier, challenge = pkce()
    request_id = query_of(authorize(client, rp, code_challenge=challenge,
                                    code_challenge_method="S256").headers["Location"])["request"]
    google.sign_in_as("coach")
    continued = come_back(client, google, go_upstream(client, "google", request_id=request_id))
    code = query_of(follow_local(client, continued).headers["Location"])["code"]
    tokens = exchange(client, rp, code, verifier).get_json()
    claims = jwt.decode(tokens["id_token"], _tenant_keys(client)).claims
    assert claims["amr"] == ["fed"] and claims["idp"] == "google"
    assert client.get("/a/acme/.well-known/openid-configuration").get_json()["claims_supported"].count("idp") == 1


def _tenant_keys(client: FlaskClient) -> Any:
    from joserfc.jwk import KeySet

    return KeySet.import_key_set(client.get("/a/acme/jwks").get_json())


@pytest.mark.parametrize(("account", "trusted", "second_factor_asked"), [
    ("mfa-coach", True, False), ("coach", True, True), ("mfa-coach", False, True),
])
def test_a_trusted_upstreams_mfa_stands_for_the_second_factor(app: Flask, client: FlaskClient, account: str,
                                                             trusted: bool, second_factor_asked: bool,
                                                             google: Upstream) -> None:
    tenant = make_tenant(second_factor_policy="required")
    make_user(tenant, email_verified=True)
    connect(tenant, google, trust_upstream_mfa=trusted)
    done = federated_sign_in(client, google, account)
    assert done.status_code == 303
    next_step = client.get(done.headers["Location"])
    assert ("second-factor" in next_step.headers.get("Location", "")) is second_factor_asked
    db.session.expire_all()
    assert signed_in_session().amr == ("fed" if second_factor_asked else "fed mfa")


# -- the browser binding and the state ------------------------------------------------------------


def test_only_the_browser_that_left_can_finish(app: Flask, client: FlaskClient, tenant: Tenant,
                                               google: Upstream) -> None:
    """Login CSRF: an attacker's own upstream answer, finished in a victim's browser, signs nobody in."""
    connect(tenant, google)
    google.sign_in_as("coach")
    callback = google.follow(go_upstream(client, "google").headers["Location"])
    finish = client.get(callback).headers["Location"]
    victim = app.test_client()
    assert victim.get(finish).status_code == 400
    assert signed_in_session() is None
    assert client.get(finish).status_code == 303, "the browser that left still can"
    assert client.get(finish).status_code == 400, "but only once"


@pytest.mark.parametrize("query", ["state=forged&code=x", "code=x", "state=&error=access_denied", ""])
def test_a_callback_with_an_unknown_state_is_refused(client: FlaskClient, tenant: Tenant, google: Upstream,
                                                     query: str) -> None:
    connect(tenant, google)
    answer = client.get(f"/a/acme/federation/google/callback?{query}")
    assert answer.status_code == 400


def test_a_tenants_connection_does_not_exist_at_another_tenant(client: FlaskClient, tenant: Tenant,
                                                               google: Upstream) -> None:
    connect(tenant, google)
    make_tenant("beta", "Beta Gym")
    page = client.get("/a/beta/login").get_data(as_text=True)
    assert "continue-with-google" not in page
    assert client.post("/a/beta/federation/google/start", data={"csrf_token": csrf_from(page)}).status_code == 404


def test_both_issuer_forms_come_back_to_the_form_they_left(client: FlaskClient, tenant: Tenant,
                                                           google: Upstream) -> None:
    connect(tenant, google)
    google.sign_in_as("coach")
    departure = go_upstream(client, "google", prefix="", base_url="http://acme.localhost")
    callback = google.follow(departure.headers["Location"])
    assert callback.startswith("http://localhost/a/acme/federation/google/callback?"), "one URI registered upstream"
    finish = client.get(callback).headers["Location"]
    assert finish.startswith("http://acme.localhost/federation/complete?")
    assert client.get(finish).status_code == 303


# -- email-first and SSO required ---------------------------------------------------------------


def _sign_in_form(client: FlaskClient, email: str, password: str = "") -> Any:
    page = client.get("/a/acme/login").get_data(as_text=True)
    return client.post("/a/acme/login", data={"csrf_token": csrf_from(page), "email": email, "password": password})


def test_email_first_sends_a_claimed_domain_to_its_connection(client: FlaskClient, tenant: Tenant,
                                                              google: Upstream) -> None:
    connect(tenant, google, email_domains=(DOMAIN,), jit=True)
    # Another domain with no password is asked for one.
    assert _sign_in_form(client, "coach@example.com").status_code == 400
    departure = _sign_in_form(client, "Alice@acme-gyms.example")
    assert departure.status_code == 303 and departure.headers["Location"].startswith(google.base)
    assert parse_qs(urlsplit(departure.headers["Location"]).query)["login_hint"] == ["Alice@acme-gyms.example"]
    google.sign_in_as("alice")
    assert come_back(client, google, departure).status_code == 303


def test_sso_required_never_checks_a_password_nor_mails_a_reset(app: Flask, client: FlaskClient, tenant: Tenant,
                                                                google: Upstream, smtp_mailbox: Any) -> None:
    make_user(tenant, email="dana@acme-gyms.example", username="dana")
    connect(tenant, google, email_domains=(DOMAIN,), sso_required=True)
    with_password = _sign_in_form(client, "dana@acme-gyms.example", PASSWORD)
    assert with_password.status_code == 303 and with_password.headers["Location"].startswith(google.base)
    by_username = _sign_in_form(client, "dana", PASSWORD)
    assert by_username.status_code == 400 and "sign in with Google" in by_username.get_data(as_text=True)
    assert signed_in_session() is None
    page = client.get("/a/acme/forgot-password").get_data(as_text=True)
    client.post("/a/acme/forgot-password", data={"csrf_token": csrf_from(page), "email": "dana@acme-gyms.example"})
    from tests.mail.support import deliver

    assert deliver(app) == []
    make_user(tenant, email="erin@example.com")  # and the same form mails a person without SSO
    page = client.get("/a/acme/forgot-password").get_data(as_text=True)
    client.post("/a/acme/forgot-password", data={"csrf_token": csrf_from(page), "email": "erin@example.com"})
    assert [message["To"] for message in deliver(app)] == ["erin@example.com"]


# -- Microsoft Entra-shaped upstream ---------------------------------------------------------------


def test_entra_links_by_tenant_and_object_id_when_the_email_is_verified(client: FlaskClient, tenant: Tenant,
                                                                         entra: Upstream) -> None:
    connect(tenant, entra, kind="microsoft", slug="microsoft")
    assert federated_sign_in(client, entra, "edov", slug="microsoft").status_code == 303
    assert db.session.execute(select(FederatedIdentity)).scalar_one().subject == f"{ENTRA_TID}:oid-edov"


def test_entra_without_xms_edov_does_not_link_by_email(client: FlaskClient, tenant: Tenant, entra: Upstream) -> None:
    connect(tenant, entra, kind="microsoft", slug="microsoft")
    page = federated_sign_in(client, entra, "no-edov", slug="microsoft")
    assert page.status_code == 200 and 'name="password"' in page.get_data(as_text=True)
    assert db.session.execute(select(FederatedIdentity)).first() is None


def test_an_entra_token_of_another_tenant_is_refused(client: FlaskClient, tenant: Tenant, entra: Upstream) -> None:
    """Its `tid` gives another issuer than the one that signed: refused, never linked by email."""
    connect(tenant, entra, kind="microsoft", slug="microsoft")
    refused = federated_sign_in(client, entra, "other-tid", slug="microsoft")
    assert refused.status_code == 400 and "another issuer" in refused.get_data(as_text=True)
    assert db.session.execute(select(FederatedIdentity)).first() is None


def test_a_pinned_entra_tenant_trusts_its_claimed_domains(client: FlaskClient, tenant: Tenant,
                                                          entra: Upstream) -> None:
    make_user(tenant, email="dana@acme-gyms.example")
    with unit_of_work():
        add_connection(tenant, NewConnection(kind="microsoft", name="Acme Entra", client_id=CLIENT_ID,
                                             client_secret=CLIENT_SECRET, slug="pinned", entra_tenant=ENTRA_TID,
                                             discovery_url=f"{entra.base}/.well-known/openid-configuration",
                                             email_domains=(DOMAIN,)))
    assert federated_sign_in(client, entra, "corp-member", slug="pinned").status_code == 303
    assert db.session.execute(select(FederatedIdentity)).scalar_one().subject == f"{ENTRA_TID}:oid-corp"


# -- operator rules ------------------------------------------------------------------------------


def test_a_domain_is_claimed_once_per_tenant_and_never_across(app: Flask, tenant: Tenant, google: Upstream) -> None:
    connect(tenant, google, email_domains=(DOMAIN,))
    with pytest.raises(Conflict):
        connect(tenant, google, slug="corp", kind="oidc", email_domains=(DOMAIN.upper(),))
    beta = make_tenant("beta", "Beta Gym")
    connect(beta, google, email_domains=(DOMAIN,))
    assert db.session.execute(select(Connection).where(Connection.tenant_id == beta.id)).scalar_one()


@pytest.mark.parametrize("options", [
    {"kind": "oidc", "discovery_url": None}, {"kind": "saml"}, {"discovery_url": "ftp://x.example/d"},
    {"discovery_url": "http://evil.example/.well-known/openid-configuration"}, {"sso_required": True},
    {"jit": True}, {"email_domains": ("not a domain",)}, {"entra_tenant": "x"}, {"scope": "email"},
    {"hosted_domains": ("acme.example",), "kind": "oidc"}, {"slug": "Bad Slug"}, {"name": ""},
])
def test_bad_connections_are_refused(app: Flask, tenant: Tenant, google: Upstream, options: dict[str, Any]) -> None:
    base = {"kind": "google", "name": "Google", "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET,
            "discovery_url": google.discovery_url}
    with pytest.raises(InvalidInput):
        add_connection(tenant, NewConnection(**(base | options)))


def _hidden(html: str, name: str) -> str:
    import re

    match = re.search(rf'name="{name}" value="([^"]+)"', html)
    assert match, f"no hidden {name}"
    return match.group(1)
