"""The operator interface: scripts depend on its arguments, JSON and exit statuses."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import select

from idp.accounts.models import User
from idp.cli import main
from idp.db import db
from idp.oauth.models import Client
from idp.signing.models import SigningKey
from idp.tenancy.models import Tenant


@pytest.fixture
def idp(app, config):  # type: ignore[no-untyped-def]
    env = {
        "IDP_DATABASE_URL": config.database_url,
        "IDP_MASTER_KEY": base64.urlsafe_b64encode(config.master_key).decode(),
        "IDP_PUBLIC_URL": "http://127.0.0.1:8000",
        "IDP_BASE_DOMAIN": "localhost",
    }

    def run(*args: str) -> Result:
        result = CliRunner().invoke(main, list(args), env=env)
        db.session.expire_all()
        return result

    run.env = env  # type: ignore[attr-defined]
    return run


def test_tenant_create_json(idp) -> None:  # type: ignore[no-untyped-def]
    result = idp("tenant", "create", "blue-lagoon", "--name", "Blue Lagoon", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["account"] == "blue-lagoon"
    tenant = db.session.execute(select(Tenant).where(Tenant.account == "blue-lagoon")).scalar_one()
    algs = sorted(k.alg for k in db.session.execute(
        select(SigningKey).where(SigningKey.tenant_id == tenant.id)).scalars())
    assert algs == ["ES256", "RS256"], "a tenant is created with its own signing keys"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("tenant", "create", "ab", "--name", "X"), "3 to 63"),
        (("tenant", "create", "Bad_Name", "--name", "X"), "lower-case"),
        (("tenant", "create", "admin", "--name", "X"), "reserved"),
        (("tenant", "create", "acme", "--name", "X"), "already taken"),
        (("user", "create", "--tenant", "nope", "--email", "a@b.co", "--password", "x" * 12), "no tenant"),
        (("user", "create", "--tenant", "acme", "--email", "not-an-email", "--password", "x" * 12), "email"),
        (("user", "create", "--tenant", "acme", "--email", "a@b.co", "--password", "short"), "at least 12"),
        (("client", "create", "--tenant", "acme", "--name", "RP", "--redirect-uri", "https://rp.example/cb#x",
          "--json"), "fragment"),
        (("keys", "rotate", "--tenant", "nope"), "no tenant"),
        (("user", "create", "--tenant", "acme", "--email", "a@b.co", "--locale", "French"), "BCP 47"),
        (("user", "create", "--tenant", "acme", "--email", "a@b.co", "--locale", "fr-" + "x" * 40), "BCP 47"),
    ],
)
def test_errors_are_one_line_and_non_zero(idp, args, message) -> None:  # type: ignore[no-untyped-def]
    assert idp("tenant", "create", "acme", "--name", "Acme").exit_code == 0
    result = idp(*args)
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.output
    assert message in lines[0]
    assert "Traceback" not in result.output


# Bytes that are not UTF-8 reach click's arguments as lone surrogates (surrogateescape).
NOT_UTF8 = b"\xff\xfe".decode("utf-8", "surrogateescape")


@pytest.mark.parametrize(
    ("args", "option"),
    [
        (("tenant", "create", "xyz", "--name", NOT_UTF8), "--name"),
        (("tenant", "create", f"ab{NOT_UTF8}", "--name", "X"), "ACCOUNT"),
        (("user", "create", "--tenant", "acme", "--email", f"a{NOT_UTF8}@b.co", "--password", "x" * 12), "--email"),
        (("user", "create", "--tenant", "acme", "--email", "a@b.co", "--password", f"long password{NOT_UTF8}"),
         "--password"),
        (("user", "create", "--tenant", "acme", "--email", "a@b.co", "--name", f"N{NOT_UTF8}"), "--name"),
        (("user", "create", "--tenant", "acme", "--email", "a@b.co", "--username", f"u{NOT_UTF8}"), "--username"),
        (("user", "create", "--tenant", f"acme{NOT_UTF8}", "--email", "a@b.co"), "--tenant"),
        (("user", "invite", "--tenant", "acme", "--email", f"a{NOT_UTF8}@b.co"), "--email"),
    ],
)
def test_arguments_that_are_not_utf8_are_one_error_line(idp, args, option) -> None:  # type: ignore[no-untyped-def]
    assert idp("tenant", "create", "acme", "--name", "Acme").exit_code == 0
    result = idp(*args)
    assert result.exit_code == 1, result.output
    lines = result.output.strip().splitlines()
    assert lines == [f"error: {option} contains characters that could not be read (is it UTF-8?)"], result.output
    assert db.session.execute(select(User)).first() is None


def test_user_create_duplicate_email_names_the_account(idp) -> None:  # type: ignore[no-untyped-def]
    idp("tenant", "create", "acme", "--name", "Acme")
    first = idp("user", "create", "--tenant", "acme", "--email", "Coach@Example.com",
                "--password", "a long password", "--json")
    assert first.exit_code == 0, first.output
    created = json.loads(first.output)
    assert set(created) >= {"id", "sub"}
    again = idp("user", "create", "--tenant", "acme", "--email", "  coach@example.COM ",
                "--password", "a long password")
    assert again.exit_code == 1
    assert created["sub"] in again.output
    customer = idp("user", "create", "--tenant", "acme", "--email", "coach@example.com",
                   "--password", "a long password", "--pool", "customer")
    assert customer.exit_code == 0, "the same email may exist once in each pool"


def test_user_create_sets_the_language_of_their_mail(idp) -> None:  # type: ignore[no-untyped-def]
    idp("tenant", "create", "acme", "--name", "Acme")
    result = idp("user", "create", "--tenant", "acme", "--email", "ana@example.com", "--locale", " pt-BR ", "--json")
    assert result.exit_code == 0, result.output
    user = db.session.execute(select(User).where(User.sub == json.loads(result.output)["sub"])).scalar_one()
    assert user.locale == "pt-BR"


def test_client_create_prints_secret_once_and_stores_hash(idp) -> None:  # type: ignore[no-untyped-def]
    idp("tenant", "create", "acme", "--name", "Acme")
    result = idp("client", "create", "--tenant", "acme", "--name", "Office Portal",
                 "--redirect-uri", "https://office.example/cb", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert len(data["client_secret"]) >= 43  # 256 bits, base64url
    client = db.session.execute(select(Client).where(Client.client_id == data["client_id"])).scalar_one()
    assert data["client_secret"] not in (client.client_secret_hash or "")
    assert data["client_secret"] not in client.metadata_json
    assert client.redirect_uris == ["https://office.example/cb"]


def test_public_client_has_no_secret(idp) -> None:  # type: ignore[no-untyped-def]
    idp("tenant", "create", "acme", "--name", "Acme")
    result = idp("client", "create", "--tenant", "acme", "--name", "App", "--public",
                 "--redirect-uri", "com.example.app:/callback", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["client_secret"] is None


def test_keys_rotate_keeps_retired_key_published(idp, app) -> None:  # type: ignore[no-untyped-def]
    from idp.signing.service import published_keys

    idp("tenant", "create", "acme", "--name", "Acme")
    tenant = db.session.execute(select(Tenant).where(Tenant.account == "acme")).scalar_one()
    before = {k["kid"] for k in published_keys(tenant)}
    result = idp("keys", "rotate", "--tenant", "acme", "--json")
    assert result.exit_code == 0, result.output
    new = set(json.loads(result.output)["active"].values())
    after = {k["kid"] for k in published_keys(tenant)}
    assert after == before | new and not before & new
    for key in published_keys(tenant):
        assert "d" not in key, "no private member in a published key"


def test_tenant_apply_is_idempotent(idp, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    file = tmp_path / "t.toml"
    file.write_text(
        'account = "swim"\nname = "Swim"\n[settings]\nidle_timeout_seconds = 1800\n'
        '[[users]]\nemail = "a@swim.example"\npassword = "a long password"\n'
    )
    first = idp("tenant", "apply", str(file), "--json")
    second = idp("tenant", "apply", str(file), "--json")
    assert first.exit_code == second.exit_code == 0, first.output + second.output
    assert json.loads(first.output)["users_created"] == ["a@swim.example"]
    assert json.loads(second.output) == {"account": "swim", "tenant_created": False, "users_created": [],
                                         "clients_created": [], "client_secrets": {}, "connections_created": []}
    tenant = db.session.execute(select(Tenant).where(Tenant.account == "swim")).scalar_one()
    assert tenant.idle_timeout_seconds == 1800
    assert len(db.session.execute(select(User).where(User.tenant_id == tenant.id)).all()) == 1


USER = b'account = "swim"\nname = "S"\n[[users]]\nemail = "a@swim.example"\n'
CLIENT = b'account = "swim"\nname = "S"\n[[clients]]\nclient_id = "rp"\nredirect_uris = ["https://rp.example/cb"]\n'


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"account = ", "invalid TOML"),
        (b"\xff\xfe", "not UTF-8"),
        (b'account = "swim"\nname = "S"\n[settings]\nidle_timeout_seconds = "soon"', "whole number"),
        (b'account = "swim"\nname = "S"\n[settings]\nfoo = 1', "unknown tenant setting"),
        (b'account = 5\nname = "S"', "'account' must be"),
        (USER + b"name = 7", "user a@swim.example: 'name' must be a string"),
        (USER + b"username = 7", "user a@swim.example: 'username' must be a string"),
        (USER + b"password = 123456789012", "user a@swim.example: 'password' must be a string"),
        (USER + b"pool = ['staff']", "user a@swim.example: 'pool' must be a string"),
        (USER + b'verified = "no"', "user a@swim.example: 'verified' must be true or false"),
        (USER + b"verified = 1", "user a@swim.example: 'verified' must be true or false"),
        (USER + b'pasword_hash = "x"', "user a@swim.example: unknown key 'pasword_hash'"),
        (CLIENT + b'first_party = "false"', "client rp: 'first_party' must be true or false"),
        (CLIENT + b"default = 0", "client rp: 'default' must be true or false"),
        (CLIENT + b"client_secret = 5", "client rp: 'client_secret' must be a string"),
        (CLIENT + b"pool = 5", "client rp: 'pool' must be a string"),
    ],
)
def test_tenant_apply_bad_files(idp, tmp_path: Path, content: bytes, message: str) -> None:  # type: ignore[no-untyped-def]
    file = tmp_path / "bad.toml"
    file.write_bytes(content)
    result = idp("tenant", "apply", str(file))
    assert result.exit_code == 1
    assert message in result.output and "Traceback" not in result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ")
    assert db.session.execute(select(Tenant)).first() is None, "nothing of a bad file is applied"


def test_demo_tenant_file_applies_and_announces(idp) -> None:  # type: ignore[no-untyped-def]
    result = idp("tenant", "apply", "tenants/demo.toml", "--announce")
    assert result.exit_code == 0, result.output
    assert "http://127.0.0.1:8000/a/demo/login" in result.output
    assert "http://demo.localhost:8000/login" in result.output
    assert "coach@demo.example" in result.output


def test_console_script_is_installed(idp) -> None:  # type: ignore[no-untyped-def]
    script = Path(sys.executable).parent / "idp"
    result = subprocess.run([str(script), "tenant", "create", "x", "--name", "X"],
                            env={**idp.env, "PATH": "/usr/bin:/bin"}, capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 1
    assert result.stderr.strip() == "error: An account name is 3 to 63 characters long."


@pytest.mark.parametrize(
    ("database_url", "message"),
    [
        ("sqlite:///{tmp}/never-migrated.db", "no such table: tenants"),
        ("sqlite:garbage", "IDP_DATABASE_URL is not a database URL"),
        ("postgresql+psycopg://postgres@127.0.0.1:1/nothing", "Connection refused"),
    ],
)
def test_database_problems_are_one_error_line(tmp_path: Path, master_key: bytes, database_url: str,
                                              message: str) -> None:
    env = {"IDP_DATABASE_URL": database_url.format(tmp=tmp_path),
           "IDP_MASTER_KEY": base64.urlsafe_b64encode(master_key).decode()}
    result = CliRunner().invoke(main, ["tenant", "create", "blue-lagoon", "--name", "Blue Lagoon"], env=env)
    assert result.exit_code == 1
    [line] = result.output.strip().splitlines()
    assert line.startswith("error: ") and message in line and "Traceback" not in result.output


def test_connection_add_list_remove(idp) -> None:  # type: ignore[no-untyped-def]
    from idp.federation.models import Connection, ConnectionDomain

    idp("tenant", "create", "acme", "--name", "Acme")
    added = idp("connection", "add", "--tenant", "acme", "--kind", "google", "--name", "Google",
                "--client-id", "cid.apps.example", "--client-secret", "s3cret-upstream-value",
                "--email-domain", "Acme-Gyms.example", "--sso-required", "--json")
    assert added.exit_code == 0, added.output
    data = json.loads(added.output)
    assert data["slug"] == "google" and data["kind"] == "google" and data["name"] == "Google"
    assert data["redirect_uri"] == "http://127.0.0.1:8000/a/acme/federation/google/callback"
    stored = db.session.execute(select(Connection)).scalar_one()
    assert "s3cret-upstream-value" not in stored.client_secret_sealed, "sealed at rest"
    assert stored.discovery_url == "https://accounts.google.com/.well-known/openid-configuration"
    assert db.session.execute(select(ConnectionDomain.domain)).scalar_one() == "acme-gyms.example"
    listed = idp("connection", "list", "--tenant", "acme", "--json")
    assert listed.exit_code == 0 and "s3cret" not in listed.output
    assert json.loads(listed.output)["connections"][0]["email_domains"] == ["acme-gyms.example"]
    again = idp("connection", "add", "--tenant", "acme", "--kind", "oidc", "--name", "Corp", "--client-id", "c",
                "--client-secret", "s", "--discovery-url", "https://corp.example/.well-known/openid-configuration",
                "--email-domain", "acme-gyms.example")
    assert again.exit_code == 1 and again.output.startswith("error: ") and "acme-gyms.example" in again.output
    removed = idp("connection", "remove", "--tenant", "acme", "google", "--json")
    assert removed.exit_code == 0 and json.loads(removed.output) == {"removed": "google"}
    assert db.session.execute(select(ConnectionDomain)).first() is None
    assert idp("connection", "remove", "--tenant", "acme", "google").exit_code == 1


@pytest.mark.parametrize(("args", "message"), [
    (["--kind", "oidc", "--client-secret", "s"], "discovery URL"),
    (["--kind", "google"], "exactly one of --client-secret"),
    (["--kind", "google", "--client-secret-env", "NO_SUCH_VARIABLE_HERE"], "is not set"),
    (["--kind", "microsoft", "--client-secret", "s", "--entra-tenant", "not a tenant!"], "entra tenant"),
    (["--kind", "google", "--client-secret", "s", "--jit"], "email domain"),
])
def test_connection_add_bad_input_is_one_error_line(idp, args: list[str], message: str) -> None:  # type: ignore[no-untyped-def]
    idp("tenant", "create", "acme", "--name", "Acme")
    result = idp("connection", "add", "--tenant", "acme", "--name", "X", "--client-id", "c", *args)
    assert result.exit_code in (1, 2) and message in result.output, result.output


def test_connection_add_saml_prints_what_the_idp_needs(idp, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from tests.federation.saml_idp import running_idp

    idp("tenant", "create", "acme", "--name", "Acme")
    for saml_idp in running_idp():
        metadata = tmp_path / "idp.xml"
        metadata.write_text(saml_idp.metadata)
        added = idp("connection", "add", "--tenant", "acme", "--kind", "saml", "--name", "Acme SSO",
                    "--metadata-file", str(metadata), "--email-domain", "acme-gyms.example", "--json")
    assert added.exit_code == 0, added.output
    data = json.loads(added.output)
    base = "http://127.0.0.1:8000/a/acme/federation/acme-sso/saml"
    assert data == {"id": data["id"], "slug": "acme-sso", "kind": "saml", "name": "Acme SSO",
                    "entity_id": f"{base}/metadata", "acs_url": f"{base}/acs", "metadata_url": f"{base}/metadata"}
    both = idp("connection", "add", "--tenant", "acme", "--kind", "saml", "--name", "X", "--metadata-file",
               str(metadata), "--metadata-url", "https://idp.example/metadata")
    assert both.exit_code == 2 and "exactly one of --metadata-file and --metadata-url" in both.output


def test_audit_prune_uses_the_retention_setting(idp, app) -> None:  # type: ignore[no-untyped-def]
    from datetime import timedelta

    from idp.audit.models import AuditEvent
    from idp.audit.service import record
    from idp.tenancy.service import get_tenant
    from idp.unit_of_work import unit_of_work

    idp("tenant", "create", "acme", "--name", "Acme")
    with unit_of_work():
        old = record(get_tenant("acme"), "policy.accepted", user_id=None)
        old.created_at = old.created_at - timedelta(days=500)
        kept = record(get_tenant("acme"), "policy.accepted", user_id=None)
    kept_id = kept.id
    pruned = idp("audit", "prune", "--json")
    assert pruned.exit_code == 0, pruned.output
    assert json.loads(pruned.output)["deleted"] == 1
    assert [event.id for event in db.session.execute(select(AuditEvent)).scalars()] == [kept_id]
    assert json.loads(idp("audit", "prune", "--days", "1", "--json").output)["deleted"] == 0
    bad = CliRunner().invoke(main, ["audit", "prune"], env={**idp.env, "IDP_AUDIT_RETENTION_DAYS": "forever"})
    assert bad.exit_code == 1 and "IDP_AUDIT_RETENTION_DAYS" in bad.output
