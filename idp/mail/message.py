"""Building the RFC 5322 message from an outbox row. Pure: no I/O, no database."""

from __future__ import annotations

from datetime import datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime

from idp.mail.outbox import Payload


def build_message(
    *, message_id: str, to_address: str, subject: str, created_at: datetime, payload: Payload,
    from_address: str,
) -> EmailMessage:
    """multipart/alternative, text first (RFC 2046 §5.1.4: the richest part comes last).

    Bodies are sent as 7bit/8bit rather than quoted-printable so the link stays on one line,
    byte for byte, in the .eml files people and tests open (RFC 5322 allows 998-octet lines).
    """
    message = EmailMessage()
    local, _, domain = from_address.partition("@")
    message["From"] = Address(display_name=payload.from_name, username=local, domain=domain)
    message["To"] = to_address
    message["Subject"] = subject
    message["Date"] = format_datetime(created_at)
    # The same Message-ID on every retry lets receivers drop a duplicate of a delivered message.
    message["Message-ID"] = f"<{message_id}@{domain}>"
    message["Auto-Submitted"] = "auto-generated"  # RFC 3834: no vacation replies to us
    message.set_content(payload.text, cte=_transfer_encoding(payload.text))
    message.add_alternative(payload.html, subtype="html", cte=_transfer_encoding(payload.html))
    return message


def _transfer_encoding(body: str) -> str:
    return "7bit" if body.isascii() else "8bit"
