"""The second-factor step: enrolment inside the pipeline, codes once, recovery codes, step-up."""

from __future__ import annotations

from datetime import timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from idp.audit.models import AuditEvent
from idp.db import db
from idp.mfa.models import RecoveryCode, SecondFactor
from idp.oauth.discovery import ACR_MFA, ACR_PASSWORD
from idp.tenancy.service import get_tenant
from tests.helpers import make_tenant, make_user
from tests.login.pipeline_support import (
    Flow,
    claims_of,
    next_period,
    path_of,
    recovery_codes_from,
    secret_from,
    totp_code,
)
from tests.oauth.helpers import make_rp
from tests.web.test_templates import check_page


@pytest.fixture
def rp(app: Flask):  # type: ignore[no-untyped-def]
    tenant = make_tenant(second_factor_policy="required")
    make_user(tenant, email_verified=True)
    return make_rp(tenant)


def enrol(app: Flask, client: FlaskClient, rp) -> tuple[Flow, str, list[str], object]:  # type: ignore[no-untyped-def]
    flow = Flow(client, rp)
    page = flow.sign_in()
    assert path_of(page) == "/a/acme/second-factor"
    secret = secret_from(page.get_data(as_text=True))
    done = flow.post(page, "/second-factor/enrol", code=totp_code(app, secret))
    assert done.status_code == 200, done.get_data(as_text=True)
    return flow, secret, recovery_codes_from(done.get_data(as_text=True)), done


def test_required_policy_enrols_inside_the_pipeline(app: Flask, client: FlaskClient, rp) -> None:  # type: ignore[no-untyped-def]
    flow = Flow(client, rp)
    page = flow.sign_in()
    html = page.get_data(as_text=True)
    assert path_of(page) == "/a/acme/second-factor" and "Set up two-step sign-in" in html
    assert '<svg role="img"' in html and "<title>QR code" in html, "a server-rendered SVG QR code"
    check_page(html)
    secret = secret_from(html)
    assert flow.resume().headers["Location"].startswith("/a/acme/second-factor"), "no code before enrolment"

    wrong = flow.post(page, "/second-factor/enrol", code="000000" if totp_code(app, secret) != "000000" else "111111")
    assert wrong.status_code == 400 and 'aria-describedby="code-hint code-error"' in wrong.get_data(as_text=True)
    assert secret_from(wrong.get_data(as_text=True)) == secret, "the same secret while this session enrols"

    done = flow.post(page, "/second-factor/enrol", code=totp_code(app, secret))
    codes = recovery_codes_from(done.get_data(as_text=True))
    assert len(codes) == 10 and len(set(codes)) == 10
    tokens = flow.tokens(_continue(client, done))
    claims = claims_of(tokens["id_token"])
    assert claims["amr"] == ["pwd", "otp"] and claims["acr"] == ACR_MFA


def test_showing_the_enrolment_page_changes_nothing(app: Flask, client: FlaskClient, rp) -> None:  # type: ignore[no-untyped-def]
    flow = Flow(client, rp)
    secret = secret_from(flow.sign_in().get_data(as_text=True))
    again = client.get("/a/acme/second-factor", query_string={"request": flow.request_id})
    assert again.status_code == 200 and secret_from(again.get_data(as_text=True)) == secret, "a reload: same secret"
    assert client.head("/a/acme/second-factor", query_string={"request": flow.request_id}).status_code == 200
    assert db.session.execute(select(SecondFactor)).first() is None, "GET and HEAD store nothing"


def _continue(client: FlaskClient, page):  # type: ignore[no-untyped-def]
    from tests.login.pipeline_support import walk

    href = page.get_data(as_text=True).split('href="')[-1].split('"')[0].replace("&amp;", "&")
    return walk(client, client.get(href))


def test_secrets_are_sealed_and_recovery_codes_hashed(app: Flask, client: FlaskClient, rp) -> None:  # type: ignore[no-untyped-def]
    _, secret, codes, _ = enrol(app, client, rp)
    factor = db.session.execute(select(SecondFactor)).scalar_one()
    assert secret not in factor.secret_sealed and factor.confirmed_at is not None
    stored = [row.code_hash for row in db.session.execute(select(RecoveryCode)).scalars()]
    assert len(stored) == 10 and not any(code.replace("-", "") in h or code in h for code in codes for h in stored)
    events = [e.event for e in db.session.execute(select(AuditEvent)).scalars()]
    assert "second_factor.enrolled" in events


def test_a_code_is_accepted_once_with_one_step_of_drift(app: Flask, client: FlaskClient, rp) -> None:  # type: ignore[no-untyped-def]
    _, secret, _, _ = enrol(app, client, rp)
    next_period(app)
    second = app.test_client()
    flow = Flow(second, rp)
    page = flow.sign_in()
    assert path_of(page) == "/a/acme/second-factor" and "Enter your code" in page.get_data(as_text=True)
    check_page(page.get_data(as_text=True))
    assert flow.post(page, "/second-factor", code=totp_code(app, secret, steps=-2)).status_code == 400, "too old"
    code = totp_code(app, secret, steps=1)  # the phone's clock runs a little fast
    passed = flow.post(page, "/second-factor", code=code)
    assert passed.status_code == 302 and "code=" in passed.headers["Location"]

    third = app.test_client()
    replay = Flow(third, rp)
    page = replay.sign_in()
    refused = replay.post(page, "/second-factor", code=code)
    assert refused.status_code == 400, "the same time step is never accepted twice"
    assert replay.post(page, "/second-factor", code=totp_code(app, secret)).status_code == 400, "nor an earlier one"
    next_period(app)
    next_period(app)
    assert replay.post(page, "/second-factor", code=totp_code(app, secret)).status_code == 302


def test_a_recovery_code_works_once(app: Flask, client: FlaskClient, rp) -> None:  # type: ignore[no-untyped-def]
    _, _, codes, _ = enrol(app, client, rp)
    flow = Flow(app.test_client(), rp)
    page = flow.sign_in()
    passed = flow.post(page, "/second-factor", code=codes[3].upper())
    assert passed.status_code == 302 and "code=" in passed.headers["Location"]
    assert claims_of(flow.tokens(passed)["id_token"])["acr"] == ACR_MFA
    again = Flow(app.test_client(), rp)
    page = again.sign_in()
    assert again.post(page, "/second-factor", code=codes[3]).status_code == 400
    events = [e.event for e in db.session.execute(select(AuditEvent)).scalars()]
    assert "second_factor.recovery_code_used" in events


def test_wrong_codes_are_throttled_like_passwords(app: Flask, client: FlaskClient, rp) -> None:  # type: ignore[no-untyped-def]
    _, secret, _, _ = enrol(app, client, rp)
    flow = Flow(app.test_client(), rp)
    page = flow.sign_in()
    wrong = "123456" if totp_code(app, secret) != "123456" else "654321"
    statuses = [flow.post(page, "/second-factor", code=wrong).status_code for _ in range(7)]
    assert statuses[:5] == [400] * 5 and 429 in statuses[5:]
    throttled = flow.post(page, "/second-factor", code=totp_code(app, secret, steps=1))
    assert throttled.status_code == 429 and throttled.headers["Retry-After"], "even a right code waits"
    app.extensions["idp.clock"].advance(timedelta(minutes=20))
    assert flow.post(page, "/second-factor", code=totp_code(app, secret)).status_code == 302


def test_closing_the_tab_mid_enrolment_starts_again_with_a_new_secret(app: Flask, client: FlaskClient, rp) -> None:  # type: ignore[no-untyped-def]
    first = Flow(client, rp)
    old_secret = secret_from(first.sign_in().get_data(as_text=True))
    again = Flow(app.test_client(), rp)  # another sign-in: a new session
    page = again.sign_in()
    assert path_of(page) == "/a/acme/second-factor"
    new_secret = secret_from(page.get_data(as_text=True))
    assert new_secret != old_secret, "a password alone never shows a secret someone else enrols"
    old = again.post(page, "/second-factor/enrol", code=totp_code(app, old_secret))
    assert old.status_code == 400 or totp_code(app, old_secret) == totp_code(app, new_secret)
    # the first browser's enrolment is over: its session now enrols a fresh secret too
    assert path_of(first.sign_in()) == "/a/acme/second-factor"


def test_no_step_is_skipped_by_editing_urls(app: Flask, client: FlaskClient, rp) -> None:  # type: ignore[no-untyped-def]
    flow = Flow(client, rp)
    flow.sign_in()
    assert flow.resume().headers["Location"].startswith("/a/acme/second-factor")
    skipped = client.get("/a/acme/continue", query_string={"request": flow.request_id})
    assert skipped.headers["Location"].startswith("/a/acme/second-factor")
    assert client.get("/a/acme/policies").headers["Location"].startswith("/a/acme/second-factor")
    # the session exists, but neither an app nor the signed-in page is reached before the step is done
    assert client.get("/a/acme/signed-in").headers["Location"].startswith("/a/acme/second-factor")


def test_step_up_with_acr_values_inside_an_existing_session(app: Flask, client: FlaskClient) -> None:
    tenant = make_tenant(second_factor_policy="optional")
    make_user(tenant, email_verified=True)
    rp = make_rp(tenant)
    plain = Flow(client, rp)
    first = plain.sign_in()
    assert claims_of(plain.tokens(first)["id_token"])["acr"] == ACR_PASSWORD
    stepped = Flow(client, rp, acr_values=ACR_MFA)  # same browser, same session
    page = _walk_first(client, stepped)
    assert path_of(page) == "/a/acme/second-factor", "asking for mfa forces the step"
    secret = secret_from(page.get_data(as_text=True))
    done = stepped.post(page, "/second-factor/enrol", code=totp_code(app, secret))
    tokens = stepped.tokens(_continue(client, done))
    assert claims_of(tokens["id_token"])["amr"] == ["pwd", "otp"]


def test_with_the_policy_off_acr_values_cannot_force_enrolment(app: Flask, client: FlaskClient) -> None:
    tenant = make_tenant()
    make_user(tenant, email_verified=True)
    rp = make_rp(tenant)
    flow = Flow(client, rp, acr_values=ACR_MFA)
    tokens = flow.tokens(flow.sign_in())
    assert claims_of(tokens["id_token"])["acr"] == ACR_PASSWORD, "the app learns what it got"


def test_optional_policy_lets_people_enrol_from_the_signed_in_page(app: Flask, client: FlaskClient) -> None:
    from tests.helpers import sign_in

    tenant = make_tenant(second_factor_policy="optional")
    make_user(tenant, email_verified=True)
    sign_in(client)
    page = client.get("/a/acme/second-factor/setup")
    assert page.status_code == 200 and secret_from(page.get_data(as_text=True))
    get_tenant("acme").second_factor_policy = "off"
    db.session.commit()
    assert client.get("/a/acme/second-factor/setup").status_code == 302


def _walk_first(client: FlaskClient, flow: Flow):  # type: ignore[no-untyped-def]
    from tests.login.pipeline_support import walk

    return walk(client, flow.first)
