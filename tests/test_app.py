"""What create_app wires beyond the blueprints: here, the database pool's handling of connections
that the database server ended."""

from __future__ import annotations

import time

import pytest
from flask import Flask
from sqlalchemy import create_engine, text

from idp.db import db


def test_a_connection_the_database_server_ended_is_replaced_before_use(app: Flask, database_url: str) -> None:
    """After a database restart or pg_terminate_backend, the next request gets a fresh connection
    instead of an error (there is no pre-ping round trip to find out)."""
    if not database_url.startswith("postgresql"):
        pytest.skip("SQLite runs in-process: no server can end its connections")
    with app.app_context():
        db.session.remove()
        db.engine.dispose()  # the pool now holds only the connection opened next
        first = db.session.execute(text("SELECT pg_backend_pid()")).scalar_one()
        db.session.remove()  # back to the pool, idle
        admin = create_engine(database_url)
        try:
            with admin.connect() as conn:
                assert conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": first}).scalar_one()
                deadline = time.monotonic() + 5
                while conn.execute(text("SELECT count(*) FROM pg_stat_activity WHERE pid = :pid"),
                                   {"pid": first}).scalar_one() and time.monotonic() < deadline:
                    time.sleep(0.02)
        finally:
            admin.dispose()
        second = db.session.execute(text("SELECT pg_backend_pid()")).scalar_one()
        assert second != first
