"""The outbox and its sender against a real SMTP server on 127.0.0.1 and a real folder."""

from __future__ import annotations

import threading
from datetime import timedelta
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import func, select

from idp.db import db
from idp.mail.backoff import CLAIM_LEASE, MAX_ATTEMPTS, retry_delay
from idp.mail.models import FAILED, PENDING, SENT, DeliveryAttempt, OutboxMessage
from idp.mail.outbox import enqueue
from idp.mail.sender import claim_due, send_pending
from idp.mail.transports import FolderTransport, SmtpTransport
from idp.smtp_url import parse_smtp_url
from idp.tenancy.models import Tenant
from tests.helpers import make_tenant
from tests.mail.smtp_server import Mailbox, SmtpServer, free_port, make_self_signed
from tests.mail.support import link_in, read_outbox, text_of

LINK = "http://localhost/a/acme/reset-password/" + "T" * 43


def queue(tenant: Tenant, to: str = "coach@example.com", link: str = LINK) -> OutboxMessage:
    message = enqueue(tenant, "reset_password", to, link=link, name="Casey", email=to, expires_in="1 hour")
    db.session.commit()
    return message


def statuses() -> list[str]:
    return list(db.session.scalars(select(OutboxMessage.status).order_by(OutboxMessage.created_at)))


def attempts(outcome: str | None = None) -> int:
    query = select(func.count()).select_from(DeliveryAttempt)
    if outcome:
        query = query.where(DeliveryAttempt.outcome == outcome)
    return int(db.session.scalar(query) or 0)


def advance(app: Flask, delta: timedelta) -> None:
    app.extensions["idp.clock"].advance(delta)


@pytest.fixture
def smtp() -> SmtpServer:
    server = SmtpServer(free_port(), Mailbox())
    yield server  # type: ignore[misc]
    server.stop()


def test_smtp_down_then_up_delivers_with_backoff(app: Flask, smtp: SmtpServer) -> None:
    tenant = make_tenant()
    queue(tenant)
    transport = SmtpTransport(parse_smtp_url(f"smtp://127.0.0.1:{smtp.port}?timeout=5"))

    report = send_pending(transport)  # nothing listens on the port yet
    db.session.expire_all()
    message = db.session.scalars(select(OutboxMessage)).one()
    assert report.failed == 1 and report.sent == 0
    assert message.status == PENDING and message.attempts == 1
    assert message.last_error and "Connection" in message.last_error
    assert attempts("failed") == 1

    smtp.start()
    assert send_pending(transport).sent == 0, "not due again before the backoff delay"
    advance(app, retry_delay(1))
    assert send_pending(transport).sent == 1
    db.session.expire_all()
    assert statuses() == [SENT]
    assert attempts("failed") == 1 and attempts("sent") == 1
    [received] = smtp.mailbox.messages
    assert received["To"] == "coach@example.com"
    assert link_in(received) == LINK
    assert received["Subject"] == "Reset your Acme Swim School password"


def test_starttls_and_login(app: Flask, tmp_path: Path) -> None:
    tls = make_self_signed(tmp_path)
    server = SmtpServer(free_port(), Mailbox(), tls=tls, credentials=("mailer", "s3cret p@ss"))
    server.start()
    try:
        tenant = make_tenant()
        queue(tenant)
        url = f"smtp+starttls://mailer:s3cret%20p%40ss@127.0.0.1:{server.port}?cafile={tls.cert}"
        assert send_pending(SmtpTransport(parse_smtp_url(url))).sent == 1
        assert server.mailbox.logins == ["mailer"]
        assert len(server.mailbox.messages) == 1
    finally:
        server.stop()


def test_starttls_refuses_an_untrusted_certificate(app: Flask, tmp_path: Path) -> None:
    tls = make_self_signed(tmp_path)
    server = SmtpServer(free_port(), Mailbox(), tls=tls)
    server.start()
    try:
        queue(make_tenant())
        report = send_pending(SmtpTransport(parse_smtp_url(f"smtp+starttls://127.0.0.1:{server.port}")))
        assert report.failed == 1 and server.mailbox.messages == []
        db.session.expire_all()
        assert statuses() == [PENDING], "a TLS failure is retried, not dropped"
    finally:
        server.stop()


def test_permanent_refusal_is_not_retried(app: Flask, smtp: SmtpServer) -> None:
    smtp.mailbox.refuse.add("gone@example.com")
    smtp.start()
    tenant = make_tenant()
    queue(tenant, to="gone@example.com")
    report = send_pending(SmtpTransport(parse_smtp_url(f"smtp://127.0.0.1:{smtp.port}")))
    db.session.expire_all()
    assert statuses() == [FAILED] and len(report.given_up) == 1
    assert "550" in (db.session.scalars(select(OutboxMessage.last_error)).one() or "")


def test_transient_failures_give_up_after_the_last_attempt(app: Flask, tmp_path: Path) -> None:
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("a file where the outbox folder should be")
    queue(make_tenant())
    for _ in range(MAX_ATTEMPTS):
        send_pending(FolderTransport(blocked))
        advance(app, timedelta(hours=2))
    db.session.expire_all()
    assert statuses() == [FAILED]
    assert attempts("failed") == MAX_ATTEMPTS


def test_message_is_committed_with_the_change_that_caused_it(app: Flask) -> None:
    tenant = make_tenant()
    enqueue(tenant, "reset_password", "a@example.com", link=LINK, email="a@example.com", expires_in="1 hour")
    db.session.rollback()
    assert statuses() == []
    queue(tenant)
    assert statuses() == [PENDING]


def test_bodies_are_sealed_at_rest_and_dropped_once_sent(app: Flask) -> None:
    queue(make_tenant())
    row = db.session.scalars(select(OutboxMessage)).one()
    assert row.payload_sealed and "T" * 43 not in row.payload_sealed
    send_pending()
    db.session.expire_all()
    assert db.session.scalars(select(OutboxMessage.payload_sealed)).one() is None


def test_eml_file_is_multipart_and_has_the_link_in_plain_text(app: Flask) -> None:
    queue(make_tenant())
    assert send_pending().sent == 1
    folder = app.config["IDP"].mail_outbox
    [path] = list(folder.glob("*.eml"))
    raw = path.read_bytes()
    assert LINK.encode() in raw, "the link must be greppable in the file"
    assert not list(folder.glob(".*.tmp")), "no temporary file is left behind"
    [message] = read_outbox(folder)
    assert message.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in message.iter_parts()] == ["text/plain", "text/html"]
    assert "Acme Swim School" in text_of(message)
    html = message.get_body(("html",))
    assert html is not None and f'href="{LINK}"' in html.get_content()
    assert message["Auto-Submitted"] == "auto-generated"
    assert message["From"].addresses[0].display_name == "Acme Swim School"


def test_a_crashed_sender_loses_its_claim_after_the_lease(app: Flask) -> None:
    queue(make_tenant())
    assert len(claim_due(10)) == 1  # ... and the sender dies here
    assert send_pending().sent == 0, "the claim still holds"
    advance(app, CLAIM_LEASE + timedelta(seconds=1))
    assert send_pending().sent == 1
    db.session.expire_all()
    assert db.session.scalars(select(OutboxMessage.attempts)).one() == 2


def test_concurrent_senders_deliver_each_message_once(app: Flask) -> None:
    tenant = make_tenant()
    for number in range(24):
        enqueue(tenant, "reset_password", f"p{number}@example.com", link=LINK, email="x", expires_in="1 hour")
    db.session.commit()
    folder = app.config["IDP"].mail_outbox
    start = threading.Barrier(3)
    errors: list[BaseException] = []

    def sender() -> None:
        with app.app_context():
            try:
                start.wait()
                send_pending(FolderTransport(folder))
            except BaseException as exc:  # noqa: BLE001 - reported below
                errors.append(exc)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=sender) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    db.session.expire_all()
    assert statuses() == [SENT] * 24
    assert attempts("sent") == 24, "no message was delivered twice"
    assert len(list(folder.glob("*.eml"))) == 24
