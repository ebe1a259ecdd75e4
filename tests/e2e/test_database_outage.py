"""PostgreSQL stopped under load: only 503 with Retry-After, never a 500, nothing lost, and back
by itself when the database returns.

A real `idp serve` runs on a PostgreSQL server of this test's own (tests/pg_cluster.py), which
the test stops with `pg_ctl stop -m fast` (every session ended, as in a restart or failover) for
five seconds while four kinds of request keep arriving: the token endpoint's WSGI front, a JSON
endpoint and a page through Flask, and an admin API write. `bench/database_outage.py` runs the
same outage longer and reports it per second.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator

import pytest
import requests
from sqlalchemy import create_engine, text

from tests.e2e.conftest import _idp, _server_env, serving
from tests.e2e.outage_load import KINDS, Load
from tests.e2e.support import IdpServer
from tests.pg_cluster import PrivatePostgres, free_port

ACCOUNT = "outage"
OUTAGE_SECONDS = 5.0
THREADS = 4

pytestmark = pytest.mark.skipif(
    not os.environ.get("IDP_TEST_DATABASE_URL"),
    reason="PostgreSQL not configured: the suite runs SQLite only (make test runs this on PostgreSQL)",
)


@pytest.fixture(scope="module")
def postgres() -> Iterator[PrivatePostgres]:
    with PrivatePostgres() as server:
        yield server


@pytest.fixture(scope="module")
def outage_server(postgres: PrivatePostgres, tmp_path_factory: pytest.TempPathFactory) -> Iterator[
        tuple[IdpServer, dict[str, str]]]:
    workdir = tmp_path_factory.mktemp("idp-outage")
    port = free_port()
    env = _server_env(postgres.url, port, workdir)
    _idp(env, "db", "upgrade")
    _idp(env, "tenant", "create", ACCOUNT, "--name", "Outage Swim")
    created = _idp(env, "client", "create", "--tenant", ACCOUNT, "--name", "Office back end",
                   "--grant-type", "client_credentials", "--scope", "users:write", "--json")
    server = IdpServer(port=port, log_path=workdir / "server.log", database_url=postgres.url)
    with serving(env, server):
        yield server, {"client": created}


def test_a_database_outage_is_503_with_retry_after_and_recovers(
    postgres: PrivatePostgres, outage_server: tuple[IdpServer, dict[str, str]],
) -> None:
    import json

    server, seeded = outage_server
    client = json.loads(seeded["client"])
    base = server.path_url(ACCOUNT, "")
    token = requests.post(f"{base}/token", data={"grant_type": "client_credentials"}, timeout=15,
                          auth=(client["client_id"], client["client_secret"]))
    assert token.status_code == 200, token.text
    load = Load(base, (client["client_id"], client["client_secret"]), token.json()["access_token"])
    threads = load.start(THREADS)
    time.sleep(1.5)
    down_at = time.monotonic()
    postgres.stop(mode="fast")
    time.sleep(OUTAGE_SECONDS)
    postgres.start()
    up_at = time.monotonic()
    recovered = _wait_for_success_of_every_kind(load, since=up_at, timeout=20)
    load.stopping.set()
    for thread in threads:
        thread.join(timeout=30)

    statuses = {answer.status for answer in load.answers}
    assert statuses <= {200, 201, 503}, f"unexpected statuses {statuses}\n{server.log()}"
    refused = [a for a in load.answers if a.status == 503]
    assert refused, "the outage was never seen: the test did not test anything"
    assert all(a.retry_after and a.retry_after.isdigit() for a in refused), "every 503 says when to retry"
    assert all(a.content_type.startswith("text/html") for a in refused if a.kind == "page")
    assert all(a.content_type.startswith("application/json") for a in refused if a.kind != "page")
    assert all(down_at <= a.at for a in refused), "nothing was refused before the database went down"
    assert recovered, f"not every kind of request succeeded again within 20 s of the restart\n{server.log()}"
    assert "unhandled error" not in server.log() and "Traceback" not in server.log()

    engine = create_engine(postgres.url)
    with engine.connect() as conn:
        stored = set(conn.scalars(text("SELECT email FROM users WHERE email LIKE '%@outage.example'")))
    engine.dispose()
    assert set(load.created) <= stored, "a creation that answered 201 was lost"
    assert load.created, "no creation succeeded at all"


def _wait_for_success_of_every_kind(load: Load, since: float, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with load.lock:
            back = {a.kind for a in load.answers if a.at >= since and a.status in (200, 201)}
        if back >= set(KINDS):
            return True
        time.sleep(0.2)
    return False
