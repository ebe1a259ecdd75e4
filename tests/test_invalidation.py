"""Cache invalidation across processes (idp/invalidation.py): a change announced in a transaction
reaches every listener at commit, never for a rollback; tenant rows and signing keys are
forgotten. The listener needs PostgreSQL; on SQLite there is one process and nothing to tell."""

from __future__ import annotations

import time
from typing import Any

import pytest
from flask import Flask

from idp import clock, invalidation
from idp.db import db
from idp.signing.service import active_key, rotate_keys
from idp.tenancy.cache import EXTENSION, cached_tenant
from idp.unit_of_work import unit_of_work
from tests.helpers import make_tenant


def wait_until(condition: Any, seconds: float = 3.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return False


def test_notices_forget_tenants_and_keys(app: Flask) -> None:
    tenant = make_tenant()
    with app.test_request_context():
        cached_tenant("acme")
        active_key(tenant, "RS256")
    assert app.extensions[EXTENSION].get("acme", clock.now()) is not None
    assert app.extensions["idp.signing_keys"].get(tenant.id, "RS256", clock.now()) is not None
    invalidation.dispatch(app, "tenant:acme")
    invalidation.dispatch(app, f"keys:{tenant.id}")
    invalidation.dispatch(app, "nonsense")  # unknown kinds and empty keys are ignored
    invalidation.dispatch(app, "tenant:")
    assert app.extensions[EXTENSION].get("acme", clock.now()) is None
    assert app.extensions["idp.signing_keys"].get(tenant.id, "RS256", clock.now()) is None


def test_a_committed_change_reaches_a_listener_and_a_rolled_back_one_does_not(app: Flask, database: str,
                                                                              database_url: str) -> None:
    if database != "postgresql":
        pytest.skip("LISTEN/NOTIFY is PostgreSQL's; SQLite is one process")
    heard: list[str] = []
    invalidation.on("test", lambda _app, key: heard.append(key))
    listener = invalidation.start_listener(app, database_url)
    assert listener is not None and listener.listening.wait(5)
    try:
        with unit_of_work():
            invalidation.announce(db.session(), "test", "rolled-back")
            db.session.rollback()
        with unit_of_work():
            invalidation.announce(db.session(), "test", "committed")
        assert wait_until(lambda: "committed" in heard)
        assert "rolled-back" not in heard
        tenant = make_tenant()
        heard.clear()
        invalidation.on("keys", lambda _app, key: heard.append(f"keys:{key}"))
        with unit_of_work():
            rotate_keys(tenant)
        assert wait_until(lambda: f"keys:{tenant.id}" in heard), "a key rotation is announced"
    finally:
        listener.stop()
        from idp.signing import service

        service.init_app(app, app.extensions[service.KEY_GENERATOR])  # the real "keys" forgetter again


def test_a_client_changed_elsewhere_is_forgotten_here(app: Flask, database: str, database_url: str) -> None:
    """Another process (here: this one's unit of work, heard back through PostgreSQL) edits a
    client: the listener forgets this process's copy, so the next lookup reads the new row."""
    from idp.oauth.clients import EXTENSION as CLIENTS
    from idp.oauth.clients import find_client
    from idp.oauth.models import Client
    from tests.oauth.helpers import make_rp

    tenant = make_tenant()
    rp = make_rp(tenant)
    with app.test_request_context():
        assert find_client(tenant, rp.client_id) is not None
    key = (tenant.id, rp.client_id)
    assert app.extensions[CLIENTS].get(key, clock.now()) is not None
    invalidation.dispatch(app, f"client:{tenant.id}|{rp.client_id}")
    assert app.extensions[CLIENTS].get(key, clock.now()) is None
    if database != "postgresql":
        return
    with app.test_request_context():
        find_client(tenant, rp.client_id)
    listener = invalidation.start_listener(app, database_url)
    assert listener is not None and listener.listening.wait(5)
    try:
        with unit_of_work():
            row = db.session.query(Client).filter_by(client_id=rp.client_id).one()
            row.client_metadata = {**row.client_metadata, "client_name": "Renamed"}
        assert wait_until(lambda: app.extensions[CLIENTS].get(key, clock.now()) is None)
    finally:
        listener.stop()


def test_while_notices_are_heard_entries_live_for_minutes_and_a_reconnect_forgets_them(
        app: Flask, database: str, database_url: str) -> None:
    """Exact caches can keep entries long; but a listener that (re)connects may have missed
    notices, so it forgets every cache first. Without a listener, entries live seconds."""
    from datetime import timedelta

    from sqlalchemy import text

    if database != "postgresql":
        pytest.skip("LISTEN/NOTIFY is PostgreSQL's; SQLite is one process")
    make_tenant()
    cache = app.extensions[EXTENSION]
    with app.test_request_context():
        cached_tenant("acme")
    assert cache.get("acme", clock.now() + timedelta(seconds=6)) is None, "no listener: seconds"
    listener = invalidation.start_listener(app, database_url)
    assert listener is not None and listener.listening.wait(5) and invalidation.exact(app)
    try:
        with app.test_request_context():
            cached_tenant("acme")
        assert cache.get("acme", clock.now() + timedelta(seconds=60)) is not None, "listening: minutes"
        listener.listening.clear()
        with db.engine.connect() as connection:  # the listener's connection dies under it
            connection.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                    "WHERE query LIKE 'LISTEN portcullis_invalidate%'"))
        assert wait_until(lambda: listener.listening.is_set(), seconds=10), "it reconnects"
        assert cache.get("acme", clock.now()) is None, "and forgot what it may have missed"
    finally:
        listener.stop()
        app.extensions.pop(invalidation.LISTENER_KEY, None)
    assert not invalidation.exact(app)
