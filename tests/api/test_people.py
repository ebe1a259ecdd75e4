"""Admin API: a person's record (newsletter, accepted policies), removing a second factor, business details."""

from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from idp.accounts.models import User
from idp.audit.models import AuditEvent
from idp.db import db
from idp.mfa.models import SecondFactor
from idp.policies.service import accept, publish
from tests.helpers import make_tenant, make_user, sign_in
from tests.login.pipeline_support import secret_from, totp_code
from tests.oauth.helpers import RP, make_rp
from tests.oauth.helpers import client_credentials_token as token_for


@pytest.fixture
def service(app: Flask) -> RP:
    tenant = make_tenant(second_factor_policy="optional")
    make_user(tenant, email_verified=True)
    return make_rp(tenant, grant_types=["client_credentials"], redirect_uris=[],
                   scope="users:read users:write business:read business:write")


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def enrol_by_browser(app: Flask, client: FlaskClient) -> None:
    sign_in(client)
    page = client.get("/a/acme/second-factor/setup")
    from tests.helpers import csrf_from

    html = page.get_data(as_text=True)
    done = client.post("/a/acme/second-factor/enrol",
                       data={"csrf_token": csrf_from(html), "code": totp_code(app, secret_from(html))})
    assert done.status_code == 200


def test_get_a_person(app: Flask, client: FlaskClient, service: RP) -> None:
    user = db.session.execute(select(User)).scalar_one()
    from idp.tenancy.service import get_tenant

    tenant = get_tenant("acme")
    doc = publish("terms", "2025-01", "https://example.com/terms")
    accept(tenant, user, [doc.id], ip="10.0.0.1", newsletter=True)
    db.session.commit()
    response = client.get(f"/a/acme/api/v1/users/{user.sub}", headers=bearer(token_for(client, service, "users:read")))
    body = response.get_json()
    assert response.status_code == 200
    assert body["sub"] == user.sub and body["email"] == "coach@example.com" and body["newsletter"] is True
    assert body["accepted_policies"]["terms"]["version"] == "2025-01"
    assert body["landing_page"] == "welcome" and body["second_factor"] is False
    assert response.headers["Cache-Control"] == "no-store"  # known case 5: personal data is never cached
    missing = client.get("/a/acme/api/v1/users/nobody", headers=bearer(token_for(client, service, "users:read")))
    assert missing.status_code == 404 and missing.headers["Cache-Control"] == "no-store"


def test_remove_a_second_factor(app: Flask, client: FlaskClient, service: RP) -> None:
    enrol_by_browser(app, app.test_client())
    user = db.session.execute(select(User)).scalar_one()
    url = f"/a/acme/api/v1/users/{user.sub}/second-factor"
    assert client.delete(url).status_code == 401
    assert client.delete(url, headers=bearer("not-a-token")).status_code == 401
    forbidden = client.delete(url, headers=bearer(token_for(client, service, "users:read")))
    assert forbidden.status_code == 403 and forbidden.get_json()["error"] == "insufficient_scope"
    removed = client.delete(url, headers=bearer(token_for(client, service, "users:write")))
    assert removed.status_code == 204
    db.session.expire_all()
    assert db.session.execute(select(SecondFactor)).scalar_one_or_none() is None
    event = db.session.execute(select(AuditEvent).where(AuditEvent.event == "second_factor.removed")).scalar_one()
    assert event.actor == f"client:{service.client_id}"
    assert client.delete(url, headers=bearer(token_for(client, service, "users:write"))).status_code == 404


def test_another_tenants_token_is_worthless(app: Flask, client: FlaskClient, service: RP) -> None:
    other = make_tenant("other", "Other")
    other_service = make_rp(other, grant_types=["client_credentials"], redirect_uris=[], scope="users:write")
    user = db.session.execute(select(User)).scalar_one()
    response = client.delete(f"/a/acme/api/v1/users/{user.sub}/second-factor",
                             headers=bearer(token_for(client, other_service, "users:write")))
    assert response.status_code == 401


def test_update_landing_page_and_permissions(app: Flask, client: FlaskClient, service: RP) -> None:
    user = db.session.execute(select(User)).scalar_one()
    token = token_for(client, service, "users:write")
    url = f"/a/acme/api/v1/users/{user.sub}"
    ok = client.patch(url, json={"landing_page": "dashboard", "permissions": ["classes", "dashboard"]},
                      headers=bearer(token))
    assert ok.status_code == 200 and ok.get_json()["landing_page"] == "dashboard"
    assert ok.get_json()["permissions"] == ["dashboard", "classes"]
    assert client.patch(url, json={"permissions": ["nope"]}, headers=bearer(token)).status_code == 400
    assert client.patch(url, json={"landing_page": "reports"}, headers=bearer(token)).status_code == 400


def test_business_details(app: Flask, client: FlaskClient, service: RP) -> None:
    token = token_for(client, service, "business:write")
    assert client.put("/a/acme/api/v1/business", json={"legal_name": "Acme Ltd"},
                      headers=bearer(token_for(client, service, "users:write"))).status_code == 403
    body = client.put("/a/acme/api/v1/business", json={"legal_name": "Acme Ltd", "email": "office@acme.example",
                                                         "phone": "1", "address": "1 Pool Lane"},
                      headers=bearer(token)).get_json()
    assert body["missing"] == []
    body = client.put("/a/acme/api/v1/locations/Downtown", json={"phone": "2"}, headers=bearer(token)).get_json()
    assert "Location “Downtown”: email address" in body["missing"]
    assert client.put("/a/acme/api/v1/locations/Downtown", json={"email": "not an email"},
                      headers=bearer(token)).status_code == 400
    read = client.get("/a/acme/api/v1/business", headers=bearer(token_for(client, service, "business:read")))
    assert read.get_json()["locations"][0]["name"] == "Downtown"
