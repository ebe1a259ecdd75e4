"""Password hashing: argon2id at OWASP's parameters, legacy hashes verified and upgraded on sign-in."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
from argon2 import PasswordHasher
from flask.testing import FlaskClient
from passlib.hash import bcrypt, pbkdf2_sha256, pbkdf2_sha512

from idp.accounts import passwords
from idp.accounts.models import User
from idp.accounts.passwords import (
    MAX_PASSWORD_LENGTH,
    MIN_PASSWORD_LENGTH,
    WeakPassword,
    burn_time,
    check_password_strength,
    hash_password,
    verify_password,
)
from idp.db import db
from tests.helpers import PASSWORD, csrf_from, make_tenant, make_user, sign_in

OWASP_PREFIX = "$argon2id$v=19$m=19456,t=2,p=1$"


def legacy_hashes(password: str) -> dict[str, str]:
    return {
        "bcrypt-2b": bcrypt.using(rounds=4).hash(password),
        "bcrypt-2y": bcrypt.using(rounds=4, ident="2y").hash(password),
        "pbkdf2_sha256": pbkdf2_sha256.using(rounds=1000).hash(password),
        "pbkdf2_sha512": pbkdf2_sha512.using(rounds=1000).hash(password),
        "argon2id-outdated": PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1).hash(password),
        "argon2i": PasswordHasher(time_cost=2, memory_cost=19456, parallelism=1, type=_argon2i()).hash(password),
    }


def _argon2i() -> Any:
    from argon2 import Type

    return Type.I


LEGACY_KINDS = list(legacy_hashes("x" * 12))


# -- pure -----------------------------------------------------------------------------------------


def test_new_hashes_are_argon2id_with_owasp_parameters() -> None:
    stored = hash_password(PASSWORD)
    assert stored.startswith(OWASP_PREFIX)
    assert PASSWORD not in stored
    assert hash_password(PASSWORD) != stored, "hashes are salted"
    result = verify_password(stored, PASSWORD)
    assert result.ok and not result.needs_upgrade


def test_wrong_password_does_not_verify() -> None:
    stored = hash_password(PASSWORD)
    for wrong in ("", PASSWORD.upper(), PASSWORD + " ", PASSWORD[:-1]):
        result = verify_password(stored, wrong)
        assert not result.ok and not result.needs_upgrade


@pytest.mark.parametrize("kind", LEGACY_KINDS)
def test_legacy_and_outdated_hashes_verify_and_ask_for_an_upgrade(kind: str) -> None:
    stored = legacy_hashes(PASSWORD)[kind]
    result = verify_password(stored, PASSWORD)
    assert result.ok and result.needs_upgrade
    wrong = verify_password(stored, "not the password")
    assert not wrong.ok and not wrong.needs_upgrade


def test_legacy_bcrypt_passwords_longer_than_72_bytes_still_verify() -> None:
    """bcrypt only ever read 72 bytes; people typed (and still type) their whole passphrase."""
    long_password = "a long passphrase that goes on " * 4
    stored = bcrypt.using(rounds=4).hash(long_password.encode()[:72])
    result = verify_password(stored, long_password)
    assert result.ok and result.needs_upgrade
    assert not verify_password(stored, "short and wrong").ok


@pytest.mark.parametrize(
    "stored",
    [None, "", "garbage", "$argon2id$v=19$m=19456,t=2,p=1$broken", "$2b$04$short", "$pbkdf2-sha256$x$y$z",
     "$1$md5crypt$notaccepted", "plaintext-password"],
)
def test_missing_or_unreadable_hashes_never_verify(stored: str | None) -> None:
    result = verify_password(stored, "plaintext-password")
    assert not result.ok and not result.needs_upgrade


@pytest.mark.parametrize(
    ("password", "email", "message"),
    [
        ("short", None, f"at least {MIN_PASSWORD_LENGTH}"),
        ("x" * (MIN_PASSWORD_LENGTH - 1), None, f"at least {MIN_PASSWORD_LENGTH}"),
        ("x" * (MAX_PASSWORD_LENGTH + 1), None, f"at most {MAX_PASSWORD_LENGTH}"),
        ("coach@example.com", "coach@example.com", "email"),
        (" Coach@Example.com ", "coach@example.com", "email"),
    ],
)
def test_weak_passwords(password: str, email: str | None, message: str) -> None:
    with pytest.raises(WeakPassword, match=message):
        check_password_strength(password, email)


LONGEST = "".join(hashlib.sha256(str(i).encode()).hexdigest() for i in range(16))[:MAX_PASSWORD_LENGTH]


@pytest.mark.parametrize("password", ["tq8-Vel-rmz2", LONGEST, PASSWORD], ids=["shortest", "longest", "passphrase"])
def test_acceptable_passwords(password: str) -> None:
    assert MIN_PASSWORD_LENGTH <= len(password) <= MAX_PASSWORD_LENGTH
    check_password_strength(password, "coach@example.com")


# -- through the sign-in page ---------------------------------------------------------------------


def stored_hash(user_id: str) -> str:
    db.session.expire_all()
    user = db.session.get(User, user_id)
    assert user is not None and user.password_hash is not None
    return user.password_hash


@pytest.mark.parametrize("kind", LEGACY_KINDS)
def test_legacy_hash_signs_in_and_is_upgraded(app, client: FlaskClient, kind: str) -> None:
    tenant = make_tenant()
    user = make_user(tenant, password=None)
    user.password_hash = legacy_hashes(PASSWORD)[kind]
    db.session.commit()
    assert sign_in(client).status_code == 303
    upgraded = stored_hash(user.id)
    assert upgraded.startswith(OWASP_PREFIX)
    assert verify_password(upgraded, PASSWORD).ok
    # and the upgraded hash keeps working
    client.post("/a/acme/logout", data={"csrf_token": csrf_from(client.get("/a/acme/logout").get_data(True))})
    assert sign_in(client).status_code == 303
    assert stored_hash(user.id) == upgraded, "a current hash is not re-hashed on every sign-in"


@pytest.mark.parametrize("kind", LEGACY_KINDS)
def test_wrong_password_does_not_upgrade_a_legacy_hash(app, client: FlaskClient, kind: str) -> None:
    tenant = make_tenant()
    user = make_user(tenant, password=None)
    legacy = legacy_hashes(PASSWORD)[kind]
    user.password_hash = legacy
    db.session.commit()
    assert sign_in(client, password="not the password at all").status_code == 401
    assert stored_hash(user.id) == legacy


def test_current_hash_is_left_alone_on_sign_in(app, client: FlaskClient) -> None:
    tenant = make_tenant()
    user = make_user(tenant)
    before = stored_hash(user.id)
    assert before.startswith(OWASP_PREFIX)
    assert sign_in(client).status_code == 303
    assert stored_hash(user.id) == before


# -- no account enumeration -----------------------------------------------------------------------


class CountingHasher:
    """Wraps the module's argon2 hasher and counts verifications."""

    def __init__(self, real: PasswordHasher) -> None:
        self.real = real
        self.verifications = 0

    def verify(self, stored: str, password: str) -> bool:
        self.verifications += 1
        return self.real.verify(stored, password)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)


@pytest.fixture
def hasher(monkeypatch: pytest.MonkeyPatch) -> CountingHasher:
    counting = CountingHasher(passwords.HASHER)
    monkeypatch.setattr(passwords, "HASHER", counting)
    return counting


def _page_without_secrets(response, typed: str) -> str:  # type: ignore[no-untyped-def]
    html = response.get_data(as_text=True)
    return html.replace(csrf_from(html), "CSRF").replace(typed, "EMAIL")


def test_unknown_email_and_wrong_password_look_and_cost_the_same(
    app, client: FlaskClient, hasher: CountingHasher
) -> None:
    tenant = make_tenant()
    make_user(tenant)
    make_user(tenant, email="nopassword@example.com", password=None)
    answers = {}
    for email, password in [
        ("coach@example.com", "not the password at all"),
        ("nobody@example.com", PASSWORD),
        ("nopassword@example.com", PASSWORD),
    ]:
        hasher.verifications = 0
        response = sign_in(client, email=email, password=password)
        assert hasher.verifications == 1, f"{email}: one argon2 verification, whether or not the account exists"
        answers[email] = (response.status_code, _page_without_secrets(response, email))
    statuses = {status for status, _ in answers.values()}
    pages = {page for _, page in answers.values()}
    assert statuses == {401}
    assert len(pages) == 1, "the pages differ between an unknown and a known address"


def test_burn_time_runs_a_real_verification(hasher: CountingHasher) -> None:
    burn_time("anything")
    assert hasher.verifications == 1
    assert verify_password(None, "anything").ok is False
    assert hasher.verifications == 2
