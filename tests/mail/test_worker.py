"""The sender thread of `idp serve` and the `idp mail send-pending` command."""

from __future__ import annotations

import base64
import json
import time

from click.testing import CliRunner
from flask import Flask
from sqlalchemy import select

from idp.cli import main
from idp.config import Config
from idp.db import db
from idp.mail.models import SENT, OutboxMessage
from idp.mail.outbox import enqueue
from idp.mail.worker import start_sender
from tests.helpers import make_tenant
from tests.mail.smtp_server import Mailbox, SmtpServer, free_port

LINK = "http://localhost/a/acme/verify-email/" + "V" * 43


def queue(app: Flask, to: str = "coach@example.com") -> None:
    tenant = make_tenant()
    enqueue(tenant, "verify_email", to, link=LINK, email=to, expires_in="24 hours")
    db.session.commit()


def wait_for(predicate, seconds: float = 10.0) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def test_sender_thread_delivers_when_a_commit_queues_mail_and_stops_cleanly(app: Flask) -> None:
    sender = start_sender(app, poll_seconds=60)  # a long poll: only the commit can wake it in time
    try:
        queue(app)
        folder = app.config["IDP"].mail_outbox
        assert wait_for(lambda: len(list(folder.glob("*.eml"))) == 1)
    finally:
        sender.stop()
    assert not sender.is_alive()
    db.session.expire_all()
    assert db.session.scalars(select(OutboxMessage.status)).one() == SENT


def test_no_sender_thread_runs_in_tests_unless_started(app: Flask) -> None:
    import threading

    assert not [t for t in threading.enumerate() if t.name == "idp-mail-sender"]


def test_send_pending_command_delivers_through_smtp(app: Flask, config: Config) -> None:
    queue(app)
    server = SmtpServer(free_port(), Mailbox())
    env = {
        "IDP_DATABASE_URL": config.database_url,
        "IDP_MASTER_KEY": base64.urlsafe_b64encode(config.master_key).decode(),
        "IDP_SMTP_URL": f"smtp://127.0.0.1:{server.port}?timeout=5",
        "IDP_MAIL_FROM": "mail@swim.example",
    }
    down = CliRunner().invoke(main, ["mail", "send-pending", "--json"], env=env)
    assert down.exit_code == 0, down.output
    assert json.loads(down.output) == {"sent": 0, "failed": 1, "given_up": []}
    server.start()
    try:
        # The CLI runs on the real clock: make the retry due now rather than after the backoff.
        db.session.execute(OutboxMessage.__table__.update().values(next_attempt_at=OutboxMessage.created_at))
        db.session.commit()
        up = CliRunner().invoke(main, ["mail", "send-pending"], env=env)
        assert up.exit_code == 0, up.output
        assert up.output.startswith("1 sent")
        [received] = server.mailbox.messages
        assert received["From"].addresses[0].addr_spec == "mail@swim.example"
    finally:
        server.stop()
