"""CSRF protection for every form: a signed double-submit token.

The browser holds a random nonce in an HttpOnly cookie scoped to the tenant; each form carries
HMAC(tenant, nonce). A token minted at one tenant is worthless at another, and one that an
attacker page could guess does not exist. Views that are not cookie-authenticated (protocol
endpoints authenticated by client credentials or bearer tokens) opt out with `csrf_exempt`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from flask import Response, current_app, g, request

from idp.crypto import constant_time_equals, keyring, random_token
from idp.errors import PortcullisError

COOKIE_NAME = "portcullis_csrf"
FIELD_NAME = "csrf_token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_EXEMPT_ATTRIBUTE = "_idp_csrf_exempt"

F = TypeVar("F", bound=Callable[..., object])


class CSRFError(PortcullisError):
    title = "This form has expired"
    message = "This form has expired or did not come from this site. Go back, reload the page and try again."


def csrf_exempt(view: F) -> F:
    setattr(view, _EXEMPT_ATTRIBUTE, True)
    return view


def csrf_token() -> str:
    """The token for forms on this page (a Jinja global)."""
    nonce = _nonce()
    return keyring().sign(f"{_scope()}|{nonce}")


def protect() -> None:
    """before_request: refuse unsafe requests without a valid token."""
    if request.method in SAFE_METHODS or request.endpoint is None:
        return
    view = current_app.view_functions.get(request.endpoint)
    if view is not None and getattr(view, _EXEMPT_ATTRIBUTE, False):
        return
    nonce = request.cookies.get(COOKIE_NAME, "")
    submitted = request.form.get(FIELD_NAME, "")
    if not nonce or not submitted:
        raise CSRFError()
    if not constant_time_equals(submitted, keyring().sign(f"{_scope()}|{nonce}")):
        raise CSRFError()


def rotate() -> None:
    """Issue a fresh nonce (after sign-in and sign-out), so old pages' tokens stop working."""
    g.csrf_nonce = random_token(18)
    g.csrf_new = True


def set_cookie(response: Response) -> Response:
    """after_request: store a nonce minted during this request."""
    if g.get("csrf_new"):
        route = g.get("route")
        response.set_cookie(
            COOKIE_NAME,
            g.csrf_nonce,
            httponly=True,
            samesite="Lax",
            secure=current_app.config["IDP"].secure_cookies,
            path=route.cookie_path if route else "/",
        )
    return response


def _nonce() -> str:
    if "csrf_nonce" not in g:
        existing = request.cookies.get(COOKIE_NAME)
        if existing and len(existing) <= 64:
            g.csrf_nonce = existing
        else:
            rotate()
    nonce: str = g.csrf_nonce
    return nonce


def _scope() -> str:
    route = g.get("route")
    return route.account if route is not None and route.account else "-platform-"
