"""idp/db.py's helpers: `loaded_instance` (the tenant cache's rows), `detached_instance` (the refresh
path's snapshots) and `writes_in_ctes`."""

from __future__ import annotations

import pytest
from flask import Flask
from sqlalchemy.orm.exc import DetachedInstanceError

from idp.db import db, detached_instance, loaded_instance, writes_in_ctes
from idp.tenancy.models import Tenant
from tests.helpers import make_tenant

COLUMNS = [attr.key for attr in Tenant.__mapper__.column_attrs]


def test_only_postgresql_is_said_to_run_writes_inside_ctes(app: Flask, database: str) -> None:
    assert writes_in_ctes() is (database == "postgresql")


def test_a_loaded_instance_is_the_sessions_own_and_flushes_changes(app: Flask) -> None:
    tenant_id = make_tenant().id
    db.session.expunge_all()
    values = {key: getattr(db.session.get(Tenant, tenant_id), key) for key in COLUMNS}
    again = loaded_instance(Tenant, values)
    assert again is db.session.get(Tenant, tenant_id), "the session's instance, not a second one"
    db.session.expunge_all()
    fresh = loaded_instance(Tenant, values)
    assert not db.session.dirty and fresh in db.session
    fresh.name = "Renamed Swim School"
    db.session.commit()
    db.session.expunge_all()
    assert db.session.get(Tenant, tenant_id).name == "Renamed Swim School"


def test_a_partly_loaded_instance_loads_the_rest_on_first_use(app: Flask) -> None:
    tenant = make_tenant()
    db.session.commit()
    tenant_id, name = tenant.id, tenant.name
    db.session.expunge_all()
    partial = loaded_instance(Tenant, {"id": tenant_id, "account": tenant.account})
    assert partial.name == name, "a column not given loads, never reads as empty"


def test_a_detached_instance_is_a_snapshot_that_raises_on_what_it_was_not_given(app: Flask) -> None:
    tenant = make_tenant()
    db.session.commit()
    tenant_id, account = tenant.id, tenant.account
    db.session.expunge_all()
    snapshot = detached_instance(Tenant, {"id": tenant_id, "account": account, "name": "As Read"})
    assert (snapshot.id, snapshot.account, snapshot.name) == (tenant_id, account, "As Read")
    assert snapshot not in db.session
    with pytest.raises(DetachedInstanceError):
        _ = snapshot.idle_timeout_seconds  # not given: loud, never a silent None
    snapshot.name = "Changed In Memory"
    db.session.commit()
    assert db.session.get(Tenant, tenant_id).name != "Changed In Memory", "a snapshot is never flushed"
