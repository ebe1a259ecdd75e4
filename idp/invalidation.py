"""Cache invalidation across nodes: PostgreSQL LISTEN/NOTIFY.

Each process caches tenant rows, clients and active signing keys (docs/decisions/tenant-cache.md,
client-cache.md, signing-key-cache.md). A change made anywhere `announce`s itself on the
`portcullis_invalidate` channel in the transaction that makes it, so PostgreSQL delivers it at
commit (and never for a rollback). Every worker of every node listens on its own connection
(`Listener`) and forgets the entry at once.

While a process listens, its caches are exact, so they keep entries for an hour (`lifetime`,
EXACT_SECONDS): with 10,000 tenants a worker sees each one far less often than every few seconds,
and each expiry is a cold read again. The hour is only a backstop against a change that forgot to
announce itself (Keycloak's realm cache, invalidated across its cluster the same way, has none). Whenever the
listener (re)connects it first forgets everything (notices sent while nobody listened are lost),
and while it is down entries live only seconds, as on SQLite (one node, nothing to tell). A
connection that died without a word is found by a ping every PING_SECONDS.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from flask import Flask
from sqlalchemy import text
from sqlalchemy.orm import Session

log = logging.getLogger(__name__)

CHANNEL = "portcullis_invalidate"
LISTENER_KEY = "idp.invalidation_listener"
PING_SECONDS = 15.0
EXACT_SECONDS = 3600.0  # how long a cache entry lives while every change is heard
Forget = Callable[[Flask, str], None]
ForgetAll = Callable[[Flask], None]
_forgetters: dict[str, Forget] = {}
_clearers: dict[str, ForgetAll] = {}


def on_missed(name: str, forget_all: ForgetAll) -> None:
    """Register how a process forgets a whole cache when notices may have been missed."""
    _clearers[name] = forget_all


def exact(app: Flask) -> bool:
    """Whether this process hears every change now (its listener is connected)."""
    listener: Listener | None = app.extensions.get(LISTENER_KEY)
    return listener is not None and listener.listening.is_set()


def lifetime(app: Flask, short: float, longest: float = EXACT_SECONDS) -> float:
    """How long a cache entry made now may live: `longest` while notices arrive, else `short`."""
    return longest if exact(app) else short


def on(kind: str, forget: Forget) -> None:
    """Register how a notice of `kind` ("tenant", "keys") is acted on in a process."""
    _forgetters[kind] = forget


def announce(session: Session, kind: str, key: str) -> None:
    """Tell every node, at this transaction's commit, that `kind:key` changed."""
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_notify(:channel, :payload)"), {"channel": CHANNEL,
                                                                         "payload": f"{kind}:{key}"[:7000]})


def dispatch(app: Flask, payload: str) -> None:
    kind, _, key = payload.partition(":")
    forget = _forgetters.get(kind)
    if forget is not None and key:
        forget(app, key)


class Listener(threading.Thread):
    """LISTENs on its own autocommit connection and acts on each notice; reconnects after a second."""

    def __init__(self, app: Flask, conninfo: str) -> None:
        super().__init__(name="portcullis-invalidation", daemon=True)
        self.app = app
        self.conninfo = conninfo
        self._stopping = threading.Event()
        self.listening = threading.Event()

    def run(self) -> None:
        import psycopg

        while not self._stopping.is_set():
            try:
                with psycopg.connect(self.conninfo, autocommit=True, connect_timeout=5) as connection:
                    connection.execute(f"LISTEN {CHANNEL}")
                    for forget_all in list(_clearers.values()):  # what changed while nobody listened
                        forget_all(self.app)
                    self.listening.set()
                    pinged = time.monotonic()
                    while not self._stopping.is_set():
                        for notice in connection.notifies(timeout=1.0):
                            dispatch(self.app, notice.payload)
                        if time.monotonic() - pinged >= PING_SECONDS:
                            connection.execute("SELECT 1")  # a dead connection raises here
                            pinged = time.monotonic()
            except Exception as error:  # the database went away: the caches' expiry covers it
                self.listening.clear()
                log.warning("cache invalidation listener: %s; retrying", type(error).__name__)
                self._stopping.wait(1.0)

    def stop(self, timeout: float = 5.0) -> None:
        self._stopping.set()
        self.listening.clear()
        self.join(timeout)


def start_listener(app: Flask, database_url: str) -> Listener | None:
    """A listener for this process when the database is PostgreSQL (else None)."""
    if not database_url.startswith("postgresql"):
        return None
    from sqlalchemy.engine import make_url

    url = make_url(database_url).set(drivername="postgresql")
    listener = Listener(app, url.render_as_string(hide_password=False))
    app.extensions[LISTENER_KEY] = listener
    listener.start()
    return listener
