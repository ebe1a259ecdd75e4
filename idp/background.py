"""Periodic jobs inside an `idp serve` worker: one thread per job, started after the worker
forks (threads do not survive a fork) and stopped when the worker exits.

Each pass runs in an application context and ends by releasing its database session; an error
in one pass is logged and the next pass retries, so a database hiccup never kills the thread.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from flask import Flask

from idp.db import db
from idp.unit_of_work import as_outage

log = logging.getLogger(__name__)


class PeriodicJob(threading.Thread):
    """Runs `job` every `poll_seconds`, or at once when `wake` is set."""

    def __init__(self, app: Flask, name: str, job: Callable[[], object], poll_seconds: float,
                 wake: threading.Event | None = None) -> None:
        super().__init__(name=name, daemon=True)
        self.app = app
        self.job = job
        self.poll_seconds = poll_seconds
        self._wake = wake or threading.Event()
        self._stopping = threading.Event()

    def run(self) -> None:
        while not self._stopping.is_set():
            self.run_once()
            self._wake.wait(self.poll_seconds)
            self._wake.clear()

    def run_once(self) -> None:
        with self.app.app_context():
            try:
                self.job()
            except Exception as error:
                if as_outage(error) is None:
                    log.exception("%s: pass failed; the next one retries", self.name)
                else:  # expected while the database restarts: no traceback
                    log.warning("%s: the database does not answer; the next pass retries", self.name)
            finally:
                db.session.remove()

    def stop(self, timeout: float = 5.0) -> None:
        """Finish the pass in hand, then return (a worker gets 10 s after SIGTERM: idp.server)."""
        self._stopping.set()
        self._wake.set()
        self.join(timeout)
