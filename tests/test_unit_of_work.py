"""The unit of work: what commits, what rolls back, and what a database outage becomes."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import create_engine, event, select
from sqlalchemy.exc import IntegrityError, OperationalError

from idp import clock
from idp.db import db, loaded_instance, new_id
from idp.errors import DatabaseUnavailable, InvalidInput, Throttled
from idp.provisioning.tenants import create_tenant
from idp.tenancy.models import Tenant
from idp.unit_of_work import as_outage, finish, keep_on_refusal, unit_of_work


def stored_accounts(database_url: str) -> set[str]:
    """What another connection sees: only what was committed."""
    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            return set(conn.scalars(select(Tenant.account)))
    finally:
        engine.dispose()


@pytest.mark.parametrize(("status", "kept"), [(200, True), (201, True), (303, True), (400, False),
                                              (404, False), (429, False), (500, False), (503, False)])
def test_a_request_commits_a_success_and_rolls_back_anything_else(
    app: Flask, database_url: str, status: int, kept: bool,
) -> None:
    create_tenant("uow", "UoW")
    finish(status)
    assert ("uow" in stored_accounts(database_url)) is kept


@pytest.mark.parametrize(("status", "kept"), [(400, True), (401, True), (429, True), (500, False), (503, False)])
def test_a_refusal_that_must_keep_its_change_commits_but_a_server_error_never_does(
    app: Flask, database_url: str, status: int, kept: bool,
) -> None:
    create_tenant("uow", "UoW")
    keep_on_refusal()
    finish(status)
    assert ("uow" in stored_accounts(database_url)) is kept


def _transactions_ended(run: Callable[[], None]) -> int:
    """How many commits and rollbacks the request's session went through while `run` ran."""
    ended: list[object] = []

    def count(conn: object) -> None:
        ended.append(conn)

    session = db.session()
    for name in ("after_commit", "after_rollback"):
        event.listen(session, name, count)
    try:
        run()
    finally:
        for name in ("after_commit", "after_rollback"):
            event.remove(session, name, count)
    return len(ended)


def _tenant_values(account: str) -> dict[str, Any]:
    tenant = create_tenant(account, "Cached")
    finish(200)
    values = {attr.key: getattr(tenant, attr.key) for attr in Tenant.__mapper__.column_attrs}
    db.session.remove()
    return values


def test_a_request_that_ran_no_statement_and_changed_nothing_skips_the_commit(app: Flask) -> None:
    """The token endpoint's warm client_credentials grant: tenant and client from the caches,
    no SQL, so nothing to commit, and the session's commit (expiring every loaded instance, its
    events) is skipped: 3-8 % of the grant's CPU in-process."""
    values = _tenant_values("uow")

    def request() -> None:
        loaded_instance(Tenant, values)
        finish(200)

    assert _transactions_ended(request) == 0
    assert _transactions_ended(lambda: (db.session.execute(select(Tenant.id)), finish(200))) == 1


def test_a_change_to_a_cached_row_with_no_statement_yet_is_still_committed(app: Flask, database_url: str) -> None:
    values = _tenant_values("uow")
    loaded_instance(Tenant, values).name = "Renamed"
    finish(200)
    with create_engine(database_url).connect() as conn:
        assert conn.scalar(select(Tenant.name).where(Tenant.account == "uow")) == "Renamed"


def test_an_added_row_never_flushed_is_still_committed(app: Flask, database_url: str) -> None:
    values = _tenant_values("uow") | {"id": new_id(), "account": "uow-two"}
    db.session.add(Tenant(**values))
    finish(201)
    assert "uow-two" in stored_accounts(database_url)


def test_keeping_is_for_one_unit_of_work_only(app: Flask, database_url: str) -> None:
    keep_on_refusal()
    finish(400)
    create_tenant("uow", "UoW")
    finish(400)
    assert "uow" not in stored_accounts(database_url)


def test_a_block_commits_when_it_ends_and_rolls_back_when_it_raises(app: Flask, database_url: str) -> None:
    with unit_of_work():
        create_tenant("kept", "UoW")
    with pytest.raises(RuntimeError), unit_of_work():
        create_tenant("dropped", "UoW")
        raise RuntimeError("half-way")
    with pytest.raises(InvalidInput), unit_of_work():
        create_tenant("refused", "UoW")
        raise InvalidInput("no")
    with pytest.raises(Throttled), unit_of_work():
        create_tenant("counted", "UoW")
        keep_on_refusal()
        raise Throttled(5)
    assert stored_accounts(database_url) == {"kept", "counted"}


def test_a_commit_that_breaks_a_constraint_is_not_an_outage(app: Flask, database_url: str) -> None:
    with unit_of_work():
        create_tenant("twice", "UoW")
    with pytest.raises(IntegrityError), unit_of_work():
        db.session.add(Tenant(id=new_id(), account="twice", name="Again", created_at=clock.now()))
    assert stored_accounts(database_url) == {"twice"}


def test_outages_are_told_from_other_database_errors() -> None:
    refused = OperationalError("SELECT 1", {}, ConnectionRefusedError("connection refused"))
    assert isinstance(as_outage(refused), DatabaseUnavailable)
    assert as_outage(IntegrityError("INSERT", {}, ValueError("duplicate key"))) is None
    assert as_outage(ValueError("not a database error")) is None
    assert as_outage(OperationalError("SELECT", {}, sqlite3.OperationalError("no such table: users"))) is None
    assert isinstance(as_outage(OperationalError("SELECT", {}, sqlite3.OperationalError("database is locked"))),
                      DatabaseUnavailable)
    unavailable = DatabaseUnavailable()
    assert as_outage(unavailable) is unavailable
    assert unavailable.status == 503 and unavailable.headers()["Retry-After"].isdigit()
