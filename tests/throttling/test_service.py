"""The one throttle store: counts per tenant, never lost under concurrency, and mail limits that
count nothing they refuse."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from flask import Flask
from sqlalchemy import select

from idp.db import db
from idp.throttling import service as throttle
from idp.throttling.models import ThrottleCounter
from idp.unit_of_work import unit_of_work
from tests.helpers import make_tenant

IP = "203.0.113.7"


def counts() -> list[int]:
    return sorted(db.session.scalars(select(ThrottleCounter.count)))


def test_failures_count_per_key_and_a_success_clears_the_account(app: Flask) -> None:
    tenant = make_tenant()
    for _ in range(3):
        throttle.record_failure(tenant, "user|1", IP)
    assert counts() == [3, 3], "the account and the client each counted three"
    throttle.record_success(tenant, "user|1")
    assert counts() == [3], "the client's count stays"


def test_the_wait_grows_after_the_free_attempts(app: Flask) -> None:
    tenant = make_tenant()
    for _ in range(5):
        throttle.check_failures(tenant, "user|1", IP)
        throttle.record_failure(tenant, "user|1", IP)
    with pytest.raises(throttle.TooManyAttempts) as refused:
        throttle.check_failures(tenant, "user|1", IP)
    assert refused.value.seconds == 2 and refused.value.headers() == {"Retry-After": "2"}
    app.extensions["idp.clock"].advance(timedelta(seconds=2))
    throttle.check_failures(tenant, "user|1", IP)


def test_a_quiet_hour_forgives_the_count(app: Flask) -> None:
    tenant = make_tenant()
    for _ in range(8):
        throttle.record_failure(tenant, "user|1", IP)
    app.extensions["idp.clock"].advance(timedelta(hours=1))
    throttle.record_failure(tenant, "user|1", IP)
    assert counts() == [1, 1]


def test_one_tenant_s_counters_never_throttle_another(app: Flask) -> None:
    acme, other = make_tenant("acme"), make_tenant("other")
    for _ in range(10):
        throttle.record_failure(acme, "typed|coach@example.com", IP)
    with pytest.raises(throttle.TooManyAttempts):
        throttle.check_failures(acme, "typed|coach@example.com", IP)
    throttle.check_failures(other, "typed|coach@example.com", IP)


def test_a_refused_mail_request_counts_nothing(app: Flask) -> None:
    tenant = make_tenant()
    checks = throttle.mail_checks("coach@example.com", IP)
    for _ in range(3):
        throttle.hit(tenant, checks)
    with pytest.raises(throttle.TooManyMails) as refused:
        throttle.hit(tenant, checks)
    assert "minutes" in refused.value.description and refused.value.seconds == 300
    assert counts() == [3, 3]


def test_concurrent_failures_on_one_key_are_all_counted(app: Flask, database: str) -> None:
    """Each thread is a request of its own (own app context, session and transaction)."""
    tenant_id = make_tenant().id
    attempts = 8
    errors: list[BaseException] = []
    start = threading.Barrier(attempts)

    def attempt() -> None:
        from idp.tenancy.models import Tenant

        try:
            with app.app_context():
                start.wait(timeout=10)
                with unit_of_work():
                    tenant = db.session.get(Tenant, tenant_id)
                    assert tenant is not None
                    throttle.record_failure(tenant, "user|1", IP)
                db.session.remove()
        except BaseException as error:  # noqa: BLE001 - reported below
            errors.append(error)

    threads = [threading.Thread(target=attempt) for _ in range(attempts)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors
    db.session.expire_all()
    assert counts() == [attempts, attempts], f"lost counts on {database}"
