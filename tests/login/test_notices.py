"""The notices step: unverified email and missing business details, once per sign-in, never blocking."""

from __future__ import annotations

from pathlib import Path

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from idp.accounts.landing import set_permissions
from idp.business.service import apply_business, apply_location, missing_details
from idp.db import db
from idp.mail.models import OutboxMessage
from idp.provisioning.tenant_file import apply_tenant_file
from idp.tenancy.service import get_tenant
from tests.helpers import make_tenant, make_user
from tests.login.pipeline_support import Flow, path_of
from tests.oauth.helpers import make_rp
from tests.web.test_templates import check_page


def test_unverified_email_is_noticed_once_per_sign_in(app: Flask, client: FlaskClient) -> None:
    tenant = make_tenant()
    make_user(tenant)
    rp = make_rp(tenant)
    flow = Flow(client, rp)
    page = flow.sign_in()
    html = page.get_data(as_text=True)
    assert path_of(page) == "/a/acme/notices" and "Please confirm your email address" in html
    check_page(html)
    assert flow.resume().headers["Location"].startswith("/a/acme/notices")

    sent = flow.post(page, "/notices/send-verification")
    assert sent.status_code == 200 and 'id="verification-sent"' in sent.get_data(as_text=True)
    assert db.session.execute(select(OutboxMessage.kind)).scalar_one() == "verify_email"
    done = flow.post(sent, "/notices")
    assert "code=" in done.headers["Location"], "Continue goes on to the app"

    again = Flow(client, rp)  # same session: not shown twice
    assert "code=" in again.first.headers["Location"]
    assert client.get("/a/acme/notices").headers["Location"].endswith("/a/acme/continue")
    fresh = Flow(app.test_client(), rp)  # a new sign-in shows it again
    assert path_of(fresh.sign_in()) == "/a/acme/notices"


def test_missing_details_are_listed_for_staff_who_may_edit_settings(app: Flask, client: FlaskClient) -> None:
    tenant = make_tenant()
    make_user(tenant, email_verified=True)
    clerk = make_user(tenant, email="clerk@example.com", email_verified=True)
    set_permissions(clerk, ["classes", "students"])
    apply_business(tenant, {"legal_name": "Acme Ltd", "email": "office@acme.example", "phone": "1",
                            "address": "1 Pool Lane"})
    apply_location(tenant, {"name": "Downtown", "phone": "2", "address": "3 Main St"})
    db.session.commit()
    rp = make_rp(tenant)
    page = Flow(client, rp).sign_in()
    html = page.get_data(as_text=True)
    assert path_of(page) == "/a/acme/notices"
    assert "Location “Downtown”: email address" in html and "receipt emails will not be sent" in html
    assert "Business phone" not in html
    assert "code=" in Flow(app.test_client(), rp).sign_in(email="clerk@example.com").headers["Location"]


def test_a_tenant_that_keeps_no_details_here_is_not_nagged(app: Flask) -> None:
    tenant = make_tenant()
    assert missing_details(tenant) == []
    apply_location(tenant, {"name": "Pool"})
    labels = [detail.label for detail in missing_details(tenant)]
    assert "Business name" in labels and "Location “Pool”: email address" in labels


def test_business_and_locations_come_from_the_tenant_file(app: Flask, tmp_path: Path) -> None:
    path = tmp_path / "acme.toml"
    path.write_text('''
account = "acme"
name = "Acme"
[settings]
second_factor_policy = "required"
[business]
legal_name = "Acme Ltd"
email = "office@acme.example"
phone = "+44 1"
address = "1 Pool Lane"
[[locations]]
name = "Downtown"
phone = "+44 2"
address = "2 Main St"
[[users]]
email = "owner@acme.example"
landing_page = "dashboard"
permissions = ["dashboard", "settings"]
''')
    apply_tenant_file(path)
    apply_tenant_file(path)  # idempotent
    tenant = get_tenant("acme")
    assert tenant.second_factor_policy == "required"
    assert [d.label for d in missing_details(tenant)] == ["Location “Downtown”: email address"]
    bad = tmp_path / "bad.toml"
    bad.write_text('account = "acme"\nname = "Acme"\n[settings]\nsecond_factor_policy = "sometimes"\n')
    from idp.provisioning.tenant_file import TenantFileError

    try:
        apply_tenant_file(bad)
    except TenantFileError as exc:
        assert "off, optional, required" in str(exc)
    else:
        raise AssertionError("an unknown policy is refused")
