"""Reading what the outbox delivered, the way a person (or the browser test) would: from the real
SMTP server the flow tests send through, or from the .eml folder."""

from __future__ import annotations

import re
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

from flask import Flask

from idp.mail.sender import send_pending

LINK = re.compile(r"https?://\S+/(?:reset-password|set-password|verify-email|family/invitation)/[A-Za-z0-9_-]+")


SMTP_MAILBOX = "tests.smtp_mailbox"


def deliver(app: Flask) -> list[EmailMessage]:
    """Run the real sender against the test's SMTP server (the `smtp_mailbox` fixture) and return
    every message the server has received in this test, oldest first."""
    mailbox = app.extensions.get(SMTP_MAILBOX)
    assert mailbox is not None, "a test that reads mail uses the smtp_mailbox fixture"
    report = send_pending()
    assert report.failed == 0, "the SMTP server refused or did not answer"
    return list(mailbox.messages)


def read_outbox(folder: Path) -> list[EmailMessage]:
    messages = []
    for path in sorted(folder.glob("*.eml"), key=lambda p: p.stat().st_mtime_ns):
        parsed = message_from_bytes(path.read_bytes(), policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        messages.append(parsed)
    return messages


def text_of(message: EmailMessage) -> str:
    part = message.get_body(("plain",))
    assert part is not None
    return str(part.get_content())  # type: ignore[attr-defined]


def link_in(message: EmailMessage) -> str:
    match = LINK.search(text_of(message))
    assert match, f"no link in {message['Subject']!r}"
    return match.group(0)


def last_link(app: Flask, to: str | None = None) -> str:
    messages = [m for m in deliver(app) if to is None or m["To"] == to]
    assert messages, "no mail was delivered"
    return link_in(messages[-1])
