"""Password hashing: argon2id at OWASP's parameters, legacy hashes verified and upgraded.

OWASP Password Storage Cheat Sheet: argon2id with m=19 MiB, t=2, p=1 is the minimum
configuration; we use it so that a sign-in costs a bounded, predictable amount of CPU.
Imported hashes from older systems (bcrypt, PBKDF2) are verified with passlib and replaced by
an argon2id hash on the next successful sign-in.
"""

from __future__ import annotations

from contextlib import suppress
from dataclasses import dataclass

from argon2 import PasswordHasher, extract_parameters
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from passlib.context import CryptContext

from idp.accounts.common_passwords import is_common_password
from idp.errors import InvalidInput
from idp.text import has_unreadable_characters

MIN_PASSWORD_LENGTH = 12
MAX_PASSWORD_LENGTH = 1024

HASHER = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)
LEGACY = CryptContext(
    schemes=["bcrypt", "pbkdf2_sha256", "pbkdf2_sha512", "pbkdf2_sha1"]
)
# Verified against when the account does not exist, so that costs the same as a wrong password.
_DUMMY_HASH = HASHER.hash("portcullis-dummy-password")


class WeakPassword(InvalidInput):
    """The new password breaks a rule; the message says which."""


@dataclass(frozen=True)
class Verification:
    ok: bool
    needs_upgrade: bool = False


def hash_password(password: str) -> str:
    return HASHER.hash(password)


def verify_password(stored_hash: str | None, password: str) -> Verification:
    """Check `password` against `stored_hash` in time that does not reveal whether one exists."""
    if not stored_hash:
        burn_time(password)
        return Verification(False)
    if stored_hash.startswith("$argon2"):
        try:
            HASHER.verify(stored_hash, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return Verification(False)
        return Verification(True, needs_upgrade=HASHER.check_needs_rehash(stored_hash))
    # bcrypt only ever reads 72 bytes and the systems that made these hashes cut longer passwords
    # silently; the bcrypt module now refuses them instead, which would lock those people out.
    secret: str | bytes = password.encode()[:72] if stored_hash.startswith("$2") else password
    try:
        ok = LEGACY.verify(secret, stored_hash)
    except (ValueError, TypeError):
        ok = False
    return Verification(ok, needs_upgrade=ok)


def is_readable_hash(stored_hash: str) -> bool:
    """True if `verify_password` can check a password against this hash: argon2, or a bcrypt or
    PBKDF2 hash in a format LEGACY reads. Parsed, not verified, so checking an import is cheap."""
    if stored_hash.startswith("$argon2"):
        try:
            extract_parameters(stored_hash)
        except InvalidHashError:
            return False
        return True
    scheme = LEGACY.identify(stored_hash, required=False)
    if scheme is None:
        return False
    try:
        LEGACY.handler(scheme).from_string(stored_hash)
    except (ValueError, TypeError):
        return False
    return True


def burn_time(password: str) -> None:
    """Spend what a real verification costs (unknown account, account without a password)."""
    with suppress(VerificationError):
        HASHER.verify(_DUMMY_HASH, password)


def check_password_strength(password: str, email: str | None = None) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise WeakPassword(f"Use at least {MIN_PASSWORD_LENGTH} characters.")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise WeakPassword(f"Use at most {MAX_PASSWORD_LENGTH} characters.")
    if email and password.strip().lower() == email.strip().lower():
        raise WeakPassword("Your password cannot be your email address.")
    if has_unreadable_characters(password):
        raise WeakPassword("Your password contains characters that could not be read. Please type it again.")
    if is_common_password(password):
        raise WeakPassword("This password is one of the most common ones, so it is easy to guess. Choose another.")
