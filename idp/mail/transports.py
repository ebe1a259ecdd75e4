"""Handing a message over: to an SMTP server, or as a .eml file in a folder (the embedded default)."""

from __future__ import annotations

import logging
import os
import smtplib
import socket
import ssl
from email.message import EmailMessage
from pathlib import Path
from typing import Protocol

from idp.smtp_url import SmtpSettings, parse_smtp_url

log = logging.getLogger(__name__)


class DeliveryError(Exception):
    """The message was not handed over. `permanent`: retrying cannot help (SMTP 5xx)."""

    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


class Transport(Protocol):
    name: str

    def deliver(self, message: EmailMessage, *, file_stem: str, link: str | None) -> None: ...


class FolderTransport:
    """Writes each message as `{file_stem}.eml`: written aside, then renamed, so a reader never
    sees half a file and a retry of the same message replaces rather than duplicates it."""

    name = "folder"

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def deliver(self, message: EmailMessage, *, file_stem: str, link: str | None) -> None:
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            final = self.folder / f"{file_stem}.eml"
            temporary = self.folder / f".{file_stem}.{os.getpid()}.tmp"
            with open(temporary, "wb") as handle:
                handle.write(message.as_bytes())
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temporary, final)
        except OSError as exc:
            raise DeliveryError(f"cannot write to {self.folder}: {exc.strerror}") from exc
        # Development only: with no SMTP server, the log is where a developer finds the link.
        log.info("mail to %s written to %s: %s %s", message["To"], final, message["Subject"], link or "")


class SmtpTransport:
    name = "smtp"

    def __init__(self, settings: SmtpSettings) -> None:
        self.settings = settings

    def deliver(self, message: EmailMessage, *, file_stem: str, link: str | None) -> None:
        try:
            with self._connect() as smtp:
                options = ["BODY=8BITMIME"] if _has_8bit(message) and smtp.has_extn("8bitmime") else []
                smtp.send_message(message, mail_options=options)
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _ in exc.recipients.values()]
            raise DeliveryError(f"recipient refused: {codes}", permanent=all(c >= 500 for c in codes)) from exc
        except smtplib.SMTPResponseException as exc:
            detail = exc.smtp_error.decode("utf-8", "replace") if isinstance(exc.smtp_error, bytes) else exc.smtp_error
            raise DeliveryError(f"SMTP {exc.smtp_code}: {detail}"[:300], permanent=exc.smtp_code >= 500
                                and not isinstance(exc, smtplib.SMTPAuthenticationError)) from exc
        except (smtplib.SMTPException, OSError, ssl.SSLError) as exc:
            raise DeliveryError(f"{type(exc).__name__}: {exc}"[:300]) from exc

    def _connect(self) -> smtplib.SMTP:
        s = self.settings
        local_name = socket.getfqdn()
        smtp: smtplib.SMTP
        if s.security == "tls":
            smtp = smtplib.SMTP_SSL(s.host, s.port, local_hostname=local_name, timeout=s.timeout,
                                    context=self._tls_context())
        else:
            smtp = smtplib.SMTP(s.host, s.port, local_hostname=local_name, timeout=s.timeout)
        try:
            smtp.ehlo()
            if s.security == "starttls":
                # RFC 3207: a server that does not offer STARTTLS is not one we talk to in clear.
                if not smtp.has_extn("starttls"):
                    raise DeliveryError(f"{s.host}:{s.port} does not offer STARTTLS")
                smtp.starttls(context=self._tls_context())
                smtp.ehlo()
            if s.username:
                smtp.login(s.username, s.password or "")
        except BaseException:
            smtp.close()
            raise
        return smtp

    def _tls_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=self.settings.cafile)


def transport_for(smtp_url: str | None, outbox: Path) -> Transport:
    """SMTP when IDP_SMTP_URL is set, else .eml files in IDP_MAIL_OUTBOX."""
    if smtp_url:
        return SmtpTransport(parse_smtp_url(smtp_url))
    return FolderTransport(outbox)


def _has_8bit(message: EmailMessage) -> bool:
    return any(part.get("Content-Transfer-Encoding") == "8bit" for part in message.walk())
