"""The operator's family commands: one JSON object with --json, `error: …` and exit 1 on bad input."""

from __future__ import annotations

import json

import pytest
from flask import Flask
from sqlalchemy import select

from idp.audit.models import AuditEvent
from idp.db import db
from idp.families.models import Family
from tests.families.support import customer, mails, run_cli
from tests.helpers import make_tenant


@pytest.fixture
def tenant(app: Flask):  # type: ignore[no-untyped-def]
    tenant = make_tenant()
    customer(tenant, "ana@example.com", name="Ana")
    customer(tenant, "dan@example.com")
    return tenant


def test_create_show_and_set_primary(app: Flask, config, tenant) -> None:  # type: ignore[no-untyped-def]
    created = run_cli(config, "family", "create", "--tenant", "acme", "--name", "  The Garcia   family ",
                      "--primary", "ANA@example.com", "--json")
    assert created.exit_code == 0, created.output
    body = json.loads(created.output)
    assert set(body) == {"id", "name", "primary"} and body["name"] == "The Garcia family"
    assert body["primary"]["email"] == "ana@example.com" and body["primary"]["sub"]

    shown = json.loads(run_cli(config, "family", "show", "--tenant", "acme", body["id"], "--json").output)
    assert shown["members"][0]["role"] == "primary" and shown["invitations"] == []
    assert "primary" in run_cli(config, "family", "show", "--tenant", "acme", body["id"]).output

    moved = run_cli(config, "family", "set-primary", "--tenant", "acme", body["id"], "--email", "dan@example.com",
                    "--json")
    assert moved.exit_code == 0, moved.output
    assert json.loads(moved.output)["primary"]["email"] == "dan@example.com"
    assert sorted(m.to_address for m in mails("family_primary_changed")) == ["ana@example.com", "dan@example.com"]
    events = [e.event for e in db.session.execute(select(AuditEvent)).scalars()]
    assert "family.created" in events and "family.primary_changed" in events
    actors = {e.event: e.actor for e in db.session.execute(select(AuditEvent)).scalars()}
    assert actors["family.primary_changed"] == "operator"


@pytest.mark.parametrize(("args", "message"), [
    (["create", "--tenant", "acme", "--name", "X", "--primary", "nobody@example.com"], "No customer account"),
    (["create", "--tenant", "acme", "--name", "   ", "--primary", "ana@example.com"], "family name"),
    (["create", "--tenant", "acme", "--name", "X", "--primary", "not-an-email"], "email address"),
    (["create", "--tenant", "nope", "--name", "X", "--primary", "ana@example.com"], "nope"),
    (["show", "--tenant", "acme", "0" * 40], "no such family"),
    (["revoke", "--tenant", "acme", "0" * 10, "--email", "ana@example.com"], "no such family"),
])
def test_bad_input_is_one_error_line(app: Flask, config, tenant, args: list[str], message: str) -> None:  # type: ignore[no-untyped-def]
    result = run_cli(config, "family", *args)
    assert result.exit_code == 1
    assert result.output.startswith("error: ") and message.lower() in result.output.lower(), result.output
    assert "Traceback" not in result.output


def test_one_family_per_primary_and_the_primary_is_not_revoked(app: Flask, config, tenant) -> None:  # type: ignore[no-untyped-def]
    run_cli(config, "family", "create", "--tenant", "acme", "--name", "A", "--primary", "ana@example.com")
    second = run_cli(config, "family", "create", "--tenant", "acme", "--name", "B", "--primary", "ana@example.com")
    assert second.exit_code == 1 and "already the primary guardian" in second.output
    family = db.session.execute(select(Family)).scalar_one()
    revoked = run_cli(config, "family", "revoke", "--tenant", "acme", family.id, "--email", "ana@example.com")
    assert revoked.exit_code == 1 and "cannot be revoked" in revoked.output
    stranger = run_cli(config, "family", "revoke", "--tenant", "acme", family.id, "--email", "dan@example.com")
    assert stranger.exit_code == 1 and "not a member" in stranger.output


def test_family_policies_are_a_tenants_own(app: Flask, config, tenant) -> None:  # type: ignore[no-untyped-def]
    make_tenant("beta", "Beta Gym")
    ok = run_cli(config, "policy", "publish", "--tenant", "acme", "--kind", "family", "--version", "1",
                 "--url", "https://acme.example/p", "--json")
    assert ok.exit_code == 0 and json.loads(ok.output)["tenant"] == "acme"
    assert run_cli(config, "policy", "publish", "--tenant", "beta", "--kind", "family", "--version", "1",
                   "--url", "https://beta.example/p").exit_code == 0, "the same label at another tenant"
    again = run_cli(config, "policy", "publish", "--tenant", "acme", "--kind", "family", "--version", "1",
                    "--url", "https://acme.example/p")
    assert again.exit_code == 1 and "already published" in again.output
    no_tenant = run_cli(config, "policy", "publish", "--kind", "family", "--version", "2", "--url", "https://x.example")
    assert no_tenant.exit_code == 1 and "--tenant" in no_tenant.output
    platform = run_cli(config, "policy", "publish", "--tenant", "acme", "--kind", "terms", "--version", "2",
                       "--url", "https://x.example")
    assert platform.exit_code == 1 and "without --tenant" in platform.output
