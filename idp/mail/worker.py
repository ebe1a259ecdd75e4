"""The sender thread inside `idp serve`: one per gunicorn worker, started after the worker
forks (threads do not survive a fork) and stopped when the worker exits.

Several workers and nodes each running one is safe: senders claim rows atomically
(idp.mail.sender). Tests do not get one unless they start it.
"""

from __future__ import annotations

import logging
import threading

from flask import Flask

from idp.db import db
from idp.mail.outbox import mail_queued
from idp.mail.sender import send_pending

log = logging.getLogger(__name__)
POLL_SECONDS = 10.0


class MailSenderThread(threading.Thread):
    def __init__(self, app: Flask, poll_seconds: float = POLL_SECONDS) -> None:
        super().__init__(name="idp-mail-sender", daemon=True)
        self.app = app
        self.poll_seconds = poll_seconds
        self._stopping = threading.Event()

    def run(self) -> None:
        while not self._stopping.is_set():
            self.run_once()
            mail_queued.wait(self.poll_seconds)
            mail_queued.clear()

    def run_once(self) -> None:
        with self.app.app_context():
            try:
                report = send_pending()
                if report.sent or report.failed:
                    log.info("mail sender: %d sent, %d failed attempt(s)", report.sent, report.failed)
            except Exception:  # a database hiccup must not kill the thread; the next poll retries
                log.exception("mail sender pass failed")
            finally:
                db.session.remove()

    def stop(self, timeout: float = 5.0) -> None:
        """Finish the message in hand, then return (gunicorn's graceful timeout is longer)."""
        self._stopping.set()
        mail_queued.set()
        self.join(timeout)


def start_sender(app: Flask, poll_seconds: float = POLL_SECONDS) -> MailSenderThread:
    thread = MailSenderThread(app, poll_seconds)
    thread.start()
    return thread
