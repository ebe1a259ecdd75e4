"""The families API: staff (client_credentials, families:read/write) revoke and change the
primary but never grant; guardians use their own token (scope family) for their family."""

from __future__ import annotations

import pytest
from flask import Flask
from sqlalchemy import func, select

from idp.db import db
from idp.families.models import FamilyInvitation, FamilyMember
from idp.oauth.models import LogoutDelivery
from tests.families.support import (
    FAMILY_SCOPE,
    customer,
    id_claims,
    invitation_link,
    mails,
    make_family,
    sign_in_to_portal,
    world,
)
from tests.helpers import csrf_from, make_tenant
from tests.oauth.helpers import client_credentials_token, make_rp

pytestmark = pytest.mark.usefixtures("smtp_mailbox")
NEW_PASSWORD = "plum orchard lantern"
ADMIN_SCOPES = ("users:read users:write business:read business:write connections:read connections:write "
                "audit:read families:read families:write")


def staff_token(app: Flask, tenant, scope: str = "families:read families:write") -> str:  # type: ignore[no-untyped-def]
    rp = make_rp(tenant, grant_types=["client_credentials"], scope=ADMIN_SCOPES)
    return client_credentials_token(app.test_client(), rp, scope)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def guardian_token(app: Flask, w, email: str, password: str | None = None) -> str:  # type: ignore[no-untyped-def]
    flow = sign_in_to_portal(app.test_client(), w.portal, email, **({"password": password} if password else {}))
    last = flow.last
    if last.request.path.endswith("/family/adult"):
        last = flow.post(last, "/family/adult", adult="yes")
    return str(id_claims(flow, last)["_tokens"]["access_token"])


def member_via_api(app: Flask, w, email: str = "bea@example.com") -> str:  # type: ignore[no-untyped-def]
    """The primary invites through the API; the invitee accepts in a fresh browser. Returns their token."""
    client = app.test_client()
    token = guardian_token(app, w, w.primary.email)
    created = client.post("/a/acme/api/v1/me/family/invitations", json={"email": email}, headers=bearer(token))
    assert created.status_code == 201, created.get_json()
    assert created.get_json()["status"] == "pending" and created.headers["Cache-Control"] == "no-store"
    link = invitation_link(app, email)
    fresh = app.test_client()
    page = fresh.get(link)
    assert fresh.post(link, data={"csrf_token": csrf_from(page.get_data(as_text=True)), "password": NEW_PASSWORD,
                                  "confirm_password": NEW_PASSWORD}).status_code == 200
    return guardian_token(app, w, email, NEW_PASSWORD)


def test_staff_read_a_family(app: Flask) -> None:
    w = world(app)
    member_via_api(app, w)
    body = app.test_client().get(f"/a/acme/api/v1/families/{w.family.id}",
                                 headers=bearer(staff_token(app, w.tenant, "families:read"))).get_json()
    assert body["name"] == "The Garcia family" and body["primary"]["email"] == "ana@example.com"
    roles = {m["email"]: (m["role"], m["access"]) for m in body["members"]}
    assert roles == {"ana@example.com": ("primary", "full"), "bea@example.com": ("secondary", "view")}
    assert [i["status"] for i in body["invitations"]] == ["accepted"]


def test_staff_revoke_ends_access_tells_everyone_and_relying_parties(app: Flask) -> None:
    w = world(app)
    from idp.oauth.models import Client
    portal = db.session.execute(select(Client).where(Client.client_id == w.portal.client_id)).scalar_one()
    portal.client_metadata = {**portal.client_metadata, "backchannel_logout_uri": "https://rp.example/bcl"}
    db.session.commit()
    bea_token = member_via_api(app, w)
    sub = app.test_client().get("/a/acme/userinfo", headers=bearer(bea_token)).get_json()["sub"]
    token = staff_token(app, w.tenant)
    response = app.test_client().delete(f"/a/acme/api/v1/families/{w.family.id}/members/{sub}", headers=bearer(token))
    assert response.status_code == 204
    assert db.session.execute(select(func.count()).select_from(FamilyMember)).scalar_one() == 0
    assert app.test_client().get("/a/acme/api/v1/me/family", headers=bearer(bea_token)).status_code == 401
    assert db.session.execute(select(func.count()).select_from(LogoutDelivery)).scalar_one() == 1
    assert [m.to_address for m in mails("family_access_ended")] == ["bea@example.com"]
    assert [m.to_address for m in mails("family_member_removed")] == ["ana@example.com"]
    again = app.test_client().delete(f"/a/acme/api/v1/families/{w.family.id}/members/{sub}", headers=bearer(token))
    assert again.status_code == 404


def test_staff_cannot_revoke_the_primary(app: Flask) -> None:
    w = world(app)
    response = app.test_client().delete(f"/a/acme/api/v1/families/{w.family.id}/members/{w.primary.sub}",
                                        headers=bearer(staff_token(app, w.tenant)))
    assert response.status_code == 400 and "change the primary" in response.get_json()["error_description"]


def test_changing_the_primary_ends_all_secondary_access_and_invitations(app: Flask) -> None:
    w = world(app)
    member_via_api(app, w)
    primary_token = guardian_token(app, w, w.primary.email)
    app.test_client().post("/a/acme/api/v1/me/family/invitations", json={"email": "cy@example.com"},
                           headers=bearer(primary_token))
    new = customer(w.tenant, "dan@example.com")
    response = app.test_client().put(f"/a/acme/api/v1/families/{w.family.id}/primary", json={"sub": new.sub},
                                     headers=bearer(staff_token(app, w.tenant)))
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["primary"]["email"] == "dan@example.com"
    assert [m["email"] for m in body["members"]] == ["dan@example.com"]
    assert db.session.execute(select(FamilyInvitation).where(FamilyInvitation.email == "cy@example.com")
                              ).scalar_one().cancelled_at is not None
    assert [m.to_address for m in mails("family_access_ended")] == ["bea@example.com"]
    assert [m.to_address for m in mails("family_invitation_withdrawn")] == ["cy@example.com"]
    assert sorted(m.to_address for m in mails("family_primary_changed")) == ["ana@example.com", "dan@example.com"]
    assert app.test_client().get("/a/acme/api/v1/me/family", headers=bearer(primary_token)).status_code == 401, (
        "the old primary's tokens for the family are revoked")


@pytest.mark.parametrize("body", [{}, {"sub": 5}, {"sub": "nobody"}])
def test_changing_the_primary_refuses_bad_input(app: Flask, body: dict[str, object]) -> None:
    w = world(app)
    response = app.test_client().put(f"/a/acme/api/v1/families/{w.family.id}/primary", json=body,
                                     headers=bearer(staff_token(app, w.tenant)))
    assert response.status_code in (400, 404)


def test_the_primary_of_another_family_cannot_become_primary_here(app: Flask) -> None:
    w = world(app)
    other = customer(w.tenant, "li@example.com")
    make_family(w.tenant, other, "The Lee family")
    response = app.test_client().put(f"/a/acme/api/v1/families/{w.family.id}/primary", json={"sub": other.sub},
                                     headers=bearer(staff_token(app, w.tenant)))
    assert response.status_code == 400 and "already the primary guardian" in response.get_json()["error_description"]


def test_scopes_are_required(app: Flask) -> None:
    w = world(app)
    read_only = staff_token(app, w.tenant, "families:read")
    client = app.test_client()
    assert client.get(f"/a/acme/api/v1/families/{w.family.id}").status_code == 401
    assert client.put(f"/a/acme/api/v1/families/{w.family.id}/primary", json={"sub": "x"},
                      headers=bearer(read_only)).status_code == 403
    assert client.get(f"/a/acme/api/v1/families/{w.family.id}",
                      headers=bearer(staff_token(app, w.tenant, "users:read"))).status_code == 403
    # a staff (client_credentials) token with the family scope is nobody's family
    assert client.get("/a/acme/api/v1/me/family", headers=bearer(read_only)).status_code == 403


def test_a_family_of_another_tenant_is_not_found(app: Flask) -> None:
    w = world(app)
    beta = make_tenant("beta", "Beta Gym")
    response = app.test_client().get(f"/a/beta/api/v1/families/{w.family.id}", headers=bearer(staff_token(app, beta)))
    assert response.status_code == 404


def test_the_guardian_api(app: Flask) -> None:
    w = world(app)
    bea_token = member_via_api(app, w)
    client = app.test_client()
    mine = client.get("/a/acme/api/v1/me/family", headers=bearer(bea_token)).get_json()
    assert mine["id"] == w.family.id and mine["role"] == "secondary" and mine["access"] == "view"
    assert "invitations" not in mine, "invitations are the primary's business"
    refused = client.post("/a/acme/api/v1/me/family/invitations", json={"email": "cy@example.com"},
                          headers=bearer(bea_token))
    assert refused.status_code == 403, "view-only members cannot invite"
    assert client.delete(f"/a/acme/api/v1/me/family/members/{w.primary.sub}",
                         headers=bearer(bea_token)).status_code == 403

    primary = guardian_token(app, w, w.primary.email)
    created = client.post("/a/acme/api/v1/me/family/invitations", json={"email": "cy@example.com"},
                          headers=bearer(primary)).get_json()
    assert client.delete(f"/a/acme/api/v1/me/family/invitations/{created['id']}",
                         headers=bearer(primary)).status_code == 204
    assert client.delete(f"/a/acme/api/v1/me/family/invitations/{created['id']}",
                         headers=bearer(primary)).status_code == 409
    assert client.post("/a/acme/api/v1/me/family/invitations", json={"email": "ana@example.com"},
                       headers=bearer(primary)).status_code == 400
    assert client.post("/a/acme/api/v1/me/family/invitations", json=["x"], headers=bearer(primary)).status_code == 400
    bea_sub = client.get("/a/acme/userinfo", headers=bearer(bea_token)).get_json()["sub"]
    assert client.delete(f"/a/acme/api/v1/me/family/members/{bea_sub}", headers=bearer(primary)).status_code == 204
    assert client.get("/a/acme/api/v1/me/family", headers=bearer(bea_token)).status_code == 401


def test_no_staff_endpoint_or_command_grants_access(app: Flask, config) -> None:  # type: ignore[no-untyped-def]
    """Staff can revoke but never grant: call every admin write operation the OpenAPI document
    lists, with a token holding every admin scope and bodies naming a would-be member, and
    check no member appeared; and the CLI's family commands are exactly the four that do not add."""
    from idp.api.openapi import document
    from idp.cli import main

    w = world(app)
    outsider = customer(w.tenant, "eve@example.com")
    token = staff_token(app, w.tenant, ADMIN_SCOPES)
    client = app.test_client()
    paths = document("http://localhost/a/acme")["paths"]
    called = 0
    for path, operations in paths.items():
        if path.startswith("/me/"):
            continue  # the guardian's own (scope family): a staff token is refused there (test_scopes_are_required)
        for method in ("post", "put", "patch", "delete"):
            if method not in operations:
                continue
            url = "/a/acme/api/v1" + path.format(family_id=w.family.id, sub=outsider.sub, slug="x", name="x",
                                                 invitation_id="x")
            for body in ({"sub": outsider.sub, "email": outsider.email, "pool": "customer"}, {}):
                client.open(url, method=method.upper(), json=body, headers=bearer(token))
                called += 1
    assert called >= 10
    assert db.session.execute(select(func.count()).select_from(FamilyMember)).scalar_one() == 0
    assert set(main.commands["family"].commands) == {"create", "show", "set-primary", "revoke"}  # type: ignore[attr-defined]


def test_staff_send_a_customer_reset_link(app: Flask) -> None:
    w = world(app)
    response = app.test_client().post("/a/acme/api/v1/users/password-reset",
                                      json={"email": "ana@example.com", "pool": "customer"},
                                      headers=bearer(staff_token(app, w.tenant, "families:write")))
    assert response.status_code == 202
    assert [m.to_address for m in mails("reset_password")] == ["ana@example.com"]


def test_family_scope_is_advertised(app: Flask) -> None:
    world(app)
    config = app.test_client().get("/a/acme/.well-known/openid-configuration").get_json()
    assert "family" in config["scopes_supported"] and "family" in config["claims_supported"]
    assert "select_account" in config["prompt_values_supported"]
    assert FAMILY_SCOPE.endswith("family")
