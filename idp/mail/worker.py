"""The sender thread: one in each `idp serve` worker process, started after the worker
forks (threads do not survive a fork) and stopped when the worker exits.

Several workers and nodes each running one is safe: senders claim rows atomically
(idp.mail.sender). Tests do not get one unless they start it.
"""

from __future__ import annotations

import logging

from flask import Flask

from idp.background import PeriodicJob
from idp.mail.outbox import mail_queued
from idp.mail.sender import send_pending

log = logging.getLogger(__name__)
POLL_SECONDS = 10.0


def _send_pending_and_log() -> None:
    report = send_pending()
    if report.sent or report.failed:
        log.info("mail sender: %d sent, %d failed attempt(s)", report.sent, report.failed)


def start_sender(app: Flask, poll_seconds: float = POLL_SECONDS) -> PeriodicJob:
    """Deliver the outbox every `poll_seconds`, and at once whenever a commit queued mail."""
    thread = PeriodicJob(app, "idp-mail-sender", _send_pending_and_log, poll_seconds, wake=mail_queued)
    thread.start()
    return thread
