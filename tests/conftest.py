"""Fixtures: every test that touches storage runs on SQLite and, when configured, PostgreSQL.

`make test` sets IDP_TEST_DATABASE_URL when a PostgreSQL server answers; with
IDP_TEST_REQUIRE_POSTGRES=1 the run fails if no PostgreSQL test passed, so a broken PostgreSQL
half can never hide behind a green SQLite run.
"""

from __future__ import annotations

import os
import secrets
from collections import Counter
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import create_engine, text

from idp.app import create_app
from idp.config import Config
from idp.db import db
from idp.schema import upgrade
from idp.signing.service import KEY_GENERATOR, PrivateKey, fresh_key
from tests.mail.smtp_server import Mailbox, SmtpServer, free_port
from tests.mail.support import SMTP_MAILBOX

PG_URL = os.environ.get("IDP_TEST_DATABASE_URL")
DATABASES = ["sqlite"] + (["postgresql"] if PG_URL else [])
_passed_by_database: Counter[str] = Counter()


def _reset_postgres(url: str) -> None:
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()


@pytest.fixture(scope="session", params=DATABASES)
def database_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A migrated database, made once per backend per run."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('sqlite') / 'test.db'}"
    else:
        assert PG_URL is not None
        url = PG_URL
        _reset_postgres(url)
    engine = create_engine(url)
    upgrade(engine)
    engine.dispose()
    return url


@pytest.fixture
def database(database_url: str) -> str:
    return "postgresql" if database_url.startswith("postgresql") else "sqlite"


@pytest.fixture(scope="session")
def master_key() -> bytes:
    return secrets.token_bytes(32)


@pytest.fixture
def config(database_url: str, master_key: bytes, tmp_path: Path) -> Config:
    return Config(
        database_url=database_url,
        public_url="http://localhost",
        base_domain="localhost",
        smtp_url=None,
        mail_outbox=tmp_path / "outbox",
        master_key=master_key,
        log_level="WARNING",
    )


class KeyPool:
    """Signing keys made once per run and handed out in turn: RSA key generation costs about 70 ms,
    and the suite makes a tenant (two keys) in most tests. Consecutive keys always differ, and a
    test gets POOL_SIZE keys of each algorithm before any repeats, so every tenant and every
    rotation within a test still has keys of its own. Production makes each key fresh
    (idp.signing.service.fresh_key); `tests/signing/test_keys.py` checks that one too."""

    POOL_SIZE = 24

    def __init__(self) -> None:
        self._keys: dict[str, list[PrivateKey]] = {}
        self._turn: Counter[str] = Counter()

    def generate(self, alg: str) -> PrivateKey:
        keys = self._keys.setdefault(alg, [])
        if len(keys) < self.POOL_SIZE:
            keys.append(fresh_key(alg))
            return keys[-1]
        self._turn[alg] += 1
        return keys[self._turn[alg] % self.POOL_SIZE]


@pytest.fixture(scope="session")
def key_pool() -> KeyPool:
    return KeyPool()


@pytest.fixture
def app(config: Config, database: str, key_pool: KeyPool) -> Iterator[Flask]:
    app = create_app(config, TESTING=True)
    app.extensions[KEY_GENERATOR] = key_pool.generate
    with app.app_context():
        yield app
        db.session.rollback()
        db.session.remove()
        _empty_tables()
        db.engine.dispose()


def _empty_tables() -> None:
    with db.engine.begin() as conn:
        for table in reversed(db.metadata.sorted_tables):
            conn.execute(table.delete())


class IsolatedClient(FlaskClient):
    """Each request gets its own app context (and so its own `g` and database session), as in
    production; the test's own app context stays open around it for factories and asserts."""

    def open(self, *args: Any, **kwargs: Any):  # type: ignore[no-untyped-def]
        with self.application.app_context():
            return super().open(*args, **kwargs)


@pytest.fixture(scope="session")
def smtp_server() -> Iterator[SmtpServer]:
    """One real SMTP server (aiosmtpd) on 127.0.0.1 for the whole run."""
    server = SmtpServer(free_port(), Mailbox())
    server.start()
    yield server
    server.stop()


@pytest.fixture
def smtp_mailbox(app: Flask, smtp_server: SmtpServer) -> Mailbox:
    """Mail of this test goes out by SMTP to the real server; `tests.mail.support.deliver` runs
    the sender and reads what the server received."""
    smtp_server.mailbox.messages.clear()
    app.config["IDP"] = replace(app.config["IDP"], smtp_url=f"smtp://127.0.0.1:{smtp_server.port}?timeout=5")
    app.extensions[SMTP_MAILBOX] = smtp_server.mailbox
    return smtp_server.mailbox


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    app.test_client_class = IsolatedClient
    return app.test_client()


@pytest.fixture
def runner(app: Flask):  # type: ignore[no-untyped-def]
    return app.test_cli_runner()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):  # type: ignore[no-untyped-def]
    outcome = yield
    report = outcome.get_result()
    if report.when == "call" and report.passed:
        callspec = getattr(item, "callspec", None)
        if callspec is not None and "database_url" in callspec.params:
            _passed_by_database[callspec.params["database_url"]] += 1


def pytest_terminal_summary(terminalreporter, exitstatus, config):  # type: ignore[no-untyped-def]
    ran = ", ".join(f"{name}: {_passed_by_database[name]} passed" for name in DATABASES)
    terminalreporter.write_line(f"databases exercised — {ran}")
    if not PG_URL:
        terminalreporter.write_line("PostgreSQL not configured (IDP_TEST_DATABASE_URL unset): SQLite only")


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if os.environ.get("IDP_TEST_REQUIRE_POSTGRES") == "1" and _passed_by_database["postgresql"] == 0:
        if session.config.option.collectonly or getattr(session.config.option, "keyword", ""):
            return
        print("\nERROR: PostgreSQL was required but no PostgreSQL test passed")
        session.exitstatus = 1
