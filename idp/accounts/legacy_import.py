"""Importing accounts from an older system, where several staff may share one email address.

Such an account is kept, because refusing it would lock a real person out, but it does not
hold the address: `email_normalized` stays NULL, so it signs in by username only, gets no
verification or reset mail (the mailbox is not its own), and is told to ask for an address of
its own (docs/decisions/shared-imported-emails.md). `idp users duplicates` lists them.
"""

from __future__ import annotations

from idp import clock
from idp.accounts.duplicates import describe_account
from idp.accounts.emails import InvalidEmail, validate_email
from idp.accounts.models import POOLS, User
from idp.accounts.passwords import is_readable_hash
from idp.accounts.service import (
    AccountError,
    _validate_name,
    _validate_username,
    create_user,
    find_user_by_email,
    find_user_by_username,
)
from idp.crypto import random_token
from idp.db import db
from idp.tenancy.models import Tenant

MAX_HASH_LENGTH = 255  # users.password_hash


def import_user(
    tenant: Tenant, *, email: str, username: str | None = None, name: str | None = None, pool: str = "staff",
    password_hash: str | None = None, email_verified: bool = False,
) -> User:
    """Create an imported account (the unit of work commits). One whose address another account of
    the pool holds is kept without the address, and must have a username to sign in with."""
    if pool not in POOLS:
        raise AccountError(f"pool must be one of {', '.join(POOLS)}")
    if password_hash is not None and (len(password_hash) > MAX_HASH_LENGTH or not is_readable_hash(password_hash)):
        # Stored as given, an unreadable hash would lock its person out without a word.
        raise AccountError("password_hash is not a bcrypt, PBKDF2 (passlib) or argon2 hash that can be verified")
    try:
        email = validate_email(email)
    except InvalidEmail as exc:
        raise AccountError(str(exc)) from exc
    holder = find_user_by_email(tenant, pool, email)
    if holder is None:
        user = create_user(tenant, email=email, name=name, pool=pool, username=username,
                           email_verified=email_verified)
    else:
        user = _import_sharing(tenant, holder, email=email, username=username, name=name, pool=pool)
    user.password_hash = password_hash  # a legacy hash is verified, then upgraded, at sign-in
    db.session.flush()
    return user


def _import_sharing(tenant: Tenant, holder: User, *, email: str, username: str | None, name: str | None,
                    pool: str) -> User:
    if not username:
        raise AccountError(
            f"the email {email} already belongs to {describe_account(holder)}; an imported account "
            "that shares it needs a username to sign in with"
        )
    username = _validate_username(username)
    if find_user_by_username(tenant, pool, username) is not None:
        raise AccountError(f"the username {username} is already taken in '{tenant.account}'")
    user = User(
        tenant_id=tenant.id, pool=pool, sub=random_token(16), email=email, email_normalized=None,
        email_verified=False, username=username, username_normalized=username.lower(),
        name=_validate_name(name), created_at=clock.now(),
    )
    db.session.add(user)
    return user
