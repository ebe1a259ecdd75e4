"""The steps run in order — second factor, policies, notices — and only then does a code go back."""

from __future__ import annotations

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from idp.db import db
from idp.oauth import interactions
from idp.policies.models import PolicyDocument
from idp.policies.service import publish
from tests.helpers import make_tenant, make_user
from tests.login.pipeline_support import Flow, claims_of, path_of, secret_from, totp_code, walk
from tests.oauth.helpers import make_rp


def test_the_documented_order(app: Flask) -> None:
    assert [step.name for step in interactions.registered_steps()] == [
        "second-factor", "policies", "adult", "family", "family-blocked", "notices"]


def test_every_step_in_order_then_the_code(app: Flask, client: FlaskClient) -> None:
    tenant = make_tenant(second_factor_policy="required")
    make_user(tenant)  # unverified email: a notice
    publish("terms", "1", "https://example.com/terms")
    db.session.commit()
    rp = make_rp(tenant)
    flow = Flow(client, rp)
    page = flow.sign_in()
    assert path_of(page) == "/a/acme/second-factor"
    done = flow.post(page, "/second-factor/enrol", code=totp_code(app, secret_from(page.get_data(as_text=True))))
    href = done.get_data(as_text=True).split('id="continue"')[0].rsplit('href="', 1)[1].split('"')[0]
    page = walk(client, client.get(href.replace("&amp;", "&")))
    assert path_of(page) == "/a/acme/policies"
    doc = db.session.execute(select(PolicyDocument)).scalar_one()
    page = flow.post(page, "/policies/accept", document=doc.id)
    assert path_of(page) == "/a/acme/notices"
    # replaying an earlier step's form changes nothing and skips nothing
    assert path_of(flow.post(page, "/policies/accept", document=doc.id)) == "/a/acme/notices"
    landed = flow.post(page, "/notices")
    claims = claims_of(flow.tokens(landed)["id_token"])
    assert claims["amr"] == ["pwd", "otp"] and claims["landing_page"] == "welcome"


def test_signing_in_again_mid_pipeline_starts_the_remaining_steps_again(app: Flask, client: FlaskClient) -> None:
    tenant = make_tenant()
    make_user(tenant)
    publish("privacy", "2", "https://example.com/privacy")
    db.session.commit()
    rp = make_rp(tenant)
    flow = Flow(client, rp)
    page = flow.sign_in()
    doc = db.session.execute(select(PolicyDocument)).scalar_one()
    assert path_of(flow.post(page, "/policies/accept", document=doc.id)) == "/a/acme/notices"
    # the tab is closed; the person comes back later and signs in again
    again = Flow(client, rp)
    assert path_of(again.sign_in()) == "/a/acme/notices", "accepted stays accepted; the notice shows again"
