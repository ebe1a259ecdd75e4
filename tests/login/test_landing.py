"""Landing page: a claim for the portal; direct sign-in ends at the default portal."""

from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskClient

from idp.accounts.landing import choose_landing_page, set_landing_preference, set_permissions
from idp.db import db
from idp.oauth.discovery import ACR_MFA, openid_configuration
from tests.helpers import make_tenant, make_user, sign_in
from tests.login.pipeline_support import Flow, claims_of, walk
from tests.oauth.helpers import make_rp


@pytest.mark.parametrize(("preference", "permitted", "expected"), [
    (None, ["welcome", "dashboard"], "welcome"),
    ("dashboard", ["welcome", "dashboard"], "dashboard"),
    ("dashboard", ["welcome", "classes"], "welcome"),
    ("welcome", ["reports", "classes"], "classes"),  # first by the documented order, not the stored one
    ("welcome", [], None),
])
def test_choose_landing_page(preference, permitted, expected) -> None:  # type: ignore[no-untyped-def]
    assert choose_landing_page(preference, permitted) == expected


def test_id_token_and_userinfo_carry_the_landing_page(app: Flask, client: FlaskClient) -> None:
    tenant = make_tenant()
    user = make_user(tenant, email_verified=True)
    set_landing_preference(user, "dashboard")
    set_permissions(user, ["students", "billing"])
    db.session.commit()
    rp = make_rp(tenant)
    flow = Flow(client, rp)
    tokens = flow.tokens(flow.sign_in())
    assert claims_of(tokens["id_token"])["landing_page"] == "students"
    info = client.get("/a/acme/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"})
    assert info.get_json()["landing_page"] == "students"
    discovery = openid_configuration("http://localhost/a/acme")
    assert "landing_page" in discovery["claims_supported"] and ACR_MFA in discovery["acr_values_supported"]


def test_direct_sign_in_ends_at_the_default_portal(app: Flask, client: FlaskClient) -> None:
    from idp.oauth.clients import find_client

    tenant = make_tenant()
    make_user(tenant, email_verified=True)
    portal = make_rp(tenant, initiate_login_uri="https://office.example/login")
    find_client(tenant, portal.client_id).is_default = True  # type: ignore[union-attr]
    db.session.commit()
    landed = walk(client, sign_in(client))
    assert landed.headers["Location"] == "https://office.example/login?iss=http%3A%2F%2Flocalhost%2Fa%2Facme"


def test_direct_sign_in_without_a_default_portal_says_you_are_signed_in(app: Flask, client: FlaskClient) -> None:
    tenant = make_tenant()
    make_user(tenant, email_verified=True)
    make_rp(tenant, initiate_login_uri="https://office.example/login")  # not the default
    landed = walk(client, sign_in(client))
    assert landed.status_code == 200 and "You are signed in" in landed.get_data(as_text=True)
