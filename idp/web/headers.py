"""Security headers on every response."""

from __future__ import annotations

from flask import Response, current_app

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
)


EVERY_RESPONSE = (
    ("Content-Security-Policy", CONTENT_SECURITY_POLICY),
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "no-referrer"),
    ("X-Frame-Options", "DENY"),
    ("Cross-Origin-Opener-Policy", "same-origin"),
)
HSTS = ("Strict-Transport-Security", "max-age=63072000; includeSubDomains")


def add_security_headers(response: Response) -> Response:
    """Each header unless the view set its own; the set present is read once, not per header."""
    headers = response.headers
    present = {key.lower() for key, _ in headers.items()}
    for key, value in security_headers(response.mimetype):
        if key.lower() not in present:
            headers.add(key, value)
    return response


def security_headers(mimetype: str | None) -> list[tuple[str, str]]:
    """The security headers a response of `mimetype` carries."""
    wanted = list(EVERY_RESPONSE)
    if mimetype == "text/html":
        # Pages carry CSRF tokens and personal data: never cache them anywhere.
        wanted.append(("Cache-Control", "no-store"))
    if current_app.config["IDP"].public_scheme == "https":
        wanted.append(HSTS)
    return wanted
