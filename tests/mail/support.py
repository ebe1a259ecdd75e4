"""Reading what the outbox delivered, the way a person (or the browser test) would."""

from __future__ import annotations

import re
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

from flask import Flask

from idp.mail.sender import send_pending

LINK = re.compile(r"https?://\S+/(?:reset-password|set-password|verify-email)/[A-Za-z0-9_-]+")


def deliver(app: Flask) -> list[EmailMessage]:
    """Run the sender into the .eml folder and return every message there, oldest first."""
    send_pending()
    return read_outbox(app.config["IDP"].mail_outbox)


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
