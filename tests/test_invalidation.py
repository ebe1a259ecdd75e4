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
