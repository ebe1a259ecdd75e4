"""Updated Terms & Privacy: published versions block until accepted; decline signs out."""

from __future__ import annotations

import base64

import pytest
from click.testing import CliRunner
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from idp.accounts.models import User
from idp.audit.models import AuditEvent
from idp.cli import main
from idp.db import db
from idp.policies.models import PolicyAcceptance, PolicyDocument
from idp.sessions.models import BrowserSession
from tests.helpers import csrf_from, make_tenant, make_user, sign_in
from tests.login.pipeline_support import Flow, path_of, walk
from tests.oauth.helpers import REDIRECT_URI, make_rp, query_of
from tests.web.test_templates import check_page


@pytest.fixture
def publish(app: Flask, config):  # type: ignore[no-untyped-def]
    env = {"IDP_DATABASE_URL": config.database_url,
           "IDP_MASTER_KEY": base64.urlsafe_b64encode(config.master_key).decode()}

    def run(kind: str, version: str, url: str = "https://example.com/terms", *extra: str):  # type: ignore[no-untyped-def]
        result = CliRunner().invoke(main, ["policy", "publish", "--kind", kind, "--version", version, "--url", url,
                                           *extra], env=env)
        db.session.expire_all()
        return result

    return run


@pytest.fixture
def rp(app: Flask):  # type: ignore[no-untyped-def]
    tenant = make_tenant()
    make_user(tenant, email_verified=True)
    return make_rp(tenant)


def test_nothing_published_means_no_page(client: FlaskClient, rp) -> None:  # type: ignore[no-untyped-def]
    flow = Flow(client, rp)
    assert "code=" in flow.sign_in().headers["Location"]


def test_accepting_records_version_time_and_ip_and_the_newsletter_choice(app: Flask, client: FlaskClient, rp,  # type: ignore[no-untyped-def]
                                                                         publish) -> None:
    assert publish("terms", "2025-01", "https://example.com/terms/2025-01").exit_code == 0
    assert publish("privacy", "v3", "https://example.com/privacy/v3", "--json").exit_code == 0
    flow = Flow(client, rp)
    page = flow.sign_in()
    html = page.get_data(as_text=True)
    assert path_of(page) == "/a/acme/policies"
    assert 'href="https://example.com/terms/2025-01"' in html and 'href="https://example.com/privacy/v3"' in html
    before, after = html.split('id="newsletter"', 1)
    newsletter = before.rsplit("<input", 1)[1] + after.split(">", 1)[0]
    assert 'type="checkbox"' in newsletter and "checked" not in newsletter, "offered, never pre-ticked"
    check_page(html)
    assert flow.resume().headers["Location"].startswith("/a/acme/policies"), "no code until accepted"

    documents = [d.id for d in db.session.execute(select(PolicyDocument)).scalars()]
    done = flow.post(page, "/policies/accept", document=documents, newsletter="on")  # type: ignore[arg-type]
    assert "code=" in done.headers["Location"]
    rows = {row.kind: row for row in db.session.execute(select(PolicyAcceptance)).scalars()}
    assert rows["terms"].version == "2025-01" and rows["privacy"].version == "v3"
    assert rows["terms"].ip == "127.0.0.1" and rows["terms"].accepted_at is not None
    assert db.session.execute(select(User)).scalar_one().newsletter is True
    events = sorted(e.event for e in db.session.execute(select(AuditEvent)).scalars())
    assert events == ["newsletter.subscribed", "policy.accepted", "policy.accepted"]
    # accepted once: the next sign-in goes straight through
    assert "code=" in Flow(app.test_client(), rp).sign_in().headers["Location"]


def test_unticked_newsletter_stays_off(app: Flask, client: FlaskClient, rp, publish) -> None:  # type: ignore[no-untyped-def]
    publish("terms", "1")
    flow = Flow(client, rp)
    page = flow.sign_in()
    doc = db.session.execute(select(PolicyDocument)).scalar_one()
    assert "code=" in flow.post(page, "/policies/accept", document=doc.id).headers["Location"]
    assert db.session.execute(select(User)).scalar_one().newsletter is False


def test_a_newer_version_asks_again_and_an_old_form_is_refused(app: Flask, client: FlaskClient, rp,  # type: ignore[no-untyped-def]
                                                              publish) -> None:
    publish("terms", "2024-06")
    flow = Flow(client, rp)
    old_page = flow.sign_in()
    old = db.session.execute(select(PolicyDocument)).scalar_one()
    flow.post(old_page, "/policies/accept", document=old.id)
    publish("terms", "2024-01", "https://example.com/terms/what-changed")  # published later: newer, whatever its name

    again = Flow(app.test_client(), rp)
    page = again.sign_in()
    html = page.get_data(as_text=True)
    assert path_of(page) == "/a/acme/policies" and "you accepted version 2024-06" in html
    assert 'href="https://example.com/terms/what-changed"' in html
    replayed = again.post(page, "/policies/accept", document=old.id)
    assert replayed.status_code == 409 and "documents changed" in replayed.get_data(as_text=True)
    assert again.post(page, "/policies/accept", document="made-up").status_code == 409
    assert again.resume().headers["Location"].startswith("/a/acme/policies")
    assert len(db.session.execute(select(PolicyAcceptance)).scalars().all()) == 1
    new = db.session.execute(select(PolicyDocument).where(PolicyDocument.version == "2024-01")).scalar_one()
    assert "code=" in again.post(page, "/policies/accept", document=new.id).headers["Location"]


def test_declining_signs_out_and_tells_the_waiting_app(app: Flask, client: FlaskClient, rp, publish) -> None:  # type: ignore[no-untyped-def]
    publish("privacy", "7")
    flow = Flow(client, rp)
    page = flow.sign_in()
    assert client.get("/a/acme/signed-in").headers["Location"].startswith("/a/acme/policies"), "blocks every page"
    declined = flow.post(page, "/policies/decline")
    assert declined.status_code == 302 and declined.headers["Location"].startswith(REDIRECT_URI)
    assert query_of(declined.headers["Location"]) == {"error": "access_denied", "iss": "http://localhost/a/acme",
                                                      "state": "st-1"}
    assert db.session.execute(select(BrowserSession)).scalar_one().ended_at is not None
    assert client.get("/a/acme/signed-in").status_code == 302
    assert flow.resume().status_code == 400, "the request is over"
    events = [e.event for e in db.session.execute(select(AuditEvent)).scalars()]
    assert events == ["policy.declined"]


def test_declining_a_direct_sign_in_says_signed_out(app: Flask, client: FlaskClient, rp, publish) -> None:  # type: ignore[no-untyped-def]
    publish("terms", "8")
    page = walk(client, sign_in(client))
    assert path_of(page) == "/a/acme/policies"
    declined = client.post("/a/acme/policies/decline", data={"csrf_token": csrf_from(page.get_data(as_text=True))})
    assert declined.headers["Location"] == "/a/acme/signed-out"
    assert db.session.execute(select(BrowserSession)).scalar_one().ended_at is not None


def test_a_password_alone_cannot_reach_the_steps_after_the_second_factor(app: Flask, client: FlaskClient,  # type: ignore[no-untyped-def]
                                                                         publish) -> None:
    tenant = make_tenant("gym", second_factor_policy="required")
    make_user(tenant)  # unverified: a notice would be due too
    publish("terms", "9")
    flow = Flow(client, make_rp(tenant))
    page = flow.sign_in()
    assert path_of(page) == "/a/gym/second-factor"
    form = {"csrf_token": csrf_from(page.get_data(as_text=True)), "request": flow.request_id}
    doc = db.session.execute(select(PolicyDocument)).scalar_one()
    for path, fields in [("/policies", None), ("/policies/accept", {"document": doc.id, "newsletter": "on"}),
                         ("/policies/decline", {}), ("/notices", None), ("/notices", {}),
                         ("/notices/send-verification", {})]:
        response = (client.get(f"/a/gym{path}", query_string={"request": flow.request_id}) if fields is None
                    else client.post(f"/a/gym{path}", data={**form, **fields}))
        assert response.status_code in (302, 303), path
        assert response.headers["Location"].startswith("/a/gym/second-factor"), path
    assert db.session.execute(select(PolicyAcceptance)).first() is None
    assert db.session.execute(select(User)).scalar_one().newsletter is False
    assert db.session.execute(select(BrowserSession)).scalar_one().ended_at is None, "nor decline for them"
    assert db.session.execute(select(AuditEvent)).first() is None


def test_no_newsletter_offer_without_an_email_or_when_subscribed(app: Flask, client: FlaskClient, rp,  # type: ignore[no-untyped-def]
                                                                 publish) -> None:
    publish("terms", "1")
    user = db.session.execute(select(User)).scalar_one()
    user.newsletter = True
    db.session.commit()
    page = Flow(client, rp).sign_in()
    assert 'name="newsletter"' not in page.get_data(as_text=True)


@pytest.mark.parametrize(("args", "message"), [
    (("terms", "1", "ftp://example.com/x"), "absolute http(s) URL"),
    (("terms", "has space"), "without spaces"),
])
def test_publish_refuses_bad_input(publish, args, message) -> None:  # type: ignore[no-untyped-def]
    result = publish(*args)
    assert result.exit_code == 1 and message in result.output


def test_publish_refuses_a_version_twice_and_a_bad_kind(publish) -> None:  # type: ignore[no-untyped-def]
    assert publish("terms", "1").exit_code == 0
    result = publish("terms", "1")
    assert result.exit_code == 1 and "already published" in result.output
    assert publish("cookies", "1").exit_code == 2
