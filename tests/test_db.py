"""idp/db.py's helpers: `loaded_instance` (the tenant cache's rows) and `writes_in_ctes`."""

from __future__ import annotations

from flask import Flask

from idp.db import db, loaded_instance, writes_in_ctes
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
