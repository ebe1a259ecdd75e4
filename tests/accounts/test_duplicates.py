"""One address, one account per pool; imported accounts that share one are kept, but plainly."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import create_engine, text

from idp.accounts.legacy_import import import_user
from idp.accounts.passwords import hash_password
from idp.accounts.service import AccountError, create_user
from idp.cli import main
from idp.config import Config
from idp.db import db
from idp.schema import upgrade
from idp.tenancy.service import get_tenant
from tests.accounts.link_flows import forgot_password
from tests.helpers import PASSWORD, csrf_from, make_tenant, make_user, sign_in
from tests.mail.support import deliver


@pytest.fixture
def idp(config: Config):  # type: ignore[no-untyped-def]
    env = {
        "IDP_DATABASE_URL": config.database_url,
        "IDP_MASTER_KEY": base64.urlsafe_b64encode(config.master_key).decode(),
        "IDP_MAIL_OUTBOX": str(config.mail_outbox),
    }

    def run(*args: str):  # type: ignore[no-untyped-def]
        result = CliRunner().invoke(main, list(args), env=env)
        db.session.expire_all()
        return result

    return run


def shared_setup() -> tuple[object, object]:
    tenant = make_tenant()
    holder = make_user(tenant, email="desk@example.com", name="Front Desk", username="desk")
    sharer = import_user(tenant, email=" Desk@Example.com", username="sam", name="Sam Swim",
                         password_hash=hash_password(PASSWORD))
    db.session.commit()
    return holder, sharer


def test_an_imported_account_sharing_an_address_signs_in_by_username_only(app: Flask, client: FlaskClient) -> None:
    holder, sharer = shared_setup()
    assert sharer.email_normalized is None and sharer.email == "Desk@Example.com"  # type: ignore[attr-defined]
    assert sign_in(client, email="sam").status_code == 303
    page = client.get("/a/acme/signed-in").get_data(as_text=True)
    assert "shares the email address" in page and "Sam Swim" in page
    assert 'id="send-verification"' not in page, "no verification loop for a mailbox that is not theirs"
    assert client.post("/a/acme/verify-email", data={"csrf_token": csrf_from(page)}).status_code == 303
    other = app.test_client()
    assert sign_in(other, email="desk@example.com").status_code == 303
    assert "Front Desk" in other.get("/a/acme/signed-in").get_data(as_text=True), "the address names the holder"


@pytest.mark.usefixtures("smtp_mailbox")  # mailed through a real SMTP server
def test_forgot_password_reaches_only_the_holder(app: Flask, client: FlaskClient) -> None:
    shared_setup()
    forgot_password(client, "desk@example.com")
    [message] = deliver(app)
    assert "Front Desk" in message.get_body(("plain",)).get_content()  # type: ignore[union-attr]


def test_an_import_sharing_an_address_needs_a_username(app: Flask) -> None:
    tenant = make_tenant()
    make_user(tenant, email="desk@example.com", name="Front Desk")
    with pytest.raises(AccountError, match="Front Desk.*needs a username"):
        import_user(tenant, email="DESK@example.com")


def test_creating_a_second_account_names_the_first(app: Flask) -> None:
    tenant = make_tenant()
    first = make_user(tenant, email="desk@example.com", name="Front Desk", username="desk")
    with pytest.raises(AccountError) as error:
        create_user(tenant, email=" DESK@example.COM ", password="a long password")
    assert "Front Desk" in str(error.value) and first.sub in str(error.value) and "username desk" in str(error.value)


def test_users_duplicates_lists_every_account_of_a_shared_address(app: Flask, idp) -> None:  # type: ignore[no-untyped-def]
    holder, sharer = shared_setup()
    make_user(get_tenant("acme"), email="alone@example.com")
    result = idp("users", "duplicates", "--tenant", "acme", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    [group] = data["duplicates"]
    assert group["email"] == "desk@example.com" and group["pool"] == "staff"
    assert [(a["sub"], a["holds_address"]) for a in group["accounts"]] == [
        (holder.sub, True), (sharer.sub, False)]  # type: ignore[attr-defined]
    text = idp("users", "duplicates", "--tenant", "acme")
    assert "desk@example.com (staff): 2 accounts" in text.output
    assert "signs in by username only" in text.output


def test_users_duplicates_with_none_and_unknown_tenant(app: Flask, idp) -> None:  # type: ignore[no-untyped-def]
    make_tenant()
    assert "no shared email addresses" in idp("users", "duplicates", "--tenant", "acme").output
    missing = idp("users", "duplicates", "--tenant", "nope")
    assert missing.exit_code == 1 and missing.output.startswith("error: no tenant")


def test_tenant_file_refuses_a_second_person_with_the_same_address(app: Flask, idp, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    file = tmp_path / "t.toml"
    file.write_text(
        'account = "swim"\nname = "Swim"\n'
        '[[users]]\nemail = "desk@swim.example"\nusername = "desk"\nname = "Front Desk"\n'
    )
    assert idp("tenant", "apply", str(file)).exit_code == 0
    file.write_text(file.read_text() + '[[users]]\nemail = "DESK@swim.example"\nusername = "sam"\n')
    result = idp("tenant", "apply", str(file))
    assert result.exit_code == 1
    assert "users #1 and #2 both use the email desk@swim.example" in result.output
    file.write_text('account = "swim"\nname = "Swim"\n[[users]]\nemail = "Desk@swim.example"\nusername = "sam"\n')
    result = idp("tenant", "apply", str(file))
    assert result.exit_code == 1
    assert "already belongs to 'Front Desk'" in result.output


@pytest.mark.usefixtures("smtp_mailbox")  # mailed through a real SMTP server
def test_user_invite_queues_a_set_password_link(app: Flask, idp) -> None:  # type: ignore[no-untyped-def]
    make_user(make_tenant(), email="new@example.com", password=None)
    result = idp("user", "invite", "--tenant", "acme", "--email", "NEW@example.com", "--json")
    assert result.exit_code == 0, result.output
    [message] = deliver(app)
    body = message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "http://127.0.0.1:8000/a/acme/set-password/" in body, "outside a request: the path issuer"
    unknown = idp("user", "invite", "--tenant", "acme", "--email", "nobody@example.com")
    assert unknown.exit_code == 1 and "no staff account" in unknown.output


def test_migration_0002_keeps_sessions_when_sqlite_rebuilds_users(tmp_path: Path) -> None:
    """Making email_normalized nullable rebuilds `users` on SQLite; with foreign keys on, that
    would cascade into every session. The migration turns them off for the rebuild."""
    engine = create_engine(f"sqlite:///{tmp_path / 'old.db'}")
    upgrade(engine, "0001")
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO tenants (id, account, name, idle_timeout_seconds, persistent_session_days,"
                          " created_at) VALUES ('t', 'acme', 'Acme', 3600, 90, '2026-01-01')"))
        conn.execute(text("INSERT INTO users (id, pool, sub, email, email_normalized, email_verified, created_at,"
                          " tenant_id) VALUES ('u', 'staff', 's', 'a@b.example', 'a@b.example', 1, '2026-01-01', 't')"))
        conn.execute(text("INSERT INTO browser_sessions (id, token_hash, user_id, persistent, auth_time, created_at,"
                          " last_seen_at, tenant_id) VALUES ('b', 'h', 'u', 0, '2026-01-01', '2026-01-01',"
                          " '2026-01-01', 't')"))
    upgrade(engine, "0002")
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM browser_sessions")).scalar() == 1
        assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
        assert conn.execute(text("SELECT reset_link_seconds FROM tenants")).scalar() == 3600
    engine.dispose()
