"""Creating users and checking their passwords; every look-up takes the tenant."""

from __future__ import annotations

import re

from sqlalchemy import or_, select

from idp import clock
from idp.accounts.duplicates import describe_account
from idp.accounts.emails import InvalidEmail, normalize_email, validate_email
from idp.accounts.models import POOLS, User
from idp.accounts.passwords import (
    MAX_PASSWORD_LENGTH,
    WeakPassword,
    check_password_strength,
    hash_password,
    verify_password,
)
from idp.crypto import random_token
from idp.db import db
from idp.errors import InvalidInput
from idp.tenancy.models import Tenant
from idp.text import has_unreadable_characters

MAX_NAME_LENGTH = 200
MAX_USERNAME_LENGTH = 150
MAX_LOCALE_LENGTH = 35  # users.locale; RFC 5646 §4.4.1 asks implementations to keep at least 35
# RFC 5646 in outline: a 2–3 letter language, then subtags of 1–8 letters or digits ("pt-BR",
# "zh-Hant-TW", "sr-Latn"). Mail picks the language (idp.mail.render.language_of); the rest is kept.
_LOCALE = re.compile(r"^[A-Za-z]{2,3}(?:-[A-Za-z0-9]{1,8})*\Z")


class AccountError(InvalidInput):
    """A user cannot be created or changed as asked; the message says why."""


class EmailInUse(AccountError):
    """Another account of the pool holds the address; `existing` is that account."""

    status = 409
    error = "conflict"

    def __init__(self, message: str, existing: User) -> None:
        super().__init__(message)
        self.existing = existing


def create_user(
    tenant: Tenant,
    *,
    email: str,
    password: str | None = None,
    name: str | None = None,
    pool: str = "staff",
    username: str | None = None,
    email_verified: bool = False,
    locale: str | None = None,
) -> User:
    """Create a user (the unit of work commits). Raises AccountError naming the conflict."""
    if pool not in POOLS:
        raise AccountError(f"pool must be one of {', '.join(POOLS)}")
    try:
        email = validate_email(email)
        if password is not None:
            check_password_strength(password, email)
    except (InvalidEmail, WeakPassword) as exc:
        raise AccountError(str(exc)) from exc
    existing = find_user_by_email(tenant, pool, email)
    if existing is not None:
        raise EmailInUse(
            f"the email {email} already belongs to {describe_account(existing)} in '{tenant.account}'", existing
        )
    if username is not None:
        username = _validate_username(username)
        if find_user_by_username(tenant, pool, username) is not None:
            raise AccountError(f"the username {username} is already taken in '{tenant.account}'")
    now = clock.now()
    user = User(
        tenant_id=tenant.id,
        pool=pool,
        sub=random_token(16),
        email=email,
        email_normalized=normalize_email(email),
        email_verified=email_verified,
        username=username,
        username_normalized=username.lower() if username else None,
        name=_validate_name(name),
        locale=validate_locale(locale) if locale is not None else None,
        password_hash=hash_password(password) if password is not None else None,
        password_changed_at=now if password is not None else None,
        created_at=now,
    )
    db.session.add(user)
    db.session.flush()
    return user


def find_user_by_email(tenant: Tenant, pool: str, email: str) -> User | None:
    return db.session.execute(
        select(User).where(
            User.tenant_id == tenant.id,
            User.pool == pool,
            User.email_normalized == normalize_email(email),
        )
    ).scalar_one_or_none()


def find_user_by_username(tenant: Tenant, pool: str, username: str) -> User | None:
    return db.session.execute(
        select(User).where(
            User.tenant_id == tenant.id,
            User.pool == pool,
            User.username_normalized == username.strip().lower(),
        )
    ).scalar_one_or_none()


def get_user(tenant: Tenant, user_id: str) -> User | None:
    return db.session.execute(
        select(User).where(User.tenant_id == tenant.id, User.id == user_id)
    ).scalar_one_or_none()


MAX_SUB_LENGTH = 64


def subs_of(tenant: Tenant, user_ids: set[str]) -> dict[str, str]:
    """The `sub` of each of these accounts of the tenant that still exists (by user id)."""
    if not user_ids:
        return {}
    rows = db.session.execute(select(User.id, User.sub).where(User.tenant_id == tenant.id, User.id.in_(user_ids)))
    return {user_id: sub for user_id, sub in rows}


def find_user_by_sub(tenant: Tenant, sub: str) -> User | None:
    """The person a token's `sub` names at this tenant."""
    if not sub or len(sub) > MAX_SUB_LENGTH:
        return None
    return db.session.execute(select(User).where(User.tenant_id == tenant.id, User.sub == sub)).scalar_one_or_none()


def authenticate(tenant: Tenant, pool: str, identifier: str, password: str) -> User | None:
    """The user whose email (or legacy username) and password match, else None."""
    return check_password(find_user_by_identifier(tenant, pool, identifier), password)


def find_user_by_identifier(tenant: Tenant, pool: str, identifier: str) -> User | None:
    """The user an email or legacy username typed at sign-in names, if any."""
    key = identifier.strip().lower()
    # No identifier holds a NUL, and PostgreSQL refuses one in a query: there is nobody to look up.
    if not key or "\x00" in key:
        return None
    return db.session.execute(
        select(User)
        .where(User.tenant_id == tenant.id, User.pool == pool)
        .where(or_(User.email_normalized == key, User.username_normalized == key))
        # Usernames cannot contain '@' and emails must: at most one row matches.
    ).scalar_one_or_none()


def check_password(user: User | None, password: str) -> User | None:
    """`user` if `password` is theirs, else None.

    No user costs one password verification too, so timing does not tell whether an account
    exists. A correct password under an outdated hash is re-hashed (the unit of work commits).
    """
    if len(password) > MAX_PASSWORD_LENGTH:
        user = None
    result = verify_password(user.password_hash if user else None, password[:MAX_PASSWORD_LENGTH])
    if user is None or not result.ok:
        return None
    if result.needs_upgrade:
        user.password_hash = hash_password(password)
    return user


def set_locale(user: User, locale: str) -> None:
    """The language the person's mail and pages are in (the unit of work commits)."""
    user.locale = validate_locale(locale)


def validate_locale(locale: str) -> str:
    """A BCP 47 language tag such as "fr" or "pt-BR", trimmed, else AccountError."""
    locale = locale.strip()
    if len(locale) > MAX_LOCALE_LENGTH or not _LOCALE.match(locale):
        raise AccountError("a locale is a BCP 47 language tag such as en, fr-CA or pt-BR")
    return locale


def _validate_name(name: str | None) -> str | None:
    if name is None:
        return None
    name = " ".join(name.split())
    if len(name) > MAX_NAME_LENGTH:
        raise AccountError(f"a name is at most {MAX_NAME_LENGTH} characters")
    if has_unreadable_characters(name):
        raise AccountError("the name contains characters that could not be read (is it UTF-8?)")
    return name or None


def _validate_username(username: str) -> str:
    username = username.strip()
    if not username or len(username) > MAX_USERNAME_LENGTH or any(c.isspace() for c in username):
        raise AccountError(f"a username is 1 to {MAX_USERNAME_LENGTH} characters without spaces")
    if has_unreadable_characters(username):
        raise AccountError("the username contains characters that could not be read (is it UTF-8?)")
    if "@" in username:
        raise AccountError("a username cannot contain '@' (that would read as an email address)")
    return username
