"""IDP_SMTP_URL: where and how to hand mail to an SMTP server. Pure parsing, no I/O.

    smtp://host[:port]                        plain SMTP (port 25), for a relay on a trusted network
    smtp+starttls://[user:pass@]host[:port]   STARTTLS required before anything else (port 587)
    smtps://[user:pass@]host[:port]           TLS from the first byte (RFC 8314 §3.3, port 465)

User and password are percent-encoded (`p%40ss` for `p@ss`); when present the sender logs in
(SMTP AUTH) after TLS is up. Query parameters: `timeout` (seconds, default 10) and `cafile`
(a PEM file of CAs to trust instead of the system's, for a private mail relay).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import parse_qs, unquote, urlsplit

from idp.errors import ConfigError

DEFAULT_PORTS = {"smtp": 25, "smtp+starttls": 587, "smtps": 465}
DEFAULT_TIMEOUT = 10.0


@dataclass(frozen=True)
class SmtpSettings:
    security: str  # "none", "starttls" or "tls"
    host: str
    port: int
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    timeout: float = DEFAULT_TIMEOUT
    cafile: str | None = None


def parse_smtp_url(url: str) -> SmtpSettings:
    """The settings in `url`, or ConfigError naming IDP_SMTP_URL and what is wrong."""
    parts = urlsplit(url)
    if parts.scheme not in DEFAULT_PORTS:
        raise ConfigError("IDP_SMTP_URL must start with smtp://, smtp+starttls:// or smtps://")
    try:
        port = parts.port or DEFAULT_PORTS[parts.scheme]
    except ValueError as exc:
        raise ConfigError("IDP_SMTP_URL has a port that is not a number from 1 to 65535") from exc
    if not parts.hostname:
        raise ConfigError("IDP_SMTP_URL must name a host, for example smtp+starttls://mail.example.com:587")
    if parts.path not in ("", "/"):
        raise ConfigError("IDP_SMTP_URL takes no path")
    query = _query(parts.query)
    security = {"smtp": "none", "smtp+starttls": "starttls", "smtps": "tls"}[parts.scheme]
    return SmtpSettings(
        security=security,
        host=parts.hostname,
        port=port,
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
        timeout=_timeout(query.get("timeout")),
        cafile=query.get("cafile"),
    )


def _query(raw: str) -> dict[str, str]:
    values = {key: items[-1] for key, items in parse_qs(raw, keep_blank_values=True).items()}
    unknown = sorted(set(values) - {"timeout", "cafile"})
    if unknown:
        raise ConfigError(f"IDP_SMTP_URL has unknown parameter(s): {', '.join(unknown)} (known: timeout, cafile)")
    return values


def _timeout(value: str | None) -> float:
    if value is None:
        return DEFAULT_TIMEOUT
    try:
        seconds = float(value)
    except ValueError:
        seconds = 0
    if not 0 < seconds <= 300:
        raise ConfigError("IDP_SMTP_URL timeout must be a number of seconds from 1 to 300")
    return seconds
