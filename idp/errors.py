"""One tree of errors for every surface: pages, the admin API, the protocol endpoints and the CLI.

Services raise; nothing below the web layer renders. Each error knows what a caller needs to be
told: its HTTP status, its machine-readable `error` code (the OAuth one where a protocol defines
it, RFC 6749 §5.2), the sentence a person reads, any headers (Retry-After), and whether it may
be sent back to the client's redirect URI (only once the client and its redirect URI are
verified, RFC 6749 §4.1.2.1; node-oidc-provider's errors carry the same flag). One handler
renders them all: `idp/web/errors.py`. The CLI prints `error: {message}` for any of them.

The message is chosen by the code, never built from request values (a raw value echoed into an
error description can carry control characters, or someone else's words).
"""

from __future__ import annotations

import math
from datetime import timedelta
from typing import ClassVar


class ConfigError(ValueError):
    """A setting is missing or malformed, found at start-up; the message names the setting."""


class PortcullisError(Exception):
    """Base of every error a request or command can end with on purpose."""

    status: int = 400
    error: str = "invalid_request"
    # What a person reads: the page's heading and its sentence. `description` (the sentence)
    # may be given per raise; it is also the `error_description` of a JSON answer.
    title: ClassVar[str] = "This request could not be processed"
    message: ClassVar[str] = "The request could not be processed."
    # A sentence under the message on the page, and a page of its own instead of the error page.
    hint: ClassVar[str | None] = None
    page: ClassVar[str | None] = None
    # May the error travel to the client's redirect URI as `error`/`state`/`iss`?
    redirectable: ClassVar[bool] = False

    def __init__(self, description: str | None = None) -> None:
        super().__init__(description or self.message)
        self.description = description or self.message

    def headers(self) -> dict[str, str]:
        return {}

    def page_context(self) -> dict[str, object]:
        """What `page` needs besides the title and the message."""
        return {}

    def redirect_location(self) -> str | None:
        """Where the error is sent instead of being shown: the client's verified redirect URI with
        the error in its query (RFC 6749 §4.1.2.1), or None to render it here."""
        return None

    def __str__(self) -> str:
        return self.description


class InvalidInput(PortcullisError, ValueError):
    """What was sent cannot be used; the description says why in words a person can act on."""


class NotFound(PortcullisError):
    status = 404
    error = "not_found"
    title = "Not found"
    message = "There is nothing at this address."


class Forbidden(PortcullisError):
    """The caller is known but may not do this."""

    status = 403
    error = "forbidden"
    title = "Not allowed"
    message = "You may not do this."


class Conflict(PortcullisError):
    status = 409
    error = "conflict"
    message = "That conflicts with what is already there."


class Gone(PortcullisError):
    status = 410
    error = "gone"
    message = "This is no longer available."


class InvalidToken(PortcullisError):
    """A bearer token that is missing, invalid, expired or revoked (RFC 6750 §3.1)."""

    status = 401
    error = "invalid_token"
    message = "A valid access token is required."

    def headers(self) -> dict[str, str]:
        return {"WWW-Authenticate": f'Bearer error="{self.error}", error_description="{self.description}"'}


class InsufficientScope(InvalidToken):
    status = 403
    error = "insufficient_scope"
    message = "The access token does not carry the scope this needs."


class Throttled(PortcullisError):
    """Too many attempts: wait `seconds` (sent as Retry-After) and try again."""

    status = 429
    error = "slow_down"
    title = "Too many attempts"
    message = "Too many attempts. Please wait a moment and try again."

    def __init__(self, wait: timedelta | float, description: str | None = None) -> None:
        seconds = wait.total_seconds() if isinstance(wait, timedelta) else float(wait)
        self.seconds = max(1, math.ceil(seconds))
        super().__init__(description or self.message)

    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.seconds)}


class ServiceUnavailable(PortcullisError):
    """Something we depend on is down for a moment; nothing was changed, the caller may retry."""

    status = 503
    error = "temporarily_unavailable"
    title = "Back in a moment"
    message = "We cannot answer right now. Please try again in a few seconds."
    retry_after: ClassVar[int] = 5

    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)}


class DatabaseUnavailable(ServiceUnavailable):
    """The database does not answer (down, restarting, failing over): a 503, never a 500."""


class ServerError(PortcullisError):
    """Anything unexpected: the caller learns nothing of the internals; the log has it all."""

    status = 500
    error = "server_error"
    title = "Something went wrong"
    message = "Something went wrong on our side. Please try again."
