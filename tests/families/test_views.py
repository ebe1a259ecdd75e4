"""Families over HTTP, as guardians meet them: the family page, invitation links in a fresh
browser, the 18+ step, the family switcher, blocked families, and the `family` claim.
Mail goes through a real SMTP server on 127.0.0.1."""

from __future__ import annotations

from datetime import timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from idp.accounts.models import User
from idp.audit.models import AuditEvent
from idp.db import db
from idp.families.models import AdultAttestation, FamilyInvitation, FamilyMember
from idp.oauth.models import Grant
from tests.families.support import (
    FAMILY_SCOPE,
    customer,
    id_claims,
    invitation_link,
    invite,
    mails,
    make_family,
    run_cli,
    sign_in_to_portal,
    world,
)
from tests.helpers import PASSWORD, csrf_from, make_tenant, make_user, sign_in
from tests.login.pipeline_support import Flow, path_of, walk
from tests.oauth.helpers import REDIRECT_URI, query_of
from tests.web.test_templates import check_page

pytestmark = pytest.mark.usefixtures("smtp_mailbox")
NEW_PASSWORD = "plum orchard lantern"


def primary_signed_in(app: Flask):  # type: ignore[no-untyped-def]
    w = world(app)
    client = app.test_client()
    flow = sign_in_to_portal(client, w.portal, w.primary.email)
    claims = id_claims(flow, flow.last)
    return w, client, claims


def join_with_new_account(app: Flask, email: str, name: str = "Bea") -> FlaskClient:
    """The invitee opens the link in a browser of their own and creates the account."""
    link = invitation_link(app, email)
    fresh = app.test_client()
    page = fresh.get(link)
    assert page.status_code == 200 and "Create account and accept" in page.get_data(as_text=True)
    done = fresh.post(link, data={"csrf_token": csrf_from(page.get_data(as_text=True)), "name": name,
                                  "password": NEW_PASSWORD, "confirm_password": NEW_PASSWORD})
    assert done.status_code == 200 and "You can now see" in done.get_data(as_text=True), done.get_data(as_text=True)
    return fresh


def confirm_adult(flow: Flow, page):  # type: ignore[no-untyped-def]
    assert path_of(page) == "/a/acme/family/adult", page.get_data(as_text=True)[:300]
    return flow.post(page, "/family/adult", adult="yes")


def test_the_primary_sees_full_access_in_the_claim(app: Flask) -> None:
    w, client, claims = primary_signed_in(app)
    assert claims["family"] == {"id": w.family.id, "name": "The Garcia family", "role": "primary", "access": "full"}
    assert claims["_access"]["family"] == claims["family"], "access tokens carry it for the portal's API"


def test_invitation_journey_new_account_adult_then_view_claim(app: Flask) -> None:
    w, client, _ = primary_signed_in(app)
    page = client.get("/a/acme/account/family")
    check_page(page.get_data(as_text=True))
    sent = invite(client, "bea@example.com")
    assert sent.status_code == 303
    assert "Invitation sent" in client.get(sent.headers["Location"]).get_data(as_text=True)

    link = invitation_link(app, "bea@example.com")
    for _ in range(2):  # a scanner, a preview: opening changes nothing
        assert app.test_client().get(link).status_code == 200
        assert app.test_client().head(link).status_code == 200
    db.session.expire_all()
    assert db.session.execute(select(FamilyInvitation)).scalar_one().accepted_at is None

    join_with_new_account(app, "bea@example.com")
    bea = db.session.execute(select(User).where(User.email == "bea@example.com")).scalar_one()
    assert bea.pool == "customer" and bea.email_verified and bea.password_hash
    assert app.test_client().get(link).status_code == 410, "single use"

    flow = sign_in_to_portal(app.test_client(), w.portal, "bea@example.com", NEW_PASSWORD)
    assert "code=" not in flow.last.headers.get("Location", ""), "no code before the 18+ answer"
    check_page(flow.last.get_data(as_text=True))
    claims = id_claims(flow, confirm_adult(flow, flow.last))
    assert claims["family"] == {"id": w.family.id, "name": "The Garcia family", "role": "secondary",
                                "access": "view"}
    assert claims["_access"]["family"]["access"] == "view"
    userinfo = flow.client.get("/a/acme/userinfo",
                               headers={"Authorization": f"Bearer {claims['_tokens']['access_token']}"}).get_json()
    assert userinfo["family"]["role"] == "secondary"
    attestation = db.session.execute(select(AdultAttestation)).scalar_one()
    assert attestation.user_id == bea.id and attestation.attested_at is not None and attestation.ip == "127.0.0.1"
    events = {e.event for e in db.session.execute(select(AuditEvent)).scalars()}
    assert {"family.created", "family.invited", "family.joined", "family.adult_confirmed"} <= events
    # asked once: the next sign-in goes straight through
    again = sign_in_to_portal(app.test_client(), w.portal, "bea@example.com", NEW_PASSWORD)
    assert "code=" in again.last.headers["Location"]


def test_declining_the_adult_step_signs_out_and_the_app_hears_access_denied(app: Flask) -> None:
    w, client, _ = primary_signed_in(app)
    invite(client, "bea@example.com")
    join_with_new_account(app, "bea@example.com")
    flow = sign_in_to_portal(app.test_client(), w.portal, "bea@example.com", NEW_PASSWORD)
    done = flow.post(flow.last, "/family/adult/decline")
    assert done.headers["Location"].startswith(REDIRECT_URI)
    assert query_of(done.headers["Location"])["error"] == "access_denied"
    assert flow.client.get("/a/acme/account/family").status_code == 302, "signed out"
    assert db.session.execute(select(func.count()).select_from(AdultAttestation)).scalar_one() == 0
    assert db.session.execute(select(AuditEvent).where(AuditEvent.event == "family.adult_declined")).first()
    # the box unticked is not an answer
    flow = sign_in_to_portal(app.test_client(), w.portal, "bea@example.com", NEW_PASSWORD)
    assert flow.post(flow.last, "/family/adult").status_code == 400


@pytest.mark.parametrize(("email", "message"), [
    ("ana@example.com", "your own email address"),
    ("ANA@example.com ", "your own email address"),
    ("coach@example.com", "staff account"),
    ("not-an-address", "email address such as"),
])
def test_invitations_that_are_refused(app: Flask, email: str, message: str) -> None:
    w, client, _ = primary_signed_in(app)
    make_user(w.tenant, email="coach@example.com")  # staff
    response = invite(client, email)
    assert response.status_code == 400 and message in response.get_data(as_text=True)
    assert db.session.execute(select(func.count()).select_from(FamilyInvitation)).scalar_one() == 0
    assert mails("family_invitation") == []


def test_a_member_cannot_be_invited_again(app: Flask) -> None:
    w, client, _ = primary_signed_in(app)
    invite(client, "bea@example.com")
    join_with_new_account(app, "bea@example.com")
    response = invite(client, "bea@example.com")
    assert response.status_code == 400 and "already a member" in response.get_data(as_text=True)


def test_a_secondary_member_cannot_invite(app: Flask) -> None:
    w, client, _ = primary_signed_in(app)
    invite(client, "bea@example.com")
    bea_browser = join_with_new_account(app, "bea@example.com")
    flow = sign_in_to_portal(bea_browser, w.portal, "bea@example.com", NEW_PASSWORD)
    confirm_adult(flow, flow.last)
    page = bea_browser.get("/a/acme/account/family")
    assert page.status_code == 200 and "Send invitation" not in page.get_data(as_text=True)
    token = csrf_from(bea_browser.get("/a/acme/logout").get_data(as_text=True))  # any page's form token
    refused = bea_browser.post("/a/acme/account/family/invitations",
                               data={"csrf_token": token, "email": "x@example.com"})
    assert refused.status_code == 403
    assert mails("family_invitation") and all(m.to_address == "bea@example.com" for m in mails("family_invitation"))


def test_forms_without_the_csrf_token_are_refused(app: Flask) -> None:
    w, client, _ = primary_signed_in(app)
    response = client.post("/a/acme/account/family/invitations", data={"email": "bea@example.com"})
    assert response.status_code in (400, 403)
    assert db.session.execute(select(func.count()).select_from(FamilyInvitation)).scalar_one() == 0


def test_expired_cancelled_and_unknown_links(app: Flask) -> None:
    w, client, _ = primary_signed_in(app)
    invite(client, "bea@example.com")
    link = invitation_link(app, "bea@example.com")
    app.extensions["idp.clock"].advance(timedelta(seconds=w.tenant.invitation_link_seconds + 1))
    expired = app.test_client().get(link)
    assert expired.status_code == 410 and 'data-problem="expired"' in expired.get_data(as_text=True)
    assert app.test_client().get(link[:-3] + "abc").status_code == 404
    assert app.test_client().get("/a/acme/family/invitation/" + "x" * 500).status_code == 404


def test_the_primary_cancels_an_invitation(app: Flask) -> None:
    w, client, _ = primary_signed_in(app)
    invite(client, "bea@example.com")
    link = invitation_link(app, "bea@example.com")
    invitation = db.session.execute(select(FamilyInvitation)).scalar_one()
    page = client.get("/a/acme/account/family")
    done = client.post(f"/a/acme/account/family/invitations/{invitation.id}/cancel",
                       data={"csrf_token": csrf_from(page.get_data(as_text=True))})
    assert done.status_code == 303
    assert 'data-problem="cancelled"' in app.test_client().get(link).get_data(as_text=True)


def test_an_existing_customer_signs_in_on_the_invitation_page(app: Flask) -> None:
    w, client, _ = primary_signed_in(app)
    customer(w.tenant, "bea@example.com")
    invite(client, "bea@example.com")
    link = invitation_link(app, "bea@example.com")
    fresh = app.test_client()
    page = fresh.get(link)
    assert "Sign in and accept" in page.get_data(as_text=True)
    wrong = fresh.post(link, data={"csrf_token": csrf_from(page.get_data(as_text=True)), "password": "nope nope nope"})
    assert wrong.status_code == 401 and "not right" in wrong.get_data(as_text=True)
    assert db.session.execute(select(func.count()).select_from(FamilyMember)).scalar_one() == 0
    right = fresh.post(link, data={"csrf_token": csrf_from(wrong.get_data(as_text=True)), "password": PASSWORD})
    assert right.status_code == 200 and "You can now see" in right.get_data(as_text=True)
    assert db.session.execute(select(func.count()).select_from(FamilyMember)).scalar_one() == 1
    assert fresh.get("/a/acme/account/family").status_code in (200, 302)  # signed in now (the 18+ step may come first)


def test_someone_else_signed_in_cannot_accept_for_the_invitee(app: Flask) -> None:
    """Ana's own browser opening Bea's link does not make Ana a member: the form asks for Bea's account."""
    w, client, _ = primary_signed_in(app)
    customer(w.tenant, "bea@example.com")
    invite(client, "bea@example.com")
    link = invitation_link(app, "bea@example.com")
    page = client.get(link)
    html = page.get_data(as_text=True)
    assert "signed in here as ana@example.com" in html and "Sign in and accept" in html
    response = client.post(link, data={"csrf_token": csrf_from(html), "password": "wrong wrong wrong"})
    assert response.status_code == 401
    assert db.session.execute(select(func.count()).select_from(FamilyMember)).scalar_one() == 0


def two_families(app: Flask):  # type: ignore[no-untyped-def]
    """Bea is a secondary member of the Garcia and the Lee families (added as invitations would)."""
    w, client, _ = primary_signed_in(app)
    invite(client, "bea@example.com")
    join_with_new_account(app, "bea@example.com")
    lee = customer(w.tenant, "li@example.com")
    lees = make_family(w.tenant, lee, "The Lee family")
    li_browser = app.test_client()
    li_flow = sign_in_to_portal(li_browser, w.portal, "li@example.com")
    id_claims(li_flow, li_flow.last)
    invite(li_browser, "bea@example.com")
    link = invitation_link(app, "bea@example.com")
    fresh = app.test_client()
    page = fresh.get(link)
    assert fresh.post(link, data={"csrf_token": csrf_from(page.get_data(as_text=True)),
                                  "password": NEW_PASSWORD}).status_code == 200
    return w, lees


def choose(flow: Flow, page, family_id: str):  # type: ignore[no-untyped-def]
    assert path_of(page) == "/a/acme/family/choose", page.get_data(as_text=True)[:300]
    return flow.post(page, "/family/choose", family=family_id)


def test_the_family_switcher_and_select_account_without_a_password(app: Flask) -> None:
    w, lees = two_families(app)
    browser = app.test_client()
    flow = sign_in_to_portal(browser, w.portal, "bea@example.com", NEW_PASSWORD)
    picker = confirm_adult(flow, flow.last)
    html = picker.get_data(as_text=True)
    check_page(html)
    assert "The Garcia family" in html and "The Lee family" in html
    first = id_claims(flow, choose(flow, picker, lees.id))
    assert first["family"]["id"] == lees.id and first["family"]["access"] == "view"

    # The app asks again: the picker shows (last choice preselected), no password is asked.
    again = Flow(browser, w.portal, scope=FAMILY_SCOPE, prompt="select_account")
    picker = walk(browser, again.first)
    assert path_of(picker) == "/a/acme/family/choose"
    assert f'value="{lees.id}" checked' in picker.get_data(as_text=True)
    second = id_claims(again, choose(again, picker, w.family.id))
    assert second["family"]["id"] == w.family.id
    assert second["auth_time"] == first["auth_time"], "the same sign-in: no password again"

    # Refresh tokens keep the family of their grant.
    refreshed = browser.post("/a/acme/token", headers=w.portal.basic, data={
        "grant_type": "refresh_token", "refresh_token": first["_tokens"]["refresh_token"]}).get_json()
    from tests.login.pipeline_support import claims_of
    assert claims_of(refreshed["id_token"])["family"]["id"] == lees.id
    assert claims_of(refreshed["access_token"])["family"]["id"] == lees.id
    # Without prompt=select_account the session's choice stands.
    third = Flow(browser, w.portal, scope=FAMILY_SCOPE)
    assert id_claims(third, walk(browser, third.first))["family"]["id"] == w.family.id


def test_the_switcher_refuses_a_family_that_is_not_yours(app: Flask) -> None:
    w, lees = two_families(app)
    stranger = make_family(w.tenant, customer(w.tenant, "zed@example.com"), "The Zed family")
    flow = sign_in_to_portal(app.test_client(), w.portal, "bea@example.com", NEW_PASSWORD)
    picker = confirm_adult(flow, flow.last)
    refused = flow.post(picker, "/family/choose", family=stranger.id)
    assert refused.status_code == 400
    assert "code=" not in flow.resume().headers.get("Location", "")


def test_an_app_without_the_family_scope_gets_no_family_claim(app: Flask) -> None:
    w, client, _ = primary_signed_in(app)
    flow = Flow(app.test_client(), w.portal, scope="openid email")
    claims = id_claims(flow, flow.sign_in(email=w.primary.email))
    assert "family" not in claims and "family" not in claims["_access"]


def test_family_policies_block_the_primary_and_then_the_secondary_members(app: Flask, config) -> None:  # type: ignore[no-untyped-def]
    w, client, _ = primary_signed_in(app)
    invite(client, "bea@example.com")
    join_with_new_account(app, "bea@example.com")
    result = run_cli(config, "policy", "publish", "--tenant", "acme", "--kind", "family", "--version", "2026-1",
                     "--url", "https://acme.example/family-policies", "--json")
    assert result.exit_code == 0, result.output

    bea = sign_in_to_portal(app.test_client(), w.portal, "bea@example.com", NEW_PASSWORD)
    blocked = confirm_adult(bea, bea.last)
    assert blocked.status_code == 403 and path_of(blocked) == "/a/acme/family/blocked"
    assert "has not yet accepted" in blocked.get_data(as_text=True)
    assert "code=" not in bea.resume().headers.get("Location", ""), "no code for a blocked family"

    ana = sign_in_to_portal(app.test_client(), w.portal, w.primary.email)
    assert path_of(ana.last) == "/a/acme/policies" and "Family Policies" in ana.last.get_data(as_text=True)
    from idp.policies.models import PolicyDocument
    documents = [d.id for d in db.session.execute(select(PolicyDocument)).scalars()]
    id_claims(ana, ana.post(ana.last, "/policies/accept", document=documents))  # type: ignore[arg-type]

    assert "code=" in bea.resume().headers["Location"], "unblocked once the primary accepted"
    # staff never see family policies
    make_user(w.tenant, email="coach@example.com", email_verified=True)
    from tests.oauth.helpers import make_rp
    staff = Flow(app.test_client(), make_rp(w.tenant))
    assert "code=" in staff.sign_in().headers["Location"]


def test_the_primary_removes_a_member_and_their_access_ends_at_once(app: Flask) -> None:
    w, client, _ = primary_signed_in(app)
    invite(client, "bea@example.com")
    join_with_new_account(app, "bea@example.com")
    bea_flow = sign_in_to_portal(app.test_client(), w.portal, "bea@example.com", NEW_PASSWORD)
    tokens = id_claims(bea_flow, confirm_adult(bea_flow, bea_flow.last))["_tokens"]
    bea = db.session.execute(select(User).where(User.email == "bea@example.com")).scalar_one()

    page = client.get("/a/acme/account/family")
    assert "bea@example.com" in page.get_data(as_text=True)
    done = client.post(f"/a/acme/account/family/members/{bea.sub}/remove",
                       data={"csrf_token": csrf_from(page.get_data(as_text=True))})
    assert done.status_code == 303
    assert db.session.execute(select(func.count()).select_from(FamilyMember)).scalar_one() == 0
    refresh = bea_flow.client.post("/a/acme/token", headers=w.portal.basic, data={
        "grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]})
    assert refresh.status_code == 400 and refresh.get_json()["error"] == "invalid_grant"
    userinfo = bea_flow.client.get("/a/acme/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"})
    assert userinfo.status_code == 401, "the grant is revoked, so is its access token"
    assert db.session.execute(select(Grant).where(Grant.user_id == bea.id)).scalar_one().revoked_at is not None
    assert [m.to_address for m in mails("family_access_ended")] == ["bea@example.com"]
    assert [m.to_address for m in mails("family_member_removed")] == ["ana@example.com"]
    # Bea's next sign-in has no family
    again = sign_in_to_portal(app.test_client(), w.portal, "bea@example.com", NEW_PASSWORD)
    assert "family" not in id_claims(again, again.last)


def test_the_family_page_needs_a_signed_in_customer(app: Flask) -> None:
    w = world(app)
    fresh = app.test_client()
    response = fresh.get("/a/acme/account/family")
    assert response.status_code == 302 and "pool=customer" in response.headers["Location"]
    sign_in_page = fresh.get(response.headers["Location"]).get_data(as_text=True)
    assert 'name="pool" value="customer"' in sign_in_page and "Staff sign in" not in sign_in_page
    make_user(w.tenant, email="coach@example.com")
    staff = app.test_client()
    sign_in(staff)
    assert staff.get("/a/acme/account/family").status_code == 302, "staff have no family page"
    # a customer signs in from that page and reaches it
    signed = sign_in(fresh, extra_form={"pool": "customer"}, email="ana@example.com")
    assert signed.status_code == 303
    assert fresh.get("/a/acme/account/family").status_code == 200


def test_the_family_page_on_the_host_form(app: Flask) -> None:
    world(app)
    browser = app.test_client()
    host = "http://acme.localhost"
    sign_in(browser, prefix="", base_url=host, email="ana@example.com", extra_form={"pool": "customer"})
    page = browser.get("/account/family", base_url=host)
    assert page.status_code == 200 and "The Garcia family" in page.get_data(as_text=True)
    sent = browser.post("/account/family/invitations", base_url=host,
                        data={"csrf_token": csrf_from(page.get_data(as_text=True)), "email": "bea@example.com"})
    assert sent.status_code == 303
    from tests.mail.support import last_link
    link = last_link(app, to="bea@example.com")
    assert link.startswith(f"{host}/family/invitation/"), "the link names the issuer the primary used"


def test_an_invitation_link_of_one_tenant_is_nothing_at_another(app: Flask) -> None:
    w, client, _ = primary_signed_in(app)
    make_tenant("beta", "Beta Gym")
    invite(client, "bea@example.com")
    link = invitation_link(app, "bea@example.com")
    assert app.test_client().get(link.replace("/a/acme/", "/a/beta/")).status_code == 404


def test_a_new_sign_in_preselects_the_family_chosen_last_time(app: Flask) -> None:
    w, lees = two_families(app)
    first = sign_in_to_portal(app.test_client(), w.portal, "bea@example.com", NEW_PASSWORD)
    id_claims(first, choose(first, confirm_adult(first, first.last), lees.id))
    later = sign_in_to_portal(app.test_client(), w.portal, "bea@example.com", NEW_PASSWORD)  # another device
    html = later.last.get_data(as_text=True)
    assert path_of(later.last) == "/a/acme/family/choose", "each new sign-in asks again"
    assert f'value="{lees.id}" checked' in html and f'value="{w.family.id}" checked' not in html
