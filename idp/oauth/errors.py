"""Errors of the authorization endpoint, in the one tree (idp/errors.py).

Only after the client and its redirect URI are verified may an error travel back to the client
(RFC 6749 §4.1.2.1), always with `iss` (RFC 9207); before that a person gets an error page.
"""

from __future__ import annotations

from typing import ClassVar

from authlib.common.urls import add_params_to_uri
from authlib.oauth2.rfc6749.errors import OAuth2Error

from idp.errors import PortcullisError


class InvalidAuthorizationRequest(PortcullisError):
    """The request cannot be answered at the client: shown to the person as a page."""

    title = "This sign-in link is not valid"
    message = "The request is not valid."
    hint: ClassVar[str | None] = "If you followed a link from an app or website, go back to it and try again."


class ExpiredAuthorizationRequest(InvalidAuthorizationRequest):
    title = "This sign-in request has expired"
    message = "Go back to the app you came from and sign in again."
    hint = None


class InvalidLogoutRequest(InvalidAuthorizationRequest):
    title = "Sign-out request not valid"
    message = "The application sent a sign-out request we cannot verify."


class AuthorizationError(InvalidAuthorizationRequest):
    """Authlib's verdict on an authorization request: back to the client when Authlib verified
    its redirect URI (the error carries it), else a page."""

    redirectable = True

    def __init__(self, error: OAuth2Error, issuer: str) -> None:
        self.error = error.error or "invalid_request"
        super().__init__(error.get_error_description() or error.error or None)
        self.location: str | None = None
        if error.redirect_uri:
            _, _, headers = error()
            self.location = add_params_to_uri(dict(headers)["Location"], {"iss": issuer})

    def redirect_location(self) -> str | None:
        return self.location
