"""Users declared in tenant TOML: imported password hashes, strict types, errors named."""

from __future__ import annotations

from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from passlib.hash import bcrypt, pbkdf2_sha256
from sqlalchemy import select

from idp.accounts.models import User
from idp.db import db
from idp.provisioning.tenant_file import TenantFileError
from tests.helpers import PASSWORD, apply_tenant_file, sign_in

OWASP_PREFIX = "$argon2id$v=19$m=19456,t=2,p=1$"


def write(tmp_path: Path, user_lines: str) -> Path:
    path = tmp_path / "t.toml"
    path.write_text(f'account = "acme"\nname = "Acme"\n[[users]]\nemail = "coach@example.com"\n{user_lines}\n')
    return path


def stored_hash() -> str | None:
    db.session.expire_all()
    return db.session.execute(select(User.password_hash)).scalar_one()


@pytest.mark.parametrize("make_hash", [lambda p: bcrypt.using(rounds=4).hash(p),
                                       lambda p: pbkdf2_sha256.using(rounds=1000).hash(p)],
                         ids=["bcrypt", "pbkdf2_sha256"])
def test_an_imported_hash_signs_in_and_is_upgraded_to_argon2id(app: Flask, client: FlaskClient, tmp_path: Path,
                                                              make_hash) -> None:  # type: ignore[no-untyped-def]
    legacy = make_hash(PASSWORD)
    path = write(tmp_path, f'password_hash = "{legacy}"\nverified = true')
    assert apply_tenant_file(path).users_created == ["coach@example.com"]
    assert stored_hash() == legacy, "stored as imported until the person signs in"
    assert apply_tenant_file(path).users_created == [], "applying again changes nothing"

    assert sign_in(client, password="not the password at all").status_code == 401
    assert stored_hash() == legacy
    assert sign_in(client).status_code == 303
    upgraded = stored_hash()
    assert upgraded is not None and upgraded.startswith(OWASP_PREFIX)
    assert apply_tenant_file(path).users_created == []
    assert stored_hash() == upgraded, "an existing user keeps their password"


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        (f'password = "{PASSWORD}"\npassword_hash = "{bcrypt.using(rounds=4).hash(PASSWORD)}"', "not both"),
        ('password_hash = "plain text"', "not a bcrypt, PBKDF2"),
        ('password_hash = "$2b$04$short"', "not a bcrypt, PBKDF2"),
        ('password_hash = "$argon2id$garbage"', "not a bcrypt, PBKDF2"),
        ('password_hash = "$2b$04$' + "a" * 300 + '"', "not a bcrypt, PBKDF2"),
        ("password_hash = 7", "'password_hash' must be a string"),
    ],
)
def test_bad_password_hashes_are_refused(app: Flask, tmp_path: Path, lines: str, message: str) -> None:
    with pytest.raises(TenantFileError, match=message):
        apply_tenant_file(write(tmp_path, lines))
    assert db.session.execute(select(User)).first() is None
