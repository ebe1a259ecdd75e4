"""End-to-end fixtures: a real `idp serve` process and Debian's Chromium driven by Playwright.

The server runs against the same migrated databases as the rest of the suite (the session-scoped,
parametrized `database_url` fixture), so every browser test runs on SQLite and, when configured,
PostgreSQL. It is seeded with the real CLI and its rows are deleted again when the module is done.
The unit tests' `app` fixture empties every table after each test: e2e tests must not use it.

The browser is never downloaded: a Chromium that cannot launch fails the run, it does not skip.
"""

from __future__ import annotations

import base64
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Generator, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, sync_playwright
from sqlalchemy import MetaData, create_engine, delete, select

from tests.e2e.support import E2E_ACCOUNTS, TENANT_FILES, IdpServer

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
IDP = Path(sys.executable).with_name("idp")
STARTUP_TIMEOUT = 30.0

def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _server_env(database_url: str, port: int, workdir: Path) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("IDP_")}
    env.update(
        IDP_DATABASE_URL=database_url,
        IDP_MASTER_KEY=base64.urlsafe_b64encode(secrets.token_bytes(32)).decode(),
        IDP_PUBLIC_URL=f"http://127.0.0.1:{port}",
        IDP_BASE_DOMAIN="localhost",
        IDP_MAIL_OUTBOX=str(workdir / "outbox"),  # = IdpServer.outbox
        IDP_LOG_LEVEL="INFO",
        PYTHONUNBUFFERED="1",
        HOME=str(workdir),  # nothing of the server's may land in the real home
    )
    env.pop("XDG_RUNTIME_DIR", None)
    return env


def _idp(env: dict[str, str], *args: str) -> str:
    assert IDP.exists(), f"{IDP} not found: install the project into the venv (make install)"
    done = subprocess.run([str(IDP), *args], env=env, capture_output=True, text=True, timeout=60, check=False)
    if done.returncode != 0:
        pytest.fail(f"`idp {' '.join(args)}` failed ({done.returncode}):\n{done.stdout}{done.stderr}", pytrace=False)
    return done.stdout


def delete_tenants(database_url: str, accounts: tuple[str, ...]) -> None:
    """Delete the e2e tenants and every row they own (tables are reflected, not imported)."""
    engine = create_engine(database_url)
    try:
        metadata = MetaData()
        metadata.reflect(engine)
        tenants = metadata.tables.get("tenants")
        if tenants is None:
            return
        with engine.begin() as conn:
            ids = list(conn.scalars(select(tenants.c.id).where(tenants.c.account.in_(accounts))))
            if not ids:
                return
            for table in reversed(metadata.sorted_tables):
                if table is not tenants and "tenant_id" in table.c:
                    conn.execute(delete(table).where(table.c.tenant_id.in_(ids)))
            conn.execute(delete(tenants).where(tenants.c.id.in_(ids)))
    finally:
        engine.dispose()


def _wait_until_healthy(process: subprocess.Popen[bytes], server: IdpServer) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"`idp serve` exited with status {process.returncode}:\n{server.log()}", pytrace=False)
        try:
            with urllib.request.urlopen(f"{server.url}/healthz", timeout=2) as response:  # noqa: S310
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError) as exc:
            last_error = exc
        time.sleep(0.1)
    pytest.fail(f"`idp serve` did not answer /healthz in {STARTUP_TIMEOUT:.0f}s ({last_error}):\n{server.log()}",
                pytrace=False)


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)  # graceful: the server stops its workers, then itself
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=5)


@contextmanager
def serving(env: dict[str, str], server: IdpServer) -> Iterator[None]:
    """`idp serve --workers 1` for `server`, healthy before the body runs, stopped after it."""
    with server.log_path.open("wb") as log:
        process = subprocess.Popen(  # noqa: S603
            [str(IDP), "serve", "--host", "127.0.0.1", "--port", str(server.port), "--workers", "1"],
            env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
    try:
        _wait_until_healthy(process, server)
        yield
    finally:
        _stop(process)


@contextmanager
def serving_tenant(database_url: str, workdir: Path, account: str, tenant_toml: str,
                   extra_env: dict[str, str] | None = None) -> Iterator[IdpServer]:
    """`idp serve --workers 1` with one tenant applied from `tenant_toml` (deleted again after)."""
    port = _free_port()
    env = _server_env(database_url, port, workdir) | (extra_env or {})
    server = IdpServer(port=port, log_path=workdir / "server.log", database_url=database_url)
    delete_tenants(database_url, (account,))
    (workdir / "tenant.toml").write_text(tenant_toml)
    _idp(env, "tenant", "apply", str(workdir / "tenant.toml"))
    try:
        with serving(env, server):
            yield server
    finally:
        delete_tenants(database_url, (account,))


@pytest.fixture(scope="module")
def idp_server(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[IdpServer]:
    """A seeded `idp serve --workers 1` on a free loopback port, for one module and one database.

    Module-scoped (not session-scoped) so the e2e tenants are gone before other test modules run
    on the same database.
    """
    workdir = tmp_path_factory.mktemp("idp-e2e")
    port = _free_port()
    env = _server_env(database_url, port, workdir)
    server = IdpServer(port=port, log_path=workdir / "server.log", database_url=database_url)

    delete_tenants(database_url, E2E_ACCOUNTS)  # leftovers of an interrupted run
    for account, content in TENANT_FILES.items():
        path = workdir / f"{account}.toml"
        path.write_text(content)
        _idp(env, "tenant", "apply", str(path))

    try:
        with serving(env, server):
            yield server
    finally:
        delete_tenants(database_url, E2E_ACCOUNTS)


@pytest.fixture(scope="session")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="session")
def browser(playwright: Playwright) -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: run `make browser` (Debian's chromium package)", pytrace=False)
    try:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    except Exception as exc:
        pytest.fail(f"Chromium at {CHROMIUM} did not launch: {exc}", pytrace=False)
    yield browser
    browser.close()


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    """A fresh browser profile per test: no cookies carried between tests."""
    context = browser.new_context()
    context.set_default_timeout(10_000)
    yield context
    context.close()


@pytest.fixture
def page(context: BrowserContext) -> Page:
    return context.new_page()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, Any, None]:
    """Attach the tail of the server's log to every failed e2e test."""
    outcome = yield
    report = outcome.get_result()
    server = getattr(item, "funcargs", {}).get("idp_server")
    if report.failed and isinstance(server, IdpServer):
        report.sections.append(("idp serve log (tail)", server.log()))
