"""Security headers on every response."""

from __future__ import annotations

from flask import Response, current_app

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
)


def add_security_headers(response: Response) -> Response:
    headers = response.headers
    headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("Referrer-Policy", "no-referrer")
    headers.setdefault("X-Frame-Options", "DENY")
    headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
    if response.mimetype == "text/html":
        # Pages carry CSRF tokens and personal data: never cache them anywhere.
        headers.setdefault("Cache-Control", "no-store")
    if current_app.config["IDP"].public_scheme == "https":
        headers.setdefault("Strict-Transport-Security", "max-age=63072000; includeSubDomains")
    return response
