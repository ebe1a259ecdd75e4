"""Connections declared in tenant TOML: the secret comes from a variable, never the file; applied
again, the stored connection follows the file and keeps its links."""

from __future__ import annotations

from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import select

from idp.db import db
from idp.federation.connections import client_secret, connection_by_slug, email_domains
from idp.federation.models import Connection
from idp.provisioning.tenant_file import TenantFileError, apply_tenant_file
from idp.tenancy.service import get_tenant
from idp.unit_of_work import unit_of_work

TOML = """
account = "toml-swim"
name = "TOML Swim"
[[connections]]
slug = "acme-sso"
kind = "oidc"
name = "{name}"
client_id = "portcullis"
client_secret_env = "ACME_SSO_SECRET"
discovery_url = "https://sso.acme.example/.well-known/openid-configuration"
email_domains = [{domains}]
sso_required = true
"""


def apply(path: Path, secrets: dict[str, str]) -> object:
    with unit_of_work():
        return apply_tenant_file(path, secrets)


def test_connections_are_added_then_follow_the_file(app: Flask, tmp_path: Path) -> None:
    path = tmp_path / "t.toml"
    path.write_text(TOML.format(name="Acme SSO", domains='"acme.example"'))
    result = apply(path, {"ACME_SSO_SECRET": "first-secret"})
    assert result.connections_created == ["acme-sso"]  # type: ignore[attr-defined]
    tenant = get_tenant("toml-swim")
    connection = connection_by_slug(tenant, "acme-sso")
    assert connection is not None and connection.sso_required and client_secret(connection) == "first-secret"
    first_id = connection.id
    path.write_text(TOML.format(name="Acme Single Sign-On", domains='"acme.example", "acme.test"'))
    again = apply(path, {"ACME_SSO_SECRET": "rotated-secret"})
    assert again.connections_created == []  # type: ignore[attr-defined]
    db.session.expire_all()
    updated = connection_by_slug(tenant, "acme-sso")
    assert updated is not None and updated.id == first_id, "updated in place: its links stay"
    assert updated.name == "Acme Single Sign-On" and client_secret(updated) == "rotated-secret"
    assert email_domains(updated) == ["acme.example", "acme.test"]
    assert len(db.session.execute(select(Connection)).all()) == 1


@pytest.mark.parametrize(("extra", "secrets", "message"), [
    ("", {}, r"ACME_SSO_SECRET \(client_secret_env\) is not set"),
    ('client_secret = "in-the-file"\n', {"ACME_SSO_SECRET": "s"}, "secrets come from client_secret_env"),
    ('jit = "yes"\n', {"ACME_SSO_SECRET": "s"}, "'jit' must be true or false"),
])
def test_bad_connection_entries_name_the_problem(app: Flask, tmp_path: Path, extra: str, secrets: dict[str, str],
                                                 message: str) -> None:
    path = tmp_path / "t.toml"
    path.write_text(TOML.format(name="Acme SSO", domains='"acme.example"') + extra)
    with pytest.raises(TenantFileError, match=message):
        apply(path, secrets)


def test_a_connection_cannot_change_its_kind(app: Flask, tmp_path: Path) -> None:
    path = tmp_path / "t.toml"
    path.write_text(TOML.format(name="Acme SSO", domains='"acme.example"'))
    apply(path, {"ACME_SSO_SECRET": "s"})
    path.write_text(TOML.format(name="Acme SSO", domains='"acme.example"').replace('kind = "oidc"', 'kind = "google"'))
    with pytest.raises(TenantFileError, match="is oidc"):
        apply(path, {"ACME_SSO_SECRET": "s"})
