"""idp/db.py's helpers for the token path: `loaded_instance` and `DriverQuery`."""

from __future__ import annotations

from datetime import UTC, timedelta

import pytest
from flask import Flask
from sqlalchemy import and_, bindparam, select

from idp.accounts.models import User
from idp.db import DriverQuery, column_keys, db, loaded_instance
from idp.tenancy.models import Tenant
from tests.helpers import make_tenant, make_user

_USERS, _TENANTS = User.__table__, Tenant.__table__
TENANT_AND_USER = DriverQuery(
    select(*(c for _, c in column_keys(Tenant)), *(c for _, c in column_keys(User)))
    .select_from(_TENANTS)
    .outerjoin(_USERS, and_(_USERS.c.tenant_id == _TENANTS.c.id, _USERS.c.email == bindparam("email")))
    .where(_TENANTS.c.account == bindparam("account")),
    (Tenant, User),
)


def test_a_driver_query_returns_loaded_values_and_none_for_an_unmatched_outer_join(app: Flask) -> None:
    if db.engine.dialect.name != "postgresql":
        pytest.skip("DriverQuery sends through psycopg: PostgreSQL only (SQLite keeps the ORM path)")
    tenant = make_tenant()
    user = make_user(tenant, email="ann@example.com")
    tenant_values, user_values = TENANT_AND_USER.first({"account": "acme", "email": "ann@example.com"})
    assert tenant_values["id"] == tenant.id and user_values["id"] == user.id
    assert user_values["created_at"].tzinfo is UTC, "the UTC type's processing, as a query applies it"
    assert abs(user_values["created_at"] - user.created_at) < timedelta(seconds=1)
    assert TENANT_AND_USER.first({"account": "acme", "email": "nobody@example.com"})[1] is None
    assert TENANT_AND_USER.first({"account": "nowhere", "email": "ann@example.com"}) is None


def test_a_driver_query_sees_the_sessions_pending_changes_as_a_query_would(app: Flask) -> None:
    if db.engine.dialect.name != "postgresql":
        pytest.skip("DriverQuery sends through psycopg: PostgreSQL only (SQLite keeps the ORM path)")
    tenant = make_tenant()
    tenant.name = "Renamed, not yet flushed"
    tenant_values, _ = TENANT_AND_USER.first({"account": "acme", "email": "nobody@example.com"})
    assert tenant_values["name"] == "Renamed, not yet flushed"
    db.session.rollback()


def test_a_driver_query_must_select_the_columns_of_its_models() -> None:
    with pytest.raises(ValueError, match="exactly the columns"):
        DriverQuery(select(_TENANTS.c.id), (Tenant,))
    with pytest.raises(ValueError, match="exactly the columns"):  # all of them, but out of order
        DriverQuery(select(*reversed([c for _, c in column_keys(Tenant)])), (Tenant,))


def test_a_loaded_instance_is_the_sessions_own_and_flushes_changes(app: Flask) -> None:
    tenant_id = make_tenant().id
    db.session.expunge_all()
    values = {key: getattr(db.session.get(Tenant, tenant_id), key) for key, _ in column_keys(Tenant)}
    again = loaded_instance(Tenant, values)
    assert again is db.session.get(Tenant, tenant_id), "the session's instance, not a second one"
    db.session.expunge_all()
    fresh = loaded_instance(Tenant, values)
    assert not db.session.dirty and fresh in db.session
    fresh.name = "Renamed Swim School"
    db.session.commit()
    db.session.expunge_all()
    assert db.session.get(Tenant, tenant_id).name == "Renamed Swim School"
