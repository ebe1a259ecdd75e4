"""Clients declared in tenant TOML: created once, updated in place, errors named."""

from __future__ import annotations

from pathlib import Path

import pytest
from flask import Flask

from idp.oauth.clients import check_client_secret, find_client
from idp.provisioning.tenant_file import TenantFileError, apply_tenant_file
from idp.tenancy.service import get_tenant
from idp.unit_of_work import unit_of_work

TOML = """
account = "toml-swim"
name = "TOML Swim"
[[clients]]
client_id = "office"
client_name = "Office"
redirect_uris = ["{uri}"]
first_party = true
default = true
initiate_login_uri = "https://office.example/login"
"""


def test_clients_are_created_then_updated_in_place(app: Flask, tmp_path: Path) -> None:
    path = tmp_path / "t.toml"
    path.write_text(TOML.format(uri="https://office.example/cb"))
    result = apply_tenant_file(path)
    assert result.clients_created == ["office"]
    secret = dict(result.client_secrets)["office"]
    tenant = get_tenant("toml-swim")
    client = find_client(tenant, "office")
    assert client is not None and client.first_party and client.is_default
    assert check_client_secret(client, secret)
    path.write_text(TOML.format(uri="https://office.example/new-cb"))
    again = apply_tenant_file(path)
    assert again.clients_created == [] and again.client_secrets == []
    client = find_client(tenant, "office")
    assert client is not None and client.redirect_uris == ["https://office.example/new-cb"]
    assert check_client_secret(client, secret)  # the secret survives updates


def test_a_bad_client_is_named_and_nothing_is_applied(app: Flask, tmp_path: Path) -> None:
    path = tmp_path / "t.toml"
    path.write_text(TOML.format(uri="https://office.example/cb#fragment"))
    with pytest.raises(TenantFileError, match="client office"), unit_of_work():
        apply_tenant_file(path)
    from idp.tenancy.service import find_tenant

    assert find_tenant("toml-swim") is None


def test_the_demo_tenant_file_applies(app: Flask) -> None:
    from idp.config import PROJECT_ROOT

    result = apply_tenant_file(PROJECT_ROOT / "tenants" / "demo.toml")
    tenant = get_tenant("demo")
    client = find_client(tenant, "demo-portal")
    assert client is not None and check_client_secret(client, "demo-portal-secret-not-for-production")
    assert result.demo_credentials


SERVICE = """
account = "toml-swim"
name = "TOML Swim"
[[clients]]
client_id = "office-backend"
client_name = "Office back end"
grant_types = ["client_credentials"]
scope = "users:write business:read"
{extra}
"""


def test_operator_clients_keep_admin_scopes_and_client_credentials(app: Flask, tmp_path: Path) -> None:
    path = tmp_path / "t.toml"
    path.write_text(SERVICE.format(extra=""))
    apply_tenant_file(path)
    client = find_client(get_tenant("toml-swim"), "office-backend")
    assert client is not None
    assert client.scope == "users:write business:read" and client.grant_types == ["client_credentials"]


def test_a_client_whose_jwks_does_not_load_is_named(app: Flask, tmp_path: Path) -> None:
    path = tmp_path / "t.toml"
    path.write_text(SERVICE.format(extra='token_endpoint_auth_method = "private_key_jwt"\n'
                                         'jwks = { keys = [{ kty = "bogus" }] }'))
    with pytest.raises(TenantFileError, match="client office-backend: jwks"):
        apply_tenant_file(path)
