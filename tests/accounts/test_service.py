"""Creating and finding users: one email per (tenant, pool), enforced by the service and the database."""

from __future__ import annotations

import pytest
from sqlalchemy import insert
from sqlalchemy.exc import IntegrityError

from idp import clock
from idp.accounts.models import User
from idp.accounts.service import (
    AccountError,
    authenticate,
    create_user,
    find_user_by_email,
    find_user_by_username,
    get_user,
)
from idp.db import db, new_id
from idp.tenancy.models import Tenant
from tests.helpers import PASSWORD, make_tenant, make_user


def raw_insert(tenant: Tenant, pool: str, email: str, email_normalized: str) -> None:
    """Insert a user row directly, bypassing every check of the service."""
    db.session.execute(
        insert(User).values(
            id=new_id(), tenant_id=tenant.id, pool=pool, sub=new_id(), email=email,
            email_normalized=email_normalized, email_verified=False, created_at=clock.now(),
        )
    )
    db.session.flush()


@pytest.mark.parametrize(
    "second",
    ["coach@example.com", "Coach@Example.com", "COACH@EXAMPLE.COM", "  coach@example.com  ", "\tCoach@example.COM\n"],
)
def test_duplicate_email_in_a_pool_is_refused(app, second: str) -> None:
    tenant = make_tenant()
    first = make_user(tenant, email="Coach@Example.com")
    with pytest.raises(AccountError, match="already belongs") as info:
        create_user(tenant, email=second, password=PASSWORD)
    assert first.sub in str(info.value), "the error names the account that holds the address"
    db.session.rollback()
    assert len(db.session.query(User).all()) == 1


def test_database_unique_index_backs_the_service(app) -> None:
    tenant = make_tenant()
    make_user(tenant, email="Coach@Example.com")
    with pytest.raises(IntegrityError):
        raw_insert(tenant, "staff", "COACH@example.com", "coach@example.com")
    db.session.rollback()
    assert db.session.query(User).count() == 1


def test_database_allows_the_same_email_in_the_other_pool_and_tenant(app) -> None:
    acme = make_tenant("acme")
    beta = make_tenant("beta", "Beta Dance")
    make_user(acme, email="coach@example.com")
    raw_insert(acme, "customer", "coach@example.com", "coach@example.com")
    raw_insert(beta, "staff", "coach@example.com", "coach@example.com")
    db.session.commit()
    assert db.session.query(User).count() == 3


def test_same_email_allowed_once_in_each_pool(app) -> None:
    tenant = make_tenant()
    staff = make_user(tenant, email="coach@example.com", pool="staff")
    parent = make_user(tenant, email=" Coach@Example.com ", pool="customer")
    assert staff.id != parent.id and staff.sub != parent.sub
    assert find_user_by_email(tenant, "staff", "COACH@example.com") == staff
    assert find_user_by_email(tenant, "customer", "coach@EXAMPLE.com") == parent
    with pytest.raises(AccountError):
        create_user(tenant, email="coach@example.com", pool="customer")


def test_same_email_allowed_in_another_tenant(app) -> None:
    acme = make_tenant("acme")
    beta = make_tenant("beta", "Beta Dance")
    at_acme = make_user(acme)
    at_beta = make_user(beta)
    assert at_acme.id != at_beta.id
    assert find_user_by_email(acme, "staff", "coach@example.com") == at_acme
    assert find_user_by_email(beta, "staff", "coach@example.com") == at_beta
    assert get_user(beta, at_acme.id) is None, "a user id of tenant A means nothing at tenant B"
    assert get_user(acme, at_acme.id) == at_acme


def test_email_is_kept_as_typed_and_stored_normalized(app) -> None:
    tenant = make_tenant()
    user = make_user(tenant, email="  Casey.Coach@Example.COM ")
    assert user.email == "Casey.Coach@Example.COM"
    assert user.email_normalized == "casey.coach@example.com"


def test_sub_is_random_opaque_and_not_the_email_or_id(app) -> None:
    tenant = make_tenant()
    users = [make_user(tenant, email=f"user{i}@example.com") for i in range(5)]
    subs = {u.sub for u in users}
    assert len(subs) == 5
    for user in users:
        assert user.sub != user.id
        assert user.email not in user.sub and "user" not in user.sub
        assert len(user.sub) >= 20


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"email": "not-an-email"}, "email"),
        ({"email": ""}, "email"),
        ({"email": "coach@example.com", "pool": "admins"}, "pool"),
        ({"email": "coach@example.com", "password": "short"}, "at least 12"),
        ({"email": "coach@example.com", "password": "coach@example.com"}, "email"),
        ({"email": "coach@example.com", "username": "casey@home"}, "@"),
        ({"email": "coach@example.com", "username": "two words"}, "without spaces"),
        ({"email": "coach@example.com", "username": "   "}, "without spaces"),
        ({"email": "coach@example.com", "name": "x" * 201}, "at most 200"),
        # Lone surrogates (a JSON "\ud800", undecodable CLI bytes) and U+FFFD are not text.
        ({"email": "co\udcffch@example.com"}, "could not be read"),
        ({"email": "coach@example.com", "password": "a long password\ud800"}, "could not be read"),
        ({"email": "coach@example.com", "name": "Casey \udcff"}, "could not be read"),
        ({"email": "coach@example.com", "name": "Casey \ufffd"}, "could not be read"),
        ({"email": "coach@example.com", "username": "casey\udfff"}, "could not be read"),
    ],
)
def test_create_user_refuses_bad_fields(app, fields: dict[str, str], message: str) -> None:
    tenant = make_tenant()
    with pytest.raises(AccountError, match=message):
        create_user(tenant, **fields)
    db.session.rollback()
    assert db.session.query(User).count() == 0


def test_duplicate_username_is_refused_case_insensitively(app) -> None:
    tenant = make_tenant()
    make_user(tenant, username="Casey")
    with pytest.raises(AccountError, match="already taken"):
        create_user(tenant, email="other@example.com", username="casey")
    db.session.rollback()
    assert find_user_by_username(tenant, "staff", " CASEY ") is not None


def test_authenticate_stays_in_its_tenant_and_pool(app) -> None:
    acme = make_tenant("acme")
    beta = make_tenant("beta", "Beta Dance")
    user = make_user(acme)
    assert authenticate(acme, "staff", " Coach@Example.com ", PASSWORD) == user
    assert authenticate(acme, "staff", "coach@example.com", PASSWORD + "x") is None
    assert authenticate(acme, "customer", "coach@example.com", PASSWORD) is None
    assert authenticate(beta, "staff", "coach@example.com", PASSWORD) is None


@pytest.mark.parametrize("identifier", ["", "   ", "coach@example.com\x00", "x" * 5000, "%", "_", "*"])
def test_authenticate_with_odd_identifiers_finds_nobody(app, identifier: str) -> None:
    tenant = make_tenant()
    make_user(tenant)
    assert authenticate(tenant, "staff", identifier, PASSWORD) is None


def test_authenticate_refuses_overlong_passwords_without_error(app) -> None:
    tenant = make_tenant()
    make_user(tenant)
    assert authenticate(tenant, "staff", "coach@example.com", PASSWORD + "x" * 5000) is None
