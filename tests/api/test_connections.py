"""Admin API: connections. A secret goes in and never comes out; scopes and tenants are kept apart."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from idp.db import db
from idp.federation.models import Connection
from tests.helpers import make_tenant
from tests.oauth.helpers import RP, make_rp
from tests.oauth.helpers import client_credentials_token as token_for

URL = "/a/acme/api/v1/connections"
GOOGLE = {"kind": "google", "name": "Google", "client_id": "cid.apps.example", "client_secret": "upstream-s3cret",
          "email_domains": ["acme-gyms.example"], "sso_required": True}


@pytest.fixture
def admin(app: Flask) -> RP:
    return make_rp(make_tenant(), grant_types=["client_credentials"], redirect_uris=[],
                   scope="connections:read connections:write users:read")


def bearer(client: FlaskClient, rp: RP, scope: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token_for(client, rp, scope)}"}


def test_create_list_delete(client: FlaskClient, admin: RP) -> None:
    write = bearer(client, admin, "connections:write")
    created = client.post(URL, json=GOOGLE, headers=write)
    assert created.status_code == 201, created.get_json()
    body = created.get_json()
    assert body["slug"] == "google" and body["redirect_uri"] == "http://localhost/a/acme/federation/google/callback"
    assert "upstream-s3cret" not in created.get_data(as_text=True)
    listed = client.get(URL, headers=bearer(client, admin, "connections:read"))
    assert listed.status_code == 200 and "upstream-s3cret" not in listed.get_data(as_text=True)
    assert [c["email_domains"] for c in listed.get_json()["connections"]] == [["acme-gyms.example"]]
    assert listed.headers["Cache-Control"] == "no-store"
    assert "upstream-s3cret" not in db.session.execute(select(Connection.client_secret_sealed)).scalar_one()
    assert client.delete(f"{URL}/google", headers=write).status_code == 204
    assert client.delete(f"{URL}/google", headers=write).status_code == 404
    assert client.get(URL, headers=write).get_json() == {"connections": []}


def test_the_scope_is_checked(client: FlaskClient, admin: RP) -> None:
    read = bearer(client, admin, "connections:read")
    assert client.post(URL, json=GOOGLE, headers=read).status_code == 403
    assert client.get(URL, headers=bearer(client, admin, "users:read")).status_code == 403
    assert client.get(URL).status_code == 401


def test_another_tenants_token_sees_nothing_here(app: Flask, client: FlaskClient, admin: RP) -> None:
    other = make_rp(make_tenant("beta", "Beta"), grant_types=["client_credentials"], redirect_uris=[],
                    scope="connections:write")
    assert client.post(URL, json=GOOGLE, headers=bearer(client, other, "connections:write")).status_code == 401


@pytest.mark.parametrize("body", [
    None, [], {}, {**GOOGLE, "kind": "saml"}, {**GOOGLE, "client_secret": 5}, {**GOOGLE, "email_domains": "x.example"},
    {**GOOGLE, "email_domains": [1]}, {**GOOGLE, "sso_required": "yes"}, {**GOOGLE, "admin": True},
    {k: v for k, v in GOOGLE.items() if k != "client_secret"}, {**GOOGLE, "email_domains": ["not a domain"]},
    {**GOOGLE, "kind": "oidc"}, {**GOOGLE, "discovery_url": "http://evil.example/x"},
    {**GOOGLE, "name": None}, {**GOOGLE, "kind": None},  # found by schemathesis: were 500s
])
def test_bad_bodies_are_400(client: FlaskClient, admin: RP, body: Any) -> None:
    response = client.post(URL, json=body, headers=bearer(client, admin, "connections:write"))
    assert response.status_code == 400, response.get_json()
    assert response.get_json()["error"] == "invalid_request"


def test_a_claimed_domain_is_a_409(client: FlaskClient, admin: RP) -> None:
    write = bearer(client, admin, "connections:write")
    assert client.post(URL, json=GOOGLE, headers=write).status_code == 201
    second = client.post(URL, json={**GOOGLE, "slug": "other"}, headers=write)
    assert second.status_code == 409 and "acme-gyms.example" in second.get_json()["error_description"]
